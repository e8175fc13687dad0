"""Celery tasks of the datasets domain (imports, validation)."""

from worker.celery_app import app  # noqa: F401
