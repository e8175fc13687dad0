"""The size of every stored file a team's usage counts (webapp/datasets/services/quota.py), recorded once here
for the files that exist already; new files are recorded when they are written or first counted."""

from pathlib import Path

from django.conf import settings
from django.db import migrations, models

BATCH = 1000


def _referenced(apps) -> set[str]:
    paths: set[str] = set()
    sources = [
        ("datasets", "DatasetItem", ("image_file", "mask_file")),
        ("segmentation", "Image", ("file", "dicom_file")),
        ("segmentation", "Embedding", ("file",)),
        ("registry", "ModelVersion", ("checkpoint", "decoder_onnx", "decoder_onnx_quantized")),
    ]
    for app, model, fields in sources:
        for row in apps.get_model(app, model).objects.values_list(*fields).iterator():
            paths.update(path for path in row if path)
    return paths


def record_sizes(apps, schema_editor):
    StoredFile = apps.get_model("datasets", "StoredFile")
    root = Path(settings.MEDIA_ROOT)
    paths = _referenced(apps)
    thumbs = root / "datasets" / "thumbs"
    if thumbs.exists():
        paths.update(str(p.relative_to(root)) for p in thumbs.rglob("*") if p.is_file() and not p.name.startswith("."))
    rows = []
    for rel in sorted(paths):
        try:
            size = (root / rel).stat().st_size
        except OSError:  # missing: counted as 0 until it is written again
            size = 0
        rows.append(StoredFile(path=rel, size=size))
        if len(rows) >= BATCH:
            StoredFile.objects.bulk_create(rows, ignore_conflicts=True)
            rows = []
    StoredFile.objects.bulk_create(rows, ignore_conflicts=True)


class Migration(migrations.Migration):
    dependencies = [
        ("datasets", "0004_remove_dataset_upload_fields"),
        ("segmentation", "0002_masks_and_source_formats"),
        ("registry", "0002_modelversion_architecture_modelversion_created_by_and_more"),
    ]

    operations = [
        migrations.CreateModel(
            name="StoredFile",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("path", models.CharField(help_text="Relative to MEDIA_ROOT.", max_length=500, unique=True)),
                (
                    "size",
                    models.BigIntegerField(help_text="Bytes (0 when the file was missing when it was recorded)."),
                ),
                ("recorded_at", models.DateTimeField(auto_now=True)),
            ],
        ),
        migrations.RunPython(record_sizes, migrations.RunPython.noop),
    ]
