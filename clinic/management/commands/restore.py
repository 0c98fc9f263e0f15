"""`manage.py restore FILE [--noinput]`: replace the database's contents with a backup."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from clinic.backups import MISSING_FILE, BackupError, database_restore

ABORTED = "Restore cancelled; nothing changed."


class Command(BaseCommand):
    help = "Restore a backup made by `manage.py backup`, replacing everything in the database."

    def add_arguments(self, parser):
        parser.add_argument("file", help="The backup file.")
        parser.add_argument("--noinput", "--no-input", action="store_false", dest="interactive")
        parser.add_argument("--database", default="default", help="The database alias (default: default).")

    def handle(self, *args, **options):
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(MISSING_FILE.format(path=path))
        name = settings.DATABASES[options["database"]]["NAME"]
        if options["interactive"]:
            answer = input(f"This replaces every row of {name} with {path}. Type 'yes' to go on: ")
            if answer.strip().lower() != "yes":
                raise CommandError(ABORTED)
        try:
            database_restore(path=path, alias=options["database"])
        except BackupError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(self.style.SUCCESS(f"Restored {name} from {path}"))
