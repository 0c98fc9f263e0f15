"""Emails through a real `python manage.py qcluster` process and a real SMTP server on loopback.

The worker opens the test database by name (a SQLite file, or PostgreSQL's test
database), so these tests commit their writes (`transaction=True`). Every wait is
bounded and fails at once, with the worker's log, should a worker process exit.
"""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, timedelta

import pytest
from django_q.models import OrmQ, Task
from django_q.tasks import async_task
from rest_framework.test import APIClient

from clinic import booking
from clinic.models import Appointment, EmailOutbox
from clinic.tasks import EMAIL_TASK
from tests.emails.conftest import calendar_of, wait_for

# Only rows the tests create themselves: an earlier transactional test may have flushed
# the ones migrations create (the Reception group, the schedule).
pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

REDIS_URL = os.environ.get("CLINIC_TEST_REDIS_URL", "redis://127.0.0.1:6379/9")


def book(patient, doctor, start):
    return booking.appointment_book(actor=patient.user, patient=patient, doctor=doctor, start=start)


def n_messages(server, n: int):
    return wait_for(lambda: len(server.messages) >= n and server.messages, what=f"{n} message(s) at the SMTP server")


def settle(predicate, *, what: str) -> None:
    """Wait for `predicate`, then give the worker a moment more in which a duplicate would show."""
    wait_for(predicate, what=what)
    time.sleep(0.5)


def test_each_change_of_an_appointment_sends_one_email_with_the_right_invite(
    workers, smtp_server, patient, doctor, next_monday_10
):
    workers.start()
    appointment = book(patient, doctor, next_monday_10)

    (booked,) = n_messages(smtp_server, 1)
    assert booked["To"] == patient.user.email
    assert "your appointment request is received" in booked["Subject"]
    part, event, calendar = calendar_of(booked)
    assert part.get_param("method") == "REQUEST"
    assert calendar["METHOD"] == "REQUEST"
    assert event.decoded("DTSTART") == next_monday_10
    assert event["SEQUENCE"] == 0
    uid = str(event["UID"])

    booking.appointment_confirm(actor=doctor.user, appointment=appointment)
    confirmed = n_messages(smtp_server, 2)[1]
    assert "confirmed" in confirmed["Subject"]
    _, event, calendar = calendar_of(confirmed)
    assert (calendar["METHOD"], event["SEQUENCE"], str(event["UID"])) == ("REQUEST", 0, uid)

    new_start = next_monday_10 + timedelta(hours=2)
    booking.appointment_reschedule(actor=patient.user, appointment=appointment, start=new_start)
    moved = n_messages(smtp_server, 3)[2]
    assert "your appointment has changed" in moved["Subject"]
    _, event, calendar = calendar_of(moved)
    assert (calendar["METHOD"], event["SEQUENCE"], str(event["UID"])) == ("REQUEST", 1, uid)
    assert event.decoded("DTSTART") == new_start.astimezone(UTC)

    booking.appointment_cancel(actor=patient.user, appointment=appointment)
    cancelled = n_messages(smtp_server, 4)[3]
    assert "cancelled" in cancelled["Subject"]
    part, event, calendar = calendar_of(cancelled)
    assert part.get_param("method") == "CANCEL"
    assert (calendar["METHOD"], event["SEQUENCE"], str(event["UID"])) == ("CANCEL", 2, uid)
    assert event["STATUS"] == "CANCELLED"

    settle(
        lambda: not EmailOutbox.objects.exclude(status=EmailOutbox.Status.SENT).exists(),
        what="every outbox row marked sent",
    )
    assert len(smtp_server.messages) == 4
    assert all(message["To"] == patient.user.email for message in smtp_server.messages)


