"""Throttling of failed sign-ins, per username and per client address.

``KDSAM_LOGIN_MAX_FAILURES`` wrong passwords for one username (from any address), or
``KDSAM_LOGIN_MAX_FAILURES_PER_IP`` from one address (for any usernames), within
``KDSAM_LOGIN_FAILURE_WINDOW_MINUTES`` of the first lock that username or address for
``KDSAM_LOGIN_LOCKOUT_MINUTES`` (:class:`~webapp.kdsam_studio.config.StudioConfig`). While locked, every sign-in
is refused, even with the right password: the sign-in page answers 429 with ``Retry-After``. A successful sign-in
resets its username's count (not its address's: one valid account must not buy an address more guesses). Unknown
usernames are counted and refused exactly like real ones, so a lockout tells nothing about which accounts exist.

How it hooks in: :class:`LoginThrottleBackend`, first in ``AUTHENTICATION_BACKENDS``, refuses a locked username
or address (``PermissionDenied`` stops :func:`django.contrib.auth.authenticate`), so every password sign-in is
covered (``/accounts/login/`` and ``/admin/login/``); Django's ``user_login_failed`` and ``user_logged_in`` signals
(connected in :mod:`webapp.accounts.apps`) count failures and reset on success.

Where the counts live: in the database (:class:`~webapp.accounts.models.LoginThrottle`), not Django's cache. The
project configures no ``CACHES``, i.e. a per-process ``LocMemCache`` that several web processes would not share, and
the embedded Redis is started lazily for Celery only; the database is shared by every process with SQLite and with
PostgreSQL alike. Failed sign-ins are rare, so the writes cost nothing. (django-axes was considered: it has one
failure limit for all lockout parameters, not one per username and another per address, and needs a middleware, a
backend and an app of its own; this module is smaller than its configuration.)

The client address is ``REMOTE_ADDR``. Behind a reverse proxy that is the proxy's address, which would put every
user under one address limit: the web server runs with ``--proxy-headers`` (``webapp/kdsam_studio/web_server.py``)
and takes the client's from ``X-Forwarded-For`` of the proxies in ``KDSAM_FORWARDED_ALLOW_IPS`` (default: loopback).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from webapp.accounts.models import LoginThrottle

#: The request attribute :class:`LoginThrottleBackend` leaves an :class:`Attempt` in.
REQUEST_ATTRIBUTE = "login_attempt"


def _now() -> datetime:
    """The throttle's clock (tests freeze it)."""
    return timezone.now()


@dataclass(frozen=True)
class Lockout:
    """A refused sign-in: which count locked it, and for how many more seconds."""

    scope: str
    retry_after: int

    @property
    def message(self) -> str:
        minutes = max(1, math.ceil(self.retry_after / 60))
        wait = f"try again in {minutes} minute{'s' if minutes != 1 else ''}."
        if self.scope == LoginThrottle.Scope.USERNAME:
            return f"Too many failed sign-in attempts for this account; {wait}"
        return f"Too many failed sign-in attempts from your network address; {wait}"


@dataclass(frozen=True)
class Attempt:
    """A password sign-in the throttle has seen: the username typed, and the lockout that refused it, if any."""

    username: str
    lockout: Lockout | None


def _subjects(username: str, address: str) -> list[tuple[str, str, int]]:
    """``(scope, key, limit)`` of each count a sign-in belongs to, leaving out those turned off (limit 0)."""
    config = settings.STUDIO
    subjects = []
    if username and config.login_max_failures > 0:
        subjects.append((LoginThrottle.Scope.USERNAME, _key(username.casefold()), config.login_max_failures))
    if address and config.login_max_failures_per_ip > 0:
        subjects.append((LoginThrottle.Scope.IP, _key(address), config.login_max_failures_per_ip))
    return subjects


def _key(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _address(request) -> str:
    return request.META.get("REMOTE_ADDR") or ""


def lockout_for(request, username: str) -> Lockout | None:
    """The lockout refusing a sign-in as ``username`` from ``request``'s address now; the longest if both are."""
    subjects = _subjects(username, _address(request))
    if not subjects:
        return None
    now = _now()
    matching = Q()
    for scope, key, _limit in subjects:
        matching |= Q(scope=scope, key=key)
    lockouts = [
        Lockout(scope=row.scope, retry_after=math.ceil((row.locked_until - now).total_seconds()))
        for row in LoginThrottle.objects.filter(matching, locked_until__gt=now)
    ]
    # The longest wait; on a tie, the account's message.
    return (
        max(lockouts, key=lambda lockout: (lockout.retry_after, lockout.scope == LoginThrottle.Scope.USERNAME))
        if lockouts
        else None
    )


def record_failure(request, username: str) -> None:
    """Count a failed sign-in as ``username`` from ``request``'s address; lock each count that reaches its limit."""
    config = settings.STUDIO
    now = _now()
    window_start = now - timedelta(minutes=config.login_failure_window_minutes)
    with transaction.atomic():
        # Forget counts whose window and lockout are both over (this keeps the table as small as the recent failures).
        LoginThrottle.objects.filter(window_started__lte=window_start).filter(
            Q(locked_until__isnull=True) | Q(locked_until__lte=now)
        ).delete()
        for scope, key, limit in _subjects(username, _address(request)):
            row, _ = LoginThrottle.objects.select_for_update().get_or_create(
                scope=scope, key=key, defaults={"window_started": now}
            )
            if row.window_started <= window_start:
                row.failures, row.window_started = 0, now
            row.failures += 1
            if row.failures >= limit:
                row.locked_until = now + timedelta(minutes=config.login_lockout_minutes)
                row.failures, row.window_started = 0, now  # after the lockout: a fresh window
            row.save()


def record_success(username: str) -> None:
    """A successful sign-in as ``username``: its failures are forgotten (its address's are not)."""
    LoginThrottle.objects.filter(scope=LoginThrottle.Scope.USERNAME, key=_key(username.casefold())).delete()


class LoginThrottleBackend:
    """First in ``AUTHENTICATION_BACKENDS``: refuses every sign-in of a locked username or address.

    It never authenticates anyone, and has no ``get_user`` so that sessions (and the test client's ``force_login``)
    keep to the model backend.
    """

    def authenticate(self, request, username: str | None = None, **credentials):
        if request is None:  # not a client's sign-in (a script's authenticate()): nothing to throttle by
            return None
        if username is None:
            username = credentials.get(get_user_model().USERNAME_FIELD)
        username = str(username or "")
        lockout = lockout_for(request, username)
        setattr(request, REQUEST_ATTRIBUTE, Attempt(username=username, lockout=lockout))
        if lockout is not None:
            raise PermissionDenied(lockout.message)
        return None

    async def aauthenticate(self, request, username: str | None = None, **credentials):
        return await sync_to_async(self.authenticate)(request, username, **credentials)


def attempt_of(request) -> Attempt | None:
    """The sign-in attempt :class:`LoginThrottleBackend` saw in ``request``, if any."""
    return getattr(request, REQUEST_ATTRIBUTE, None)


def on_login_failed(sender, credentials, request=None, **kwargs) -> None:
    """``user_login_failed``: count the failure, unless the throttle itself refused the attempt."""
    attempt = attempt_of(request)
    if attempt is not None and attempt.lockout is None:
        record_failure(request, attempt.username)


def on_logged_in(sender, request, user, **kwargs) -> None:
    """``user_logged_in``: a password sign-in the throttle saw resets its username's count."""
    attempt = attempt_of(request)
    if attempt is not None:
        record_success(attempt.username)
