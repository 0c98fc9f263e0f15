"""A patient account whose sign-ins the lockout and enumeration tests try."""

from __future__ import annotations

import pytest

from tests import factories

WRONG = "not-the-password"


@pytest.fixture
def alice(db):
    return factories.PatientFactory(user__username="alice", user__email="alice@example.test").user
