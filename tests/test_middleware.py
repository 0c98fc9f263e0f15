"""Private data stays out of caches; staff sessions end after 15 idle minutes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

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


def _session_writes(client, url):
    with CaptureQueriesContext(connection) as captured:
        client.get(url)
    return [q["sql"] for q in captured.captured_queries if "django_session" in q["sql"] and "UPDATE" in q["sql"]]


def test_the_idle_window_slides_at_most_once_a_minute(client):
    with time_machine.travel(datetime(2030, 1, 7, 9, 0, tzinfo=UTC), tick=False):
        client.force_login(ReceptionFactory())
        client.get("/admin/")  # renews
        assert _session_writes(client, "/admin/") == []
    with time_machine.travel(datetime(2030, 1, 7, 9, 1, 1, tzinfo=UTC), tick=False):
        assert len(_session_writes(client, "/admin/")) == 1
        expiry = client.session.get_expiry_date()
    assert expiry == datetime(2030, 1, 7, 9, 16, 1, tzinfo=UTC)


# --- Request ids -------------------------------------------------------------------------


def test_a_well_formed_request_id_is_kept_and_echoed(client):
    response = client.get("/health/live", HTTP_X_REQUEST_ID="lb-1f2e.3d_4c-5b")
    assert response["X-Request-ID"] == "lb-1f2e.3d_4c-5b"


def test_without_a_request_id_the_response_carries_a_new_one(client):
    first = client.get("/health/live")["X-Request-ID"]
    second = client.get("/health/live")["X-Request-ID"]
    assert len(first) == 32 and int(first, 16) >= 0
    assert first != second


@pytest.mark.parametrize(
    "bad",
    ["x" * 65, "abc\x07def", "abc def", "<script>", "a/b", "id;drop", "ünïcode", ""],
)
def test_a_malformed_request_id_is_replaced_never_echoed(client, bad):
    response = client.get("/health/live", HTTP_X_REQUEST_ID=bad)
    new = response["X-Request-ID"]
    assert new != bad
    assert len(new) == 32 and int(new, 16) >= 0
