import os

from django.core.management.base import BaseCommand

from webapp.accounts.services import ensure_admin


class Command(BaseCommand):
    help = "Create the first admin account (once); prints its generated password."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")

    def handle(self, *args, username, **options):
        password = ensure_admin(username, os.environ.get("KDSAM_ADMIN_PASSWORD") or None)
        if password:
            self.stdout.write(f"created admin account: user '{username}', password '{password}'")
