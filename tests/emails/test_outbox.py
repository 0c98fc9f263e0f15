"""The outbox: queued with the booking transaction, sent once, retried on failure, bounded.

Tasks run inline here (Q_CLUSTER sync); tests/emails/test_worker.py runs the real worker.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.db import transaction
from django.utils import timezone

from clinic import booking, metrics, tasks
from clinic.models import Appointment, EmailOutbox
from tests.emails.conftest import calendar_of

pytestmark = pytest.mark.django_db

REFUSING = "tests.emails.conftest.RefusingBackend"
LOCMEM = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture
def book(patient, doctor, next_monday_10, django_capture_on_commit_callbacks):
    def book(**kwargs) -> Appointment:
        with django_capture_on_commit_callbacks(execute=True):
            return booking.appointment_book(
                actor=patient.user, patient=patient, doctor=doctor, start=kwargs.get("start", next_monday_10)
            )

    return book


def test_booking_writes_one_outbox_row_and_sends_one_email_after_commit(book, patient):
    appointment = book()

    outbox = EmailOutbox.objects.get()
    assert (outbox.appointment, outbox.kind, outbox.sequence) == (appointment, "booked", 0)
    assert outbox.status == EmailOutbox.Status.SENT
    assert outbox.attempts == 1
    assert outbox.recipient == patient.user.email
    assert outbox.message_id == f"<appointment-{appointment.pk}-booked-0@clinic.localhost>"
    assert len(mail.outbox) == 1
    assert str(outbox) == (
        f"Request received email (v0) for appointment #{appointment.pk} to {patient.user.email}: sent"
    )


def test_nothing_is_queued_before_the_booking_commits(
    patient, doctor, next_monday_10, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        booking.appointment_book(actor=patient.user, patient=patient, doctor=doctor, start=next_monday_10)
        assert mail.outbox == []

    # The email's enqueue, and the bookings metric (also counted only once committed).
    assert len([callback for callback in callbacks if callback is not metrics.booked]) == 1
    assert metrics.booked in callbacks
    assert mail.outbox == []


def test_a_rolled_back_booking_sends_nothing(patient, doctor, next_monday_10, django_capture_on_commit_callbacks):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        booking.appointment_book(actor=patient.user, patient=patient, doctor=doctor, start=next_monday_10)
        raise RuntimeError("something later in the request failed")

    assert callbacks == []
    assert mail.outbox == []
    assert not EmailOutbox.objects.exists()
    assert not Appointment.objects.exists()


def test_confirm_reschedule_and_cancel_each_send_one_more_with_method_and_sequence(
    book, doctor, reception, patient, next_monday_10, django_capture_on_commit_callbacks
):
    appointment = book()
    with django_capture_on_commit_callbacks(execute=True):
        booking.appointment_confirm(actor=doctor.user, appointment=appointment)
    with django_capture_on_commit_callbacks(execute=True):
        booking.appointment_reschedule(
            actor=reception, appointment=appointment, start=next_monday_10 + timedelta(hours=1)
        )
    with django_capture_on_commit_callbacks(execute=True):
        booking.appointment_cancel(actor=patient.user, appointment=appointment)

    invites = [calendar_of(message.message()) for message in mail.outbox]
    assert [(calendar["METHOD"], event["SEQUENCE"]) for _, event, calendar in invites] == [
        ("REQUEST", 0),
        ("REQUEST", 0),
        ("REQUEST", 1),
        ("CANCEL", 2),
    ]
    assert list(EmailOutbox.objects.order_by("id").values_list("kind", "sequence", "status")) == [
        ("booked", 0, "sent"),
        ("confirmed", 0, "sent"),
        ("rescheduled", 1, "sent"),
        ("cancelled", 2, "sent"),
    ]


def test_running_the_task_again_sends_nothing_new(book):
    appointment = book()

    outcome = tasks.send_appointment_email(appointment.pk, "booked", 0)
    tasks.send_appointment_email(appointment.pk, "booked")  # without a sequence: the current version

    assert outcome == "already sent: nothing to send"
    assert len(mail.outbox) == 1
    assert EmailOutbox.objects.get().attempts == 1


def test_a_failed_send_keeps_the_booking_records_the_error_and_the_retry_sends_once(book, settings):
    settings.EMAIL_BACKEND = REFUSING
    appointment = book()  # the inline task fails after the commit; the booking stands

    assert Appointment.objects.filter(pk=appointment.pk).exists()
    outbox = EmailOutbox.objects.get()
    assert outbox.status == EmailOutbox.Status.PENDING
    assert outbox.attempts == 1
    assert outbox.claimed_until is None
    assert "Connection refused" in outbox.last_error

    with pytest.raises(ConnectionRefusedError):  # the worker records a failure and retries
        tasks.send_appointment_email(appointment.pk, "booked", 0)

    settings.EMAIL_BACKEND = LOCMEM
    tasks.send_appointment_email(appointment.pk, "booked", 0)
    tasks.send_appointment_email(appointment.pk, "booked", 0)

    assert len(mail.outbox) == 1
    outbox.refresh_from_db()
    assert (outbox.status, outbox.attempts, outbox.last_error) == (EmailOutbox.Status.SENT, 3, "")


def test_an_email_is_given_up_after_the_maximum_attempts(book, settings):
    settings.EMAIL_MAX_ATTEMPTS = 2
    settings.EMAIL_BACKEND = REFUSING
    appointment = book()
    with pytest.raises(ConnectionRefusedError):
        tasks.send_appointment_email(appointment.pk, "booked", 0)

    settings.EMAIL_BACKEND = LOCMEM
    outcome = tasks.send_appointment_email(appointment.pk, "booked", 0)

    assert outcome == "already failed: nothing to send"
    assert EmailOutbox.objects.get().status == EmailOutbox.Status.FAILED
    assert mail.outbox == []


def test_a_row_another_worker_is_sending_is_left_to_it_until_its_claim_expires(book, settings):
    settings.EMAIL_BACKEND = REFUSING
    appointment = book()
    settings.EMAIL_BACKEND = LOCMEM
    claimed_until = timezone.now() + timedelta(seconds=60)
    EmailOutbox.objects.update(claimed_until=claimed_until)

    assert tasks.send_appointment_email(appointment.pk, "booked", 0) == "being sent by another worker"
    assert mail.outbox == []

    with time_machine.travel(claimed_until + timedelta(seconds=1)):
        tasks.send_appointment_email(appointment.pk, "booked", 0)
    assert len(mail.outbox) == 1


def test_a_broker_that_refuses_the_task_does_not_fail_the_booking_and_the_schedule_sends_it_later(
    book, monkeypatch, settings
):
    def broker_down(*args, **kwargs):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(tasks, "async_task", broker_down)
    appointment = book()

    assert Appointment.objects.filter(pk=appointment.pk).exists()
    assert EmailOutbox.objects.get().status == EmailOutbox.Status.PENDING
    assert mail.outbox == []

    monkeypatch.undo()
    assert "0 pending emails queued again" in tasks.emails_send_due()  # too fresh to be stale
    with time_machine.travel(timezone.now() + timedelta(seconds=settings.Q_CLUSTER["retry"] + 1)):
        assert tasks.emails_send_due().startswith("0 reminders queued, 1 pending emails queued again,")

    assert len(mail.outbox) == 1
    assert EmailOutbox.objects.get().status == EmailOutbox.Status.SENT


def test_a_task_for_a_notice_that_was_never_queued_sends_nothing(book):
    appointment = book()

    never_queued = tasks.send_appointment_email(appointment.pk, "confirmed", 0)

    assert never_queued == "no such email in the outbox: nothing to send"
    assert tasks.send_appointment_email(appointment.pk + 1000, "booked") == "appointment gone: nothing to send"
    assert len(mail.outbox) == 1


def test_a_patient_without_an_email_address_is_skipped_not_retried(patient, book):
    patient.user.email = ""
    patient.user.save()

    appointment = book()

    outbox = EmailOutbox.objects.get(appointment=appointment)
    assert (outbox.status, outbox.attempts) == (EmailOutbox.Status.SKIPPED, 0)
    assert outbox.last_error == "The patient has no email address."
    assert mail.outbox == []
