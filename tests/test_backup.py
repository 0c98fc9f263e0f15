"""`manage.py backup` and `manage.py restore` on both databases, run as an operator runs them.

Each round trip migrates a scratch database, fills it with the demo clinic (history rows
included), backs it up, empties it, restores it, and compares every table row by row.
SQLite lives in a temporary file; PostgreSQL in a scratch database `clinic_export_backup_<pid>`
on the server of BACKUP_TEST_POSTGRES_URL (default: the local one). Without PostgreSQL the
PostgreSQL test skips locally with the reason, and fails when CI=true.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from clinic.backups import MISSING_DATABASE, MISSING_FILE
from clinic.management.commands.restore import ABORTED

ROOT = Path(__file__).resolve().parent.parent
ADMIN_URL = os.environ.get("BACKUP_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")


def manage(database_url: str, *args: str, stdin: str | None = None, check: bool = True):
    env = {**os.environ, "DATABASE_URL": database_url, "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, input=stdin, capture_output=True, text=True
    )
    if check:
        assert done.returncode == 0, done.stderr
    return done


def _sqlite_tables(path: Path) -> dict[str, list[str]]:
    with sqlite3.connect(path) as db:
        names = [
            r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")
        ]
        return {name: sorted(map(repr, db.execute(f'SELECT * FROM "{name}"'))) for name in names}  # noqa: S608


def _pg_tables(url: str) -> dict[str, list[str]]:
    import psycopg

    with psycopg.connect(url) as db:
        names = [r[0] for r in db.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        return {name: sorted(map(repr, db.execute(f'SELECT * FROM "{name}"'))) for name in names}  # noqa: S608


def _round_trip(url: str, backup: Path, tables) -> None:
    manage(url, "migrate", "--noinput")
    manage(url, "seed_demo")
    before = tables()
    assert before["clinic_appointment"] and before["clinic_patient"]
    history = {name: rows for name, rows in before.items() if "historical" in name}
    assert history and any(history.values()), "the demo clinic writes history rows"

    out = manage(url, "backup", "--output", str(backup)).stdout
    assert str(backup) in out and backup.stat().st_size > 0

    manage(url, "flush", "--noinput")  # everything after the backup is lost, as after an accident
    assert not tables()["clinic_appointment"]

    manage(url, "restore", str(backup), "--noinput")
    after = tables()
    assert set(after) == set(before)
    for name, rows in before.items():
        assert len(after[name]) == len(rows), name
        assert after[name] == rows, name


def test_sqlite_round_trip_brings_back_every_row_and_every_history_row(tmp_path):
    database = tmp_path / "clinic.sqlite3"
    _round_trip(f"sqlite:///{database}", tmp_path / "clinic.sqlite3.bak", lambda: _sqlite_tables(database))


@pytest.fixture
def scratch_postgres():
    """A fresh database on the PostgreSQL server, dropped afterwards."""
    try:
        import psycopg

        admin = psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3)
    except Exception as error:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required on CI ({ADMIN_URL}): {error}")
        pytest.skip(f"needs PostgreSQL at {ADMIN_URL}: {error}")
    name = f"clinic_export_backup_{os.getpid()}"
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def test_postgres_round_trip_brings_back_every_row_and_every_history_row(scratch_postgres, tmp_path):
    _round_trip(scratch_postgres, tmp_path / "clinic.dump", lambda: _pg_tables(scratch_postgres))


def test_backup_and_restore_refuse_what_is_missing_and_restore_asks_first(tmp_path):
    database = tmp_path / "clinic.sqlite3"
    url = f"sqlite:///{database}"
    missing = manage(url, "restore", str(tmp_path / "nope.sqlite3"), "--noinput", check=False)
    assert missing.returncode != 0
    assert MISSING_FILE.format(path=tmp_path / "nope.sqlite3") in missing.stderr

    nothing = manage(url, "backup", "--output", str(tmp_path / "empty.sqlite3"), check=False)
    assert nothing.returncode != 0 and MISSING_DATABASE.format(name=database) in nothing.stderr
    assert not (tmp_path / "empty.sqlite3").exists()

    with sqlite3.connect(database) as db:
        db.execute("CREATE TABLE kept (value TEXT)")
        db.execute("INSERT INTO kept VALUES ('before')")
    backup = manage(url, "backup").stdout.strip().rsplit(" ", 1)[-1]
    assert Path(backup).parent == ROOT / "var" / "backups"  # the default place, with a timestamped name
    try:
        with sqlite3.connect(database) as db:
            db.execute("UPDATE kept SET value = 'after'")
        refused = manage(url, "restore", backup, stdin="no\n", check=False)
        assert refused.returncode != 0 and ABORTED in refused.stderr
        assert _sqlite_tables(database)["kept"] == [repr(("after",))]
        manage(url, "restore", backup, stdin="yes\n")
        assert _sqlite_tables(database)["kept"] == [repr(("before",))]
    finally:
        Path(backup).unlink()
