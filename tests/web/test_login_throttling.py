"""Failed sign-ins are throttled per username and per client address (webapp/accounts/throttling.py)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import replace

import pytest
from django.test import Client
from django.utils import timezone

from webapp.kdsam_studio.config import ConfigurationError, StudioConfig

PASSWORD = "a-long-password-1"
ACCOUNT_LOCKED = "Too many failed sign-in attempts for this account; try again in 15 minutes."
ADDRESS_LOCKED = "Too many failed sign-in attempts from your network address; try again in 15 minutes."


@pytest.fixture(autouse=True)
def fast_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def limits(settings):
    """The defaults, spelt out: 5 failures per username, 20 per address, within and locked for 15 minutes."""
    settings.STUDIO = replace(
        settings.STUDIO,
        login_max_failures=5,
        login_max_failures_per_ip=20,
        login_failure_window_minutes=15,
        login_lockout_minutes=15,
    )
    return settings.STUDIO


@pytest.fixture
def clock(monkeypatch):
    """The throttle's clock, frozen; ``clock.advance(minutes=...)`` moves it on."""

    class Clock:
        now = timezone.now()

        def advance(self, **delta):
            self.now += dt.timedelta(**delta)

    frozen = Clock()
    monkeypatch.setattr("webapp.accounts.throttling._now", lambda: frozen.now)
    return frozen


@pytest.fixture
def alice(django_user_model, db):
    return django_user_model.objects.create_user("alice", password=PASSWORD)


@pytest.fixture
def bob(django_user_model, db):
    return django_user_model.objects.create_user("bob", password=PASSWORD)


