"""Queries on jobs."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from webapp.accounts.selectors import teams_of
from webapp.jobs.models import Job


def jobs_of(user) -> QuerySet[Job]:
    """Jobs of every team the user belongs to."""
    return Job.objects.filter(team__in=teams_of(user)).select_related("team", "owner")


def job_of(user, job_id: int) -> Job | None:
    return jobs_of(user).filter(pk=job_id).first()


def queue_position(job: Job) -> int | None:
    """1-based position among queued jobs of the same queue (higher priority, then older, first)."""
    if job.state != Job.State.QUEUED:
        return None
    ahead = Job.objects.filter(queue=job.queue, state=Job.State.QUEUED).filter(
        Q(priority__gt=job.priority)
        | Q(priority=job.priority, created_at__lt=job.created_at)
        | Q(priority=job.priority, created_at=job.created_at, id__lt=job.id)
    )
    return ahead.count() + 1


def active_jobs_using_dataset(dataset_id: int) -> QuerySet[Job]:
    return Job.objects.filter(params__dataset=dataset_id, state__in=[Job.State.QUEUED, Job.State.RUNNING])
