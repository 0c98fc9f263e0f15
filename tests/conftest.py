"""Shared fixtures. The header says which database the suite runs on."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.core.cache import cache

from tests import factories


def pytest_report_header(config):
    url = os.environ.get("DATABASE_URL", "sqlite (default)")
    vendor = "postgresql" if url.startswith(("postgres", "postgresql")) else "sqlite"
    return f"clinic database: {vendor} ({url.split('@')[-1]})"


def pytest_collection_modifyitems(config, items):
    """`postgres` tests skip on SQLite locally, with the reason shown; in CI they must run."""
    if settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL: run with DATABASE_URL=postgres://…")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _fresh_throttles():
    """Throttle counters (the API's and the manage links') live in the cache: every test starts with none."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def is_postgres() -> bool:
    return settings.DATABASES["default"]["ENGINE"].endswith("postgresql")


@pytest.fixture
def next_monday_10() -> datetime:
    """10:00 UTC on the Monday of next week or later: bookable under the default rules."""
    today = datetime.now(UTC).date()
    monday = today + timedelta(days=7 - today.weekday() + 7)
    return datetime(monday.year, monday.month, monday.day, 10, 0, tzinfo=UTC)


@pytest.fixture
def patient(db):
    return factories.PatientFactory()


@pytest.fixture
def doctor(db):
    return factories.DoctorFactory()


@pytest.fixture
def reception(db):
    return factories.ReceptionFactory()


@pytest.fixture
def clinic_admin(db):
    return factories.AdminFactory()
