import django.core.validators
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_login_throttle"),
    ]

    operations = [
        migrations.AddField(
            model_name="team",
            name="storage_quota_gb",
            field=models.FloatField(
                blank=True,
                help_text="Stored bytes the team may hold, in GB (1 GB = 1024³ bytes; decimals allowed): its datasets, "
                "its members' images, its model versions and unfinished uploads. Empty = the deployment default "
                "(KDSAM_TEAM_STORAGE_QUOTA_GB); 0 = unlimited.",
                null=True,
                validators=[django.core.validators.MinValueValidator(0)],
                verbose_name="storage quota (GB)",
            ),
        ),
    ]