def sign_in(client: Client, username: str, password: str, ip: str = "192.0.2.10"):
    return client.post("/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=ip)


def fail(client: Client, username: str, times: int, ip: str = "192.0.2.10") -> None:
    for _ in range(times):
        response = sign_in(client, username, "wrong-password", ip)
        assert response.status_code == 200, response.status_code
        assert "Wrong username or password." in response.content.decode()


def assert_refused(response, message: str) -> None:
    assert response.status_code == 429
    assert response["Retry-After"] == str(15 * 60)
    assert message in response.content.decode()
    assert "_auth_user_id" not in response.wsgi_request.session


@pytest.mark.django_db
def test_after_the_failure_limit_even_the_right_password_is_refused_with_429_and_retry_after(alice, limits, clock):
    client = Client()
    fail(client, "alice", 5)

    assert_refused(sign_in(client, "alice", PASSWORD), ACCOUNT_LOCKED)


@pytest.mark.django_db
def test_an_account_is_locked_from_every_address(alice, limits, clock):
    fail(Client(), "alice", 5, ip="192.0.2.10")

    assert_refused(sign_in(Client(), "alice", PASSWORD, ip="198.51.100.7"), ACCOUNT_LOCKED)


@pytest.mark.django_db
def test_another_username_from_the_same_address_is_not_locked_below_the_address_limit(alice, bob, limits, clock):
    client = Client()
    fail(client, "alice", 5)
    assert_refused(sign_in(client, "alice", PASSWORD), ACCOUNT_LOCKED)

    assert sign_in(client, "bob", PASSWORD).status_code == 302


@pytest.mark.django_db
def test_an_address_over_its_limit_is_refused_for_every_username(alice, bob, settings, limits, clock):
    settings.STUDIO = replace(limits, login_max_failures_per_ip=3)
    client = Client()
    fail(client, "alice", 2)
    fail(client, "carol", 1)

    assert_refused(sign_in(client, "bob", PASSWORD), ADDRESS_LOCKED)
    assert sign_in(Client(), "bob", PASSWORD, ip="198.51.100.7").status_code == 302


@pytest.mark.django_db
def test_after_the_lockout_the_user_can_sign_in_again(alice, limits, clock):
    client = Client()
    fail(client, "alice", 5)
    clock.advance(minutes=14, seconds=59)
    assert sign_in(client, "alice", PASSWORD).status_code == 429

    clock.advance(seconds=1)

    assert sign_in(client, "alice", PASSWORD).status_code == 302


@pytest.mark.django_db
def test_retry_after_counts_down_and_the_message_rounds_minutes_up(alice, limits, clock):
    client = Client()
    fail(client, "alice", 5)
    clock.advance(minutes=10, seconds=30)

    response = sign_in(client, "alice", PASSWORD)

    assert response.status_code == 429 and response["Retry-After"] == str(4 * 60 + 30)
    assert "try again in 5 minutes." in response.content.decode()


@pytest.mark.django_db
def test_failures_older_than_the_window_are_forgotten(alice, limits, clock):
    client = Client()
    fail(client, "alice", 4)
    clock.advance(minutes=15)
    fail(client, "alice", 4)  # a fifth failure within the window would lock the account
    fail(client, "alice", 1)

    assert_refused(sign_in(client, "alice", PASSWORD), ACCOUNT_LOCKED)


@pytest.mark.django_db
def test_a_successful_sign_in_resets_the_username_counter(alice, limits, clock):
    fail(Client(), "alice", 4)
    assert sign_in(Client(), "alice", PASSWORD).status_code == 302

    fail(Client(), "alice", 4)  # without the reset the first of these would lock the account
    fail(Client(), "alice", 1)

    assert_refused(sign_in(Client(), "alice", PASSWORD), ACCOUNT_LOCKED)


@pytest.mark.django_db
def test_an_unknown_username_is_throttled_with_the_same_response(alice, limits, clock):
    fail(Client(), "alice", 5)
    fail(Client(), "nobody", 5, ip="198.51.100.7")

    known = sign_in(Client(), "alice", PASSWORD, ip="203.0.113.1")
    unknown = sign_in(Client(), "nobody", PASSWORD, ip="203.0.113.2")

    assert_refused(known, ACCOUNT_LOCKED)
    assert_refused(unknown, ACCOUNT_LOCKED)
    assert _without_csrf(known) == _without_csrf(unknown)


def _without_csrf(response) -> bytes:
    return re.sub(rb'name="csrfmiddlewaretoken" value="[^"]*"', b"", response.content)


@pytest.mark.django_db
def test_the_admin_sign_in_is_throttled_too(django_user_model, limits, clock):
    django_user_model.objects.create_superuser("root", password=PASSWORD)
    client = Client()
    for _ in range(5):
        client.post("/admin/login/", {"username": "root", "password": "wrong-password"}, REMOTE_ADDR="192.0.2.10")

    response = client.post("/admin/login/?next=/admin/", {"username": "root", "password": PASSWORD})

    assert response.status_code == 200 and "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_usernames_are_counted_case_insensitively(alice, limits, clock):
    fail(Client(), "Alice", 3)
    fail(Client(), "ALICE", 2)

    assert sign_in(Client(), "alice", PASSWORD).status_code == 429


def test_login_limits_are_read_from_the_environment(tmp_path):
    config = StudioConfig.from_env(
        {
            "KDSAM_DATA_DIR": str(tmp_path),
            "KDSAM_LOGIN_MAX_FAILURES": "3",
            "KDSAM_LOGIN_MAX_FAILURES_PER_IP": "10",
            "KDSAM_LOGIN_FAILURE_WINDOW_MINUTES": "30",
            "KDSAM_LOGIN_LOCKOUT_MINUTES": "60",
        }
    )
    assert (config.login_max_failures, config.login_max_failures_per_ip) == (3, 10)
    assert (config.login_failure_window_minutes, config.login_lockout_minutes) == (30, 60)


def test_a_lockout_shorter_than_a_minute_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigurationError, match="KDSAM_LOGIN_LOCKOUT_MINUTES"):
        StudioConfig.from_env({"KDSAM_DATA_DIR": str(tmp_path), "KDSAM_LOGIN_LOCKOUT_MINUTES": "0"})
