# The upload bookkeeping now lives on DatasetUpload only.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("datasets", "0003_datasets_to_uploads"),
    ]

    operations = [
        migrations.RemoveField(model_name="dataset", name="requested_format"),
        migrations.RemoveField(model_name="dataset", name="upload_path"),
        migrations.RemoveField(model_name="dataset", name="upload_received"),
        migrations.RemoveField(model_name="dataset", name="report"),
        migrations.RemoveField(model_name="dataset", name="progress_stage"),
        migrations.RemoveField(model_name="dataset", name="progress_done"),
        migrations.RemoveField(model_name="dataset", name="progress_total"),
        migrations.RemoveField(model_name="dataset", name="error"),
        migrations.RemoveField(model_name="dataset", name="task_id"),
        migrations.AlterField(
            model_name="dataset",
            name="state",
            field=models.CharField(choices=[("ready", "Ready")], db_index=True, default="ready", max_length=24),
        ),
        migrations.AlterField(
            model_name="dataset",
            name="upload_size",
            field=models.BigIntegerField(
                default=0, help_text="Size of the uploaded archive in bytes (0 for server folders)."
            ),
        ),
    ]
