"""`manage.py backup [--output PATH]`: a copy of the database DATABASE_URL names, in var/backups/ by default."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from clinic.backups import BackupError, database_backup


class Command(BaseCommand):
    help = "Back up the database (pg_dump --format=custom on PostgreSQL, VACUUM INTO on SQLite)."

    def add_arguments(self, parser):
        parser.add_argument("--output", help="Where to write it (default: var/backups/clinic-<UTC time>.<ext>).")
        parser.add_argument("--database", default="default", help="The database alias (default: default).")

    def handle(self, *args, **options):
        try:
            path = database_backup(path=options["output"], alias=options["database"])
        except BackupError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(self.style.SUCCESS(f"Backed up to {path}"))
