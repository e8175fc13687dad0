"""Import a dataset folder or archive that is on the server, without the browser (admins)."""

from __future__ import annotations

import json

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from kdsam_core.datasets.problems import SKIPPABLE_CHOICES
from webapp.accounts.models import Team
from webapp.datasets import conf, services
from webapp.datasets.models import DatasetUpload


class Command(BaseCommand):
    help = "Validate and import a dataset folder or archive from the server's disk into a team."

    def add_arguments(self, parser):
        parser.add_argument("path", help="dataset folder or archive (.zip, .tar.gz, ...)")
        parser.add_argument("--team", required=True, help="team name or id")
        parser.add_argument("--name", default="", help="dataset name (default: the folder name)")
        parser.add_argument("--user", default=None, help="username recorded as the creator")
        parser.add_argument("--format", default="", help="force a format key instead of detecting it")
        parser.add_argument("--mask-label", type=int, default=None)
        parser.add_argument("--seed", type=int, default=conf.DEFAULT_SEED)
        parser.add_argument("--ratios", default="0.8,0.1,0.1", help="train,val,test ratios")
        parser.add_argument(
            "--skip",
            action="append",
            default=[],
            choices=SKIPPABLE_CHOICES,
            help="skip the samples with this problem instead of the default action (repeatable)",
        )
        parser.add_argument("--keep-duplicates", action="store_true")
        parser.add_argument("--dry-run", action="store_true", help="validate and print the report only")

    def handle(self, *args, **options):
        team = Team.objects.filter(pk=int(options["team"])).first() if options["team"].isdigit() else None
        team = team or Team.objects.filter(name=options["team"]).first()
        if team is None:
            raise CommandError(f"no team {options['team']!r}")
        user = None
        if options["user"]:
            user = get_user_model().objects.filter(username=options["user"]).first()
            if user is None:
                raise CommandError(f"no user {options['user']!r}")
        try:
            upload = services.create_folder_import(
                user,
                team.pk,
                name=options["name"],
                path=options["path"],
                format=options["format"],
                mask_label=options["mask_label"],
                seed=options["seed"],
                ratios=options["ratios"],
                enqueue=False,
                any_path=True,
            )
        except services.DatasetRejected as error:
            raise CommandError(error.message) from error
        # Like the web flow: an upload session; a dataset exists only if the import succeeds.
        upload = services.validate(upload.pk)
        report = upload.report or {}
        summary = {
            k: report.get(k)
            for k in ("format", "images", "pairs", "unlabelled", "negatives", "skipped", "problem_counts")
        }
        self.stdout.write(json.dumps(summary, indent=2))
        if upload.state != DatasetUpload.State.AWAITING_CONFIRMATION:
            raise CommandError(f"not importable (upload {upload.pk}): {upload.error}")
        if options["dry_run"]:
            services.cancel(upload, reason="Dry run (import_dataset --dry-run).")
            return
        try:
            services.confirm(
                upload, skip_codes=options["skip"], keep_duplicates=options["keep_duplicates"], enqueue=False
            )
        except services.DatasetRejected as error:
            services.cancel(upload, reason=error.message)
            raise CommandError(error.message) from error
        upload = services.run_import(upload.pk)
        if upload.state != DatasetUpload.State.IMPORTED:
            raise CommandError(f"import {upload.state} (upload {upload.pk}): {upload.error}")
        dataset = upload.dataset
        self.stdout.write(
            self.style.SUCCESS(f"dataset {dataset.pk} {dataset.name!r}: {json.dumps(dataset.counts['splits'])}")
        )
