"""Evaluation results move from ``ModelVersion.metrics`` (keyed by dataset name, readable by whoever sees
the version) to :class:`Evaluation` rows of the team that ran them (keyed by dataset id).

What can be attributed is kept: every succeeded evaluate job's results (its ``result.summary``, its
dataset and team), and a fine-tuned version's validation result (its own team and training dataset).
Every other dataset entry of ``metrics`` is dropped: its team cannot be told (the job or the dataset
was deleted), and leaving it would keep it readable outside the team. ``metrics`` keeps what is not a
dataset result (``distillation``). Reversing drops the rows and does not write them back.
"""

import django.db.models.deletion
from django.db import migrations, models


def _is_dataset_result(value) -> bool:
    return isinstance(value, dict) and "dice" in value


def move_evaluation_metrics(apps, schema_editor):
    ModelVersion = apps.get_model("registry", "ModelVersion")
    Evaluation = apps.get_model("registry", "Evaluation")
    Dataset = apps.get_model("datasets", "Dataset")
    Job = apps.get_model("jobs", "Job")

    for job in Job.objects.filter(kind="evaluate", state="succeeded").order_by("pk").iterator():
        params, result = job.params or {}, job.result or {}
        summary = result.get("summary") or {}
        dataset = Dataset.objects.filter(pk=params.get("dataset"), team_id=job.team_id).first()
        if dataset is None or len(summary) != 1:
            continue
        (by_model,) = summary.values()
        for version in ModelVersion.objects.filter(pk__in=params.get("model_versions") or []):
            stats = by_model.get(f"{version.name} (v{version.pk})")
            if stats is None:
                continue
            Evaluation.objects.update_or_create(
                job=job,
                model_version=version,
                defaults={
                    "team_id": job.team_id,
                    "dataset": dataset,
                    "split": params.get("split", "test"),
                    "protocol": result.get("protocol") or {},
                    "metrics": stats,
                },
            )

    for version in ModelVersion.objects.exclude(metrics={}).iterator():
        metrics = version.metrics if isinstance(version.metrics, dict) else {}
        training = version.training_data if isinstance(version.training_data, dict) else {}
        entry = metrics.get(training.get("dataset_name"))
        if version.team_id is not None and _is_dataset_result(entry):  # a fine-tuning job's validation
            dataset = Dataset.objects.filter(pk=training.get("dataset"), team_id=version.team_id).first()
            if dataset is not None:
                Evaluation.objects.get_or_create(
                    job_id=version.job_id,
                    model_version=version,
                    dataset=dataset,
                    defaults={
                        "team_id": version.team_id,
                        "split": entry.get("split", "val"),
                        "protocol": entry.get("protocol", ""),
                        "metrics": {key: entry[key] for key in ("dice", "iou") if key in entry},
                    },
                )
        kept = {key: value for key, value in metrics.items() if not _is_dataset_result(value)}
        if kept != version.metrics:
            version.metrics = kept
            version.save(update_fields=["metrics"])


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("datasets", "0004_remove_dataset_upload_fields"),
        ("jobs", "0001_initial"),
        ("registry", "0002_modelversion_architecture_modelversion_created_by_and_more"),
    ]

    operations = [
        migrations.AlterField(
            model_name="modelversion",
            name="metrics",
            field=models.JSONField(blank=True, default=dict, help_text="Training metrics of the job that made it."),
        ),
        migrations.CreateModel(
            name="Evaluation",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("split", models.CharField(max_length=16)),
                ("protocol", models.JSONField(blank=True, default=dict)),
                ("metrics", models.JSONField(default=dict)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "dataset",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="evaluations", to="datasets.dataset"
                    ),
                ),
                (
                    "job",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="evaluations",
                        to="jobs.job",
                    ),
                ),
                (
                    "model_version",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="evaluations",
                        to="registry.modelversion",
                    ),
                ),
                (
                    "team",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="evaluations", to="accounts.team"
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at", "-id"],
                "constraints": [
                    models.UniqueConstraint(fields=("job", "model_version"), name="one_evaluation_per_job_and_version")
                ],
            },
        ),
        migrations.RunPython(move_evaluation_metrics, migrations.RunPython.noop),
    ]