def test_with_the_mail_server_down_booking_succeeds_at_once_and_the_email_arrives_once_it_is_back(
    workers, smtp_server, patient, doctor, next_monday_10
):
    smtp_server.stop()
    workers.start()

    client = APIClient()
    client.force_authenticate(patient.user)
    started = time.monotonic()
    response = client.post(
        "/book-appointment/", {"doctor": doctor.pk, "appointment_time": next_monday_10.isoformat()}, format="json"
    )
    assert response.status_code == 201, response.content
    assert time.monotonic() - started < 3  # the booking never waits on the mail server
    appointment = Appointment.objects.get(pk=response.json()["id"])

    def failed_once():
        return Task.objects.filter(func=EMAIL_TASK, success=False).exists()

    wait_for(failed_once, what="the worker to record the failed send")
    outbox = EmailOutbox.objects.get(appointment=appointment, kind="booked")
    assert outbox.status == EmailOutbox.Status.PENDING
    assert outbox.attempts >= 1
    assert "Connection refused" in outbox.last_error or "Errno" in outbox.last_error

    smtp_server.start()
    (message,) = n_messages(smtp_server, 1)
    assert calendar_of(message)[1].decoded("DTSTART") == next_monday_10

    settle(lambda: not OrmQ.objects.exists(), what="the retried task to be acknowledged")
    assert len(smtp_server.messages) == 1
    outbox.refresh_from_db()
    assert outbox.status == EmailOutbox.Status.SENT
    assert outbox.attempts >= 2


def test_a_worker_killed_mid_send_and_a_duplicate_enqueue_send_no_duplicate(
    workers, smtp_server, patient, doctor, next_monday_10
):
    smtp_server.handler.hold_next = True  # the first delivery stalls at RCPT, mid-conversation
    first = workers.start()
    appointment = book(patient, doctor, next_monday_10)
    # The same notice queued a second time, as a duplicate enqueue would.
    async_task(EMAIL_TASK, appointment.pk, "booked", 0)

    wait_for(smtp_server.handler.holding.is_set, what="the worker to be mid-send")
    workers.kill(first)
    smtp_server.handler.release.set()
    assert smtp_server.messages == []

    workers.start()  # a restarted worker: the broker offers the unfinished task again
    n_messages(smtp_server, 1)
    settle(lambda: not OrmQ.objects.exists(), what="both tasks to be done and acknowledged")
    assert len(smtp_server.messages) == 1
    assert EmailOutbox.objects.get(appointment=appointment).status == EmailOutbox.Status.SENT

    # Enqueued again long after it was sent: the task runs and sends nothing.
    async_task(EMAIL_TASK, appointment.pk, "booked", 0)
    settle(lambda: not OrmQ.objects.exists(), what="the late duplicate to run")
    assert len(smtp_server.messages) == 1


def test_the_redis_broker_delivers_the_same_email(workers, smtp_server, patient, doctor, next_monday_10, monkeypatch):
    from django_q.brokers import get_broker
    from django_q.conf import Conf

    cluster = f"clinic-test-{uuid.uuid4().hex[:12]}"
    for name, value in {"ORM": None, "REDIS": REDIS_URL, "PREFIX": cluster, "CLUSTER_NAME": cluster}.items():
        monkeypatch.setattr(Conf, name, value)
    broker = get_broker()
    assert type(broker).__name__ == "Redis"
    workers.env_extra = {"REDIS_URL": REDIS_URL, "WORKER_TEST_CLUSTER_NAME": cluster}
    try:
        workers.start()
        book(patient, doctor, next_monday_10)

        (message,) = n_messages(smtp_server, 1)
        part, event, _ = calendar_of(message)
        assert message["To"] == patient.user.email
        assert event.decoded("DTSTART") == next_monday_10
        assert (part.get_param("method"), event["SEQUENCE"]) == ("REQUEST", 0)
        assert not OrmQ.objects.exists()  # the database was not the broker
        settle(lambda: broker.queue_size() == 0, what="the Redis queue to drain")
        assert len(smtp_server.messages) == 1
    finally:
        broker.delete_queue()
