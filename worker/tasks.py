"""Celery tasks: unpack arguments, call a service. No logic lives here."""

from worker.celery_app import app


@app.task(name="worker.tasks.embed_image", acks_late=True, max_retries=0)
def embed_image(image_id: int) -> None:
    from webapp.segmentation.services import compute_embedding

    compute_embedding(image_id)
