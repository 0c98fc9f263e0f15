"""Reminders 24 hours before a confirmed appointment, sent by the worker's schedule."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django_q.models import Schedule

from clinic import booking, tasks
from clinic.models import EmailOutbox
from tests.emails.conftest import calendar_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(django_capture_on_commit_callbacks):
    """Run a service or the scheduled function with its on-commit emails sent inline."""

    def run(function, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return function(**kwargs)

    return run


@pytest.fixture
def confirmed(run, patient, doctor, next_monday_10):
    appointment = run(
        booking.appointment_book, actor=patient.user, patient=patient, doctor=doctor, start=next_monday_10
    )
    run(booking.appointment_confirm, actor=doctor.user, appointment=appointment)
    mail.outbox.clear()
    return appointment


def reminders() -> list:
    return [message for message in mail.outbox if "reminder" in message.subject]


def test_the_reminder_goes_out_24_hours_before_a_confirmed_appointment_once(run, confirmed):
    with time_machine.travel(confirmed.appointment_time - timedelta(hours=24, minutes=10), tick=False):
        run(tasks.emails_send_due)
    assert reminders() == []

    with time_machine.travel(confirmed.appointment_time - timedelta(hours=23, minutes=55), tick=False):
        outcome = run(tasks.emails_send_due)
        run(tasks.emails_send_due)  # the next run of the schedule

    assert outcome.startswith("1 reminders queued")
    (reminder,) = reminders()
    assert reminder.to == [confirmed.patient.user.email]
    _, event, calendar = calendar_of(reminder.message())
    assert event.decoded("DTSTART") == confirmed.appointment_time
    assert (calendar["METHOD"], event["SEQUENCE"]) == ("REQUEST", 0)
    assert EmailOutbox.objects.get(kind="reminder").status == EmailOutbox.Status.SENT


def test_no_reminder_for_a_cancelled_or_an_unconfirmed_appointment(run, confirmed, patient, doctor, next_monday_10):
    run(booking.appointment_cancel, actor=patient.user, appointment=confirmed)
    run(
        booking.appointment_book,
        actor=patient.user,
        patient=patient,
        doctor=doctor,
        start=next_monday_10 + timedelta(hours=1),
    )  # pending, never confirmed
    mail.outbox.clear()

    with time_machine.travel(next_monday_10 - timedelta(hours=12), tick=False):
        assert run(tasks.emails_send_due).startswith("0 reminders queued")

    assert mail.outbox == []
    assert not EmailOutbox.objects.filter(kind="reminder").exists()


def test_a_reminder_queued_before_a_cancellation_is_skipped(run, confirmed, reception, settings):
    settings.EMAIL_BACKEND = "tests.emails.conftest.RefusingBackend"  # the reminder stays pending
    with time_machine.travel(confirmed.appointment_time - timedelta(hours=20), tick=False):
        run(tasks.emails_send_due)
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    confirmed.refresh_from_db()
    booking.appointment_cancel(actor=reception, appointment=confirmed)

    with time_machine.travel(confirmed.appointment_time - timedelta(hours=19), tick=False):
        outcome = tasks.send_appointment_email(confirmed.pk, "reminder", 0)

    assert outcome.startswith("reminder out of date")
    assert EmailOutbox.objects.get(kind="reminder").status == EmailOutbox.Status.SKIPPED
    assert reminders() == []


def test_a_rescheduled_appointment_is_reminded_of_its_new_time(run, confirmed, reception, next_monday_10):
    new_start = next_monday_10 + timedelta(days=1)
    with time_machine.travel(next_monday_10 - timedelta(hours=23), tick=False):
        run(tasks.emails_send_due)
        run(booking.appointment_reschedule, actor=reception, appointment=confirmed, start=new_start)
    mail.outbox.clear()

    with time_machine.travel(new_start - timedelta(hours=23), tick=False):
        run(tasks.emails_send_due)

    (reminder,) = reminders()
    _, event, _ = calendar_of(reminder.message())
    assert event.decoded("DTSTART") == new_start
    assert event["SEQUENCE"] == 1


def test_the_worker_runs_the_reminder_schedule_every_ten_minutes():
    schedule = Schedule.objects.get(func="clinic.tasks.emails_send_due")

    assert (schedule.schedule_type, schedule.minutes, schedule.repeats) == (Schedule.MINUTES, 10, -1)
