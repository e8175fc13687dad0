from django.core.management.base import BaseCommand, CommandError

from kdsam_core.modeling.checkpoint import CheckpointError
from webapp.registry import services


class Command(BaseCommand):
    help = "Make sure a KD-SAM model version is active (trained weights from KDSAM_WEIGHTS_DIR, else random init)."

    def handle(self, *args, **options):
        try:
            version = services.ensure_active_model_version()
        except CheckpointError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"active model: {version}")
        if services.banner(version):
            self.stdout.write(self.style.WARNING(services.banner(version)))
