"""Faults on PostgreSQL: connections dropped under the app, and a booking cut off halfway.

Requests go through the real WSGI handler in this process, so Django's per-request
connection handling runs as in production: the connection persists between requests
(`CONN_MAX_AGE`) and is health-checked before reuse (`CONN_HEALTH_CHECKS`). A second,
separate psycopg connection terminates the app's backend with `pg_terminate_backend`.

The third fault of issue 7, a worker killed mid-task, is in tests/emails/test_worker.py
(`test_a_worker_killed_mid_send_and_a_duplicate_enqueue_send_no_duplicate`): the email still goes out exactly once.
"""

from __future__ import annotations

import json
import time

import psycopg
import pytest
from django.core.wsgi import get_wsgi_application
from django.db import connection
from django.test import RequestFactory

from clinic import booking
from clinic.api.tokens import ClinicRefreshToken
from clinic.models import Appointment, EmailOutbox
from tests import factories

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

application = get_wsgi_application()


def call(method: str, path: str, user, body: dict | None = None) -> tuple[int, dict]:
    """One request through the WSGI handler, as a gunicorn worker would make it."""
    token = ClinicRefreshToken.for_user(user).access_token
    request = RequestFactory().generic(
        method,
        path,
        json.dumps(body) if body is not None else "",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    answer: dict = {}

    def start_response(status, headers, exc_info=None):
        answer["status"] = int(status.split()[0])

    response = application(request.environ, start_response)
    try:
        content = b"".join(response)
    finally:
        response.close()  # request_finished: Django keeps or drops the connection here
    return answer["status"], json.loads(content) if content else {}


def app_backend() -> int:
    """The PostgreSQL process serving the app's (this thread's) connection."""
    assert connection.connection is not None, "the connection is kept between requests (CONN_MAX_AGE)"
    return connection.connection.info.backend_pid


def terminate(pid: int) -> None:
    """Kill a backend from outside the app, and wait until it is gone."""
    settings = connection.settings_dict
    with psycopg.connect(
        host=settings["HOST"] or None,
        port=settings["PORT"] or None,
        user=settings["USER"] or None,
        password=settings["PASSWORD"] or None,
        dbname=settings["NAME"],
        autocommit=True,
    ) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone()[0] is True
        for _ in range(100):
            if not admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone():
                return
            time.sleep(0.02)
    raise AssertionError(f"backend {pid} still running")


@pytest.fixture
def clinic(transactional_db, next_monday_10):
    doctor = factories.DoctorFactory()
    appointment = factories.AppointmentFactory(doctor=doctor, appointment_time=next_monday_10)
    return doctor, appointment.patient


def test_a_connection_dropped_between_requests_is_replaced_unnoticed(clinic):
    _, patient = clinic
    assert connection.settings_dict["CONN_MAX_AGE"] > 0 and connection.settings_dict["CONN_HEALTH_CHECKS"]
    assert call("GET", "/appointments/", patient.user)[0] == 200
    killed = app_backend()

    terminate(killed)

    status, body = call("GET", "/appointments/", patient.user)
    assert status == 200 and body["count"] == 1
    assert app_backend() != killed


def test_a_connection_dropped_during_a_request_fails_only_that_request(clinic, monkeypatch):
    doctor, patient = clinic
    assert call("GET", f"/doctors/{doctor.pk}/", patient.user)[0] == 200
    visible = booking.access.appointments_visible_to

    def dropped_midway(user):
        terminate(app_backend())
        return visible(user)

    monkeypatch.setattr(booking.access, "appointments_visible_to", dropped_midway)
    status, body = call("GET", "/appointments/", patient.user)
    assert status == 500
    assert body == {"detail": "Internal server error"}
    monkeypatch.undo()

    for path in ("/appointments/", f"/doctors/{doctor.pk}/", "/medical-records/"):
        assert call("GET", path, patient.user)[0] == 200, path


def test_a_booking_cut_off_between_its_writes_leaves_nothing_and_the_slot_stays_bookable(clinic, monkeypatch):
    doctor, patient = clinic
    start = Appointment.objects.get().appointment_time.replace(hour=14)
    queue_email = booking._queue_email
    cut = []

    def killed_before_the_outbox_row(appointment, kind):
        # The appointment row is written (uncommitted); the outbox row is next.
        assert appointment.pk is not None
        cut.append(appointment.pk)
        terminate(app_backend())
        return queue_email(appointment, kind)

    monkeypatch.setattr(booking, "_queue_email", killed_before_the_outbox_row)
    body = {"doctor": doctor.pk, "appointment_time": start.isoformat()}
    status, answer = call("POST", "/book-appointment/", patient.user, body)
    assert status == 500 and answer == {"detail": "Internal server error"}
    assert cut, "the booking reached its second write"
    monkeypatch.undo()

    assert not Appointment.objects.filter(appointment_time=start).exists()
    assert not Appointment.objects.filter(pk=cut[0]).exists()
    assert not EmailOutbox.objects.exists()

    status, answer = call("POST", "/book-appointment/", patient.user, body)
    assert status == 201, answer
    booked = Appointment.objects.get(appointment_time=start)
    assert booked.status == Appointment.Status.PENDING
    assert EmailOutbox.objects.filter(appointment=booked, kind="booked").count() == 1
