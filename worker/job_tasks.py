"""Celery tasks of training jobs: unpack arguments, call the jobs service."""

from celery.signals import worker_ready

from worker.celery_app import app


@app.task(name="worker.job_tasks.run_job", bind=True, acks_late=True, reject_on_worker_lost=True)
def run_job(self, job_id: int, kind: str | None = None) -> None:
    # ``kind`` only routes the message (webapp.kdsam_studio.queues); the job row holds it too.
    from webapp.jobs.services import run_job as run

    run(job_id, worker=self.request.hostname)


@worker_ready.connect
def _recover_jobs_of_dead_workers(sender=None, **_):
    from webapp.jobs.services import recover_orphaned_jobs

    recover_orphaned_jobs(getattr(sender, "hostname", None))
