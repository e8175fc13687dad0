"""Remove dataset files an interrupted worker may have left behind (safe to run any time, e.g. daily)."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from webapp.datasets import services


class Command(BaseCommand):
    help = "Delete unreferenced dataset objects, old extraction folders and abandoned uploads."

    def add_arguments(self, parser):
        parser.add_argument("--min-age", type=float, default=3600, help="only files older than this many seconds")
        parser.add_argument("--stale-upload", type=float, default=86400, help="cancel uploads idle for this many seconds")

    def handle(self, *args, **options):
        result = services.collect_garbage(min_age_s=options["min_age"], stale_upload_s=options["stale_upload"])
        self.stdout.write(json.dumps(result))
