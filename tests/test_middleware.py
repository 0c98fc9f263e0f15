"""Private data stays out of caches; staff sessions end after 15 idle minutes."""

from __future__ import annotations

import pytest
from django.conf import settings

from tests.factories import PatientFactory, ReceptionFactory

pytestmark = pytest.mark.django_db


def test_dynamic_responses_are_not_stored_by_caches(client):
    client.force_login(ReceptionFactory())
    response = client.get("/admin/")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]


def test_staff_session_expires_after_the_idle_limit(client):
    client.force_login(ReceptionFactory())
    client.get("/admin/")
    assert client.session.get_expiry_age() == settings.STAFF_SESSION_IDLE_SECONDS == 15 * 60
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["max-age"] == 15 * 60


def test_patient_sessions_keep_the_default_length(client):
    client.force_login(PatientFactory().user)
    client.get("/admin/login/")
    assert client.session.get_expiry_age() == settings.SESSION_COOKIE_AGE
