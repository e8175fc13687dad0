"""Celery tasks: unpack arguments, call a service. No logic lives here."""

from celery.signals import worker_ready

from worker.celery_app import app


@app.task(name="worker.tasks.embed_image", acks_late=True, max_retries=0)
def embed_image(image_id: int) -> None:
    from webapp.segmentation.services import compute_embedding

    compute_embedding(image_id)


@worker_ready.connect
def _warm_up(sender=None, **_):
    from webapp.segmentation.services import warm_up_worker

    try:
        warm_up_worker()
    except Exception:  # a worker that cannot warm up still serves (and reports the error per image)
        import logging

        logging.getLogger(__name__).exception("worker warm-up failed")
