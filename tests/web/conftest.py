from __future__ import annotations

import pytest
from rest_framework.test import APIClient


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Create the random-initialised model version once for the whole session (export takes seconds)."""
    from webapp.registry.services import ensure_active_model_version

    with django_db_blocker.unblock():
        ensure_active_model_version()


@pytest.fixture
def clinician(django_user_model):
    return django_user_model.objects.create_user("clinician", password="a-long-password-1")


@pytest.fixture
def api(clinician) -> APIClient:
    client = APIClient()
    client.force_login(clinician)
    return client


@pytest.fixture(autouse=True)
def on_commit_runs_immediately(monkeypatch):
    """Tests run inside a rolled-back transaction; run on_commit hooks at once, as autocommit would."""
    from django.db import transaction

    monkeypatch.setattr(transaction, "on_commit", lambda func, using=None, robust=False: func())


@pytest.fixture(autouse=True)
def dataset_import_roots(settings, tmp_path_factory):
    """Staff may import server folders from the test fixtures and the tests' temp dirs."""
    from dataclasses import replace
    from pathlib import Path

    roots = (Path(__file__).resolve().parents[1] / "fixtures", tmp_path_factory.getbasetemp().resolve())
    settings.STUDIO = replace(settings.STUDIO, dataset_import_roots=roots)


# Team roles for the dataset and job API tests.


@pytest.fixture
def team(db):
    from webapp.accounts.models import Team

    return Team.objects.create(name="Radiology")


def _member(django_user_model, team, username: str, role: str | None, **kwargs) -> APIClient:
    from webapp.accounts.services import add_member

    user = django_user_model.objects.create_user(username, password=None, **kwargs)  # no hashing: fast
    if role:
        add_member(team, user, role)
    client = APIClient()
    client.force_login(user)
    client.user = user
    return client


@pytest.fixture
def trainer(django_user_model, team) -> APIClient:
    return _member(django_user_model, team, "trainer", "trainer")


@pytest.fixture
def team_clinician(django_user_model, team) -> APIClient:
    return _member(django_user_model, team, "member-clinician", "clinician")


@pytest.fixture
def outsider(django_user_model, team) -> APIClient:
    from webapp.accounts.models import Team

    other = Team.objects.create(name="Other")
    return _member(django_user_model, other, "outsider", "admin")


@pytest.fixture
def staff(django_user_model, team) -> APIClient:
    return _member(django_user_model, team, "staff", "admin", is_staff=True)
