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
