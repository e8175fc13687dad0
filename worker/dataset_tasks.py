"""Celery tasks of the datasets domain (validation, import of an upload session): unpack arguments, call a service."""

from worker.celery_app import app


@app.task(name="worker.dataset_tasks.validate_dataset", acks_late=True, max_retries=0)
def validate_dataset(upload_id: int) -> None:
    from webapp.datasets.services.validation import validate

    validate(upload_id)


@app.task(name="worker.dataset_tasks.import_dataset", acks_late=True, max_retries=0)
def import_dataset(upload_id: int) -> None:
    from webapp.datasets.services.imports import run_import

    run_import(upload_id)
