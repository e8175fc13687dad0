# The upload session becomes its own model (DatasetUpload); a Dataset row exists only once imported.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("datasets", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="dataset",
            name="description",
            field=models.TextField(blank=True),
        ),
        migrations.CreateModel(
            name="DatasetUpload",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=200)),
                ("description", models.TextField(blank=True)),
                (
                    "state",
                    models.CharField(
                        choices=[
                            ("uploading", "Uploading"),
                            ("validating", "Validating"),
                            ("awaiting_confirmation", "Awaiting Confirmation"),
                            ("importing", "Importing"),
                            ("imported", "Imported"),
                            ("failed", "Failed"),
                            ("cancelled", "Cancelled"),
                        ],
                        db_index=True,
                        default="uploading",
                        max_length=24,
                    ),
                ),
                (
                    "requested_format",
                    models.CharField(blank=True, help_text="Format forced at upload ('' = detect).", max_length=32),
                ),
                ("mask_label", models.IntegerField(blank=True, null=True)),
                ("original_filename", models.CharField(blank=True, max_length=255)),
                (
                    "upload_path",
                    models.CharField(
                        blank=True, help_text="Staged archive under the data dir ('' once removed).", max_length=500
                    ),
                ),
                ("upload_size", models.BigIntegerField(default=0, help_text="Declared archive size in bytes.")),
                ("upload_received", models.BigIntegerField(default=0)),
                (
                    "source_path",
                    models.CharField(
                        blank=True, help_text="Server-side folder or archive (staff imports).", max_length=1000
                    ),
                ),
                ("format", models.CharField(blank=True, help_text="Detected (or forced) format key.", max_length=32)),
                ("report", models.JSONField(blank=True, null=True)),
                ("skip_codes", models.JSONField(blank=True, default=list)),
                ("skip_samples", models.JSONField(blank=True, default=list)),
                ("keep_duplicates", models.BooleanField(default=False)),
                ("split_seed", models.IntegerField(default=0)),
                ("split_ratios", models.JSONField(default=dict)),
                ("progress_stage", models.CharField(blank=True, max_length=32)),
                ("progress_done", models.BigIntegerField(default=0)),
                ("progress_total", models.BigIntegerField(default=0)),
                ("error", models.TextField(blank=True, help_text="Why the upload failed or was cancelled.")),
                ("task_id", models.CharField(blank=True, max_length=64)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                ("finished_at", models.DateTimeField(blank=True, null=True)),
                (
                    "created_by",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="dataset_uploads",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "dataset",
                    models.OneToOneField(
                        blank=True,
                        help_text="The dataset the import created.",
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="upload",
                        to="datasets.dataset",
                    ),
                ),
                (
                    "team",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="dataset_uploads", to="accounts.team"
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at", "-id"],
            },
        ),
    ]
