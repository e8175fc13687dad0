"""Data: every existing Dataset gets its upload session; datasets that never became ready are removed.

- ``ready`` datasets stay, with an ``imported`` upload session holding their report.
- every other dataset (uploading, uploaded, validating, awaiting confirmation, importing, failed,
  cancelled) holds no item (imports were already atomic): its row is deleted and its upload session
  carries on (``uploaded`` becomes ``validating``) or keeps the report and the reason (failed/cancelled).
  Staged archives stay where they are; the session points at them.
"""

from django.db import migrations

STATE_MAP = {"uploaded": "validating", "ready": "imported"}
COPIED = (
    "team_id",
    "created_by_id",
    "name",
    "requested_format",
    "mask_label",
    "original_filename",
    "upload_path",
    "upload_size",
    "upload_received",
    "source_path",
    "format",
    "report",
    "skip_codes",
    "skip_samples",
    "keep_duplicates",
    "split_seed",
    "split_ratios",
    "progress_stage",
    "progress_done",
    "progress_total",
    "error",
    "task_id",
)


def forwards(apps, schema_editor):
    Dataset = apps.get_model("datasets", "Dataset")
    DatasetUpload = apps.get_model("datasets", "DatasetUpload")
    for dataset in Dataset.objects.order_by("pk").iterator():
        ready = dataset.state == "ready"
        upload = DatasetUpload.objects.create(
            state=STATE_MAP.get(dataset.state, dataset.state),
            dataset=dataset if ready else None,
            **{field: getattr(dataset, field) for field in COPIED},
        )
        # keep the history's dates (auto_now/auto_now_add ignore values given to create)
        DatasetUpload.objects.filter(pk=upload.pk).update(
            created_at=dataset.created_at,
            updated_at=dataset.updated_at,
            finished_at=dataset.updated_at if dataset.state in ("ready", "failed", "cancelled") else None,
        )
        if not ready:
            dataset.delete()


class Migration(migrations.Migration):
    dependencies = [
        ("datasets", "0002_datasetupload"),
    ]

    operations = [
        migrations.RunPython(forwards, migrations.RunPython.noop),
    ]
