"""Remove dataset files an interrupted worker or an abandoned upload left behind (safe to run any time;
``python -m webapp.run`` runs it at startup and every few hours)."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from webapp.datasets import services


class Command(BaseCommand):
    help = "Delete unreferenced dataset objects, old extraction folders, abandoned uploads and their staged archives."

    def add_arguments(self, parser):
        parser.add_argument("--min-age", type=float, default=3600, help="only files older than this many seconds")
        parser.add_argument(
            "--stale-upload",
            type=float,
            default=None,
            help="cancel uploads idle in 'uploading' for this many seconds "
            "(default: KDSAM_DATASET_UPLOAD_STALE_HOURS, 24 h)",
        )

    def handle(self, *args, **options):
        result = services.collect_garbage(min_age_s=options["min_age"], stale_upload_s=options["stale_upload"])
        self.stdout.write(json.dumps(result))
