"""Backups of the database `DATABASE_URL` names: PostgreSQL through pg_dump/pg_restore, SQLite through
its online backup. The `backup` and `restore` management commands (and `make backup` / `make restore`)
are thin wrappers over these two functions, so they read the same settings as the app."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

from django.conf import settings
from django.db import connections
from django.utils import timezone

BACKUP_DIR_NAME = "backups"
MISSING_FILE = "No backup file at {path}."
MISSING_DATABASE = "No SQLite database at {name}: nothing to back up (run `make migrate` first?)."
UNSUPPORTED = "Backups cover PostgreSQL and SQLite; this database is {vendor}."


class BackupError(Exception):
    """A backup or restore that could not be done; nothing was changed when restoring failed."""


def _database(alias: str) -> dict:
    return settings.DATABASES[alias]


def _vendor(alias: str) -> str:
    return connections[alias].vendor


def default_backup_path(alias: str = "default") -> Path:
    """var/backups/clinic-<UTC time>.<dump|sqlite3>: sorted by name is sorted by age."""
    suffix = "dump" if _vendor(alias) == "postgresql" else "sqlite3"
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    return Path(settings.VAR_DIR) / BACKUP_DIR_NAME / f"clinic-{stamp}.{suffix}"


def _pg_args_env(alias: str) -> tuple[list[str], dict[str, str]]:
    """Connection arguments of pg_dump/pg_restore; the password goes in the environment, not argv."""
    db = _database(alias)
    args = ["--dbname", db["NAME"]]
    if db.get("HOST"):
        args += ["--host", str(db["HOST"])]
    if db.get("PORT"):
        args += ["--port", str(db["PORT"])]
    if db.get("USER"):
        args += ["--username", str(db["USER"])]
    env = {**os.environ}
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = str(db["PASSWORD"])
    return args, env


def _run(command: list[str], env: dict[str, str]) -> None:
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    except FileNotFoundError as error:
        raise BackupError(f"{command[0]} is not installed (PostgreSQL client tools).") from error
    if done.returncode != 0:
        raise BackupError(f"{command[0]} failed: {done.stderr.strip()}")


def database_backup(*, path: Path | None = None, alias: str = "default") -> Path:
    """Write a consistent copy of the database to `path` (default: `default_backup_path()`)."""
    path = Path(path) if path else default_backup_path(alias)
    path.parent.mkdir(parents=True, exist_ok=True)
    vendor = _vendor(alias)
    partial = path.with_name(path.name + ".partial")
    if vendor == "postgresql":
        args, env = _pg_args_env(alias)
        # One snapshot of the whole database, in pg_restore's compressed custom format.
        _run(["pg_dump", "--format=custom", "--no-owner", "--file", str(partial), *args], env)
    elif vendor == "sqlite":
        if not Path(_database(alias)["NAME"]).is_file():
            raise BackupError(MISSING_DATABASE.format(name=_database(alias)["NAME"]))
        partial.unlink(missing_ok=True)
        # VACUUM INTO copies a consistent snapshot while the app keeps running (no sqlite3 CLI needed).
        with sqlite3.connect(_database(alias)["NAME"]) as source:
            source.execute("VACUUM INTO ?", [str(partial)])
        source.close()
    else:
        raise BackupError(UNSUPPORTED.format(vendor=vendor))
    partial.replace(path)  # a half-written file never carries a backup's name
    return path


def database_restore(*, path: Path, alias: str = "default") -> None:
    """Replace the database's contents with the backup at `path`, all or nothing."""
    path = Path(path)
    if not path.is_file():
        raise BackupError(MISSING_FILE.format(path=path))
    vendor = _vendor(alias)
    connections[alias].close()
    if vendor == "postgresql":
        args, env = _pg_args_env(alias)
        # --single-transaction: a failure leaves the database as it was.
        _run(
            [
                "pg_restore",
                "--clean",
                "--if-exists",
                "--no-owner",
                "--single-transaction",
                "--exit-on-error",
                *args,
                str(path),
            ],
            env,
        )
    elif vendor == "sqlite":
        try:
            source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            source.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as error:
            raise BackupError(f"{path} is not an SQLite backup: {error}") from error
        target = sqlite3.connect(_database(alias)["NAME"])
        try:
            # The online backup API copies every page under one lock: readers see the old or the new database.
            source.backup(target)
        finally:
            target.close()
            source.close()
    else:
        raise BackupError(UNSUPPORTED.format(vendor=vendor))
