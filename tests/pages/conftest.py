"""Fixtures of the page tests: a doctor with free time, signed-in clients per role."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from tests import factories


@pytest.fixture
def day(next_monday_10: datetime):
    """A bookable Monday (clinic zone is UTC in tests)."""
    return next_monday_10.date()


@pytest.fixture
def slot(next_monday_10: datetime) -> datetime:
    return next_monday_10


@pytest.fixture
def gp(db):
    return factories.DoctorFactory(specialization="General practice", user__last_name="Grey")


@pytest.fixture
def cardiologist(db):
    return factories.DoctorFactory(specialization="Cardiology", user__last_name="House")


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def htmx_headers():
    def headers(target: str = "results") -> dict[str, str]:
        return {"HX-Request": "true", "HX-Target": target}

    return headers


@pytest.fixture
def in_two_hours() -> datetime:
    return (datetime.now(UTC) + timedelta(hours=2)).replace(second=0, microsecond=0)
