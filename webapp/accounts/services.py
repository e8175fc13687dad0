"""User accounts and teams."""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.db import transaction

from webapp.accounts.models import Membership, Team

DEFAULT_TEAM_NAME = "Studio"


def ensure_admin(username: str = "admin", password: str | None = None) -> str | None:
    """Create the first superuser (team admin of the default team) if there is none.

    Returns the password when an account was created (generated unless ``password`` is given,
    e.g. from ``KDSAM_ADMIN_PASSWORD``), else ``None``.
    """
    User = get_user_model()
    if User.objects.filter(is_superuser=True).exists():
        return None
    generated = password or secrets.token_urlsafe(12)
    with transaction.atomic():
        user = User.objects.create_superuser(username=username, email="", password=generated)
        team, _ = Team.objects.get_or_create(name=DEFAULT_TEAM_NAME)
        add_member(team, user, Membership.Role.ADMIN)
    return generated


def create_team(name: str, admin) -> Team:
    with transaction.atomic():
        team = Team.objects.create(name=name)
        add_member(team, admin, Membership.Role.ADMIN)
    return team


def add_member(team: Team, user, role: str) -> Membership:
    membership, _ = Membership.objects.update_or_create(team=team, user=user, defaults={"role": role})
    return membership
