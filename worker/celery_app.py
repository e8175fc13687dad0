"""The Celery application. Start a worker with::

    celery -A worker.celery_app worker --queues gpu,cpu --pool solo

Queues: ``gpu`` (encoder embeddings, training) and ``cpu`` (imports, exports), routed by the one
table in ``webapp/kdsam_studio/queues.py``. A worker started with ``--queues gpu`` on another
machine, with the same DATABASE_URL and REDIS_URL, joins the deployment.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.kdsam_studio.settings")

import django

django.setup()

from celery import Celery
from celery.signals import worker_init, worker_process_init

app = Celery("kdsam", include=["worker.tasks", "worker.dataset_tasks", "worker.job_tasks"])
app.config_from_object("django.conf:settings", namespace="CELERY")


@worker_init.connect
@worker_process_init.connect
def _configure_torch(**_):
    import torch
    from django.conf import settings

    threads = settings.STUDIO.torch_threads or os.cpu_count() or 1
    torch.set_num_threads(threads)


if __name__ == "__main__":  # pragma: no cover
    app.start()
