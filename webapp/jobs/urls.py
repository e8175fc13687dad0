from django.urls import path

from webapp.jobs import views

urlpatterns = [
    path("api/jobs/", views.JobListView.as_view(), name="api-jobs"),
    path("api/jobs/schemas/", views.JobSchemaView.as_view(), name="api-job-schemas"),
    path("api/jobs/<int:job_id>/", views.JobDetailView.as_view(), name="api-job"),
    path("api/jobs/<int:job_id>/cancel/", views.JobCancelView.as_view(), name="api-job-cancel"),
    path("api/jobs/<int:job_id>/retry/", views.JobRetryView.as_view(), name="api-job-retry"),
    path("api/jobs/<int:job_id>/files/<path:name>", views.JobFileView.as_view(), name="api-job-file"),
]
