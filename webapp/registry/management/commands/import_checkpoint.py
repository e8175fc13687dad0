from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from kdsam_core.modeling import registry
from kdsam_core.modeling.checkpoint import CheckpointError
from webapp.registry import services


class Command(BaseCommand):
    help = (
        f"Verify an official {registry.SAM_FAMILY} ({'/'.join(registry.family_kinds(registry.SAM_FAMILY))}) or "
        f"{registry.MOBILESAM_FAMILY} ({'/'.join(registry.family_kinds(registry.MOBILESAM_FAMILY))}) checkpoint "
        "file and register it as a model version (its SHA-256 is recorded; teachers of distillation jobs are "
        "found here)."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path)
        parser.add_argument("--kind", required=True, choices=sorted(services.ARCHITECTURE_OF_TEACHER))
        parser.add_argument("--name", default=None)

    def handle(self, *args, path, kind, name, **options):
        try:
            version = services.import_official_checkpoint(path, kind, name=name)
        except (CheckpointError, ValueError) as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"registered {version} (sha256 {version.checkpoint_sha256[:16]}…)")
