"""Celery tasks of training jobs."""

from worker.celery_app import app  # noqa: F401
