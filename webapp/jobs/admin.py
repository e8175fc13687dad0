from django.contrib import admin, messages

from webapp.jobs import services
from webapp.jobs.models import Job


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "kind",
        "team",
        "owner",
        "state",
        "priority",
        "attempts",
        "worker_host",
        "created_at",
        "finished_at",
    )
    list_filter = ("state", "kind", "team", "queue")
    search_fields = ("id", "owner__username", "error")
    readonly_fields = (
        "kind",
        "team",
        "owner",
        "params",
        "queue",
        "state",
        "cancel_requested",
        "progress",
        "history",
        "log_tail",
        "result",
        "error",
        "worker_host",
        "task_id",
        "attempts",
        "created_at",
        "started_at",
        "finished_at",
        "heartbeat_at",
    )
    fields = ("priority", "max_attempts", *readonly_fields)
    actions = ["cancel", "retry", "requeue_with_higher_priority"]

    @admin.action(description="Cancel selected jobs")
    def cancel(self, request, queryset):
        for job in queryset:
            services.cancel_job(job)
        self.message_user(request, f"Cancellation requested for {queryset.count()} job(s).")

    @admin.action(description="Retry selected failed/cancelled jobs (resume from checkpoint)")
    def retry(self, request, queryset):
        self._requeue(request, queryset, None)

    @admin.action(description="Requeue selected jobs with higher priority")
    def requeue_with_higher_priority(self, request, queryset):
        for job in queryset:
            self._requeue(request, [job], min(9, job.priority + 1))

    def _requeue(self, request, jobs, priority):
        for job in jobs:
            try:
                services.retry_job(job, priority)
            except services.JobSubmissionError as error:
                self.message_user(request, error.message, level=messages.WARNING)
