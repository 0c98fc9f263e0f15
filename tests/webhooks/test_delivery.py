"""Deliveries to a real HTTP receiver on loopback: signed, retried, given up on, switched off.

The worker runs inline here (`Q_CLUSTER["sync"]`); tests/webhooks/test_worker.py runs a real one."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.test import override_settings
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from clinic import booking, webhooks
from clinic.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from tests import factories
from tests.webhooks.conftest import make_endpoint

pytestmark = pytest.mark.django_db

Status = WebhookDelivery.Status


def book(patient, doctor, start, **extra):
    return booking.appointment_book(actor=patient.user, patient=patient, doctor=doctor, start=start, **extra)


def test_a_booking_is_posted_signed_as_standard_webhooks_says(
    endpoint, receiver, patient, doctor, next_monday_10, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        appointment = book(patient, doctor, next_monday_10)

    (request,) = receiver.requests
    delivery = WebhookDelivery.objects.get()
    assert request.path == "/hook"
    assert request.headers["webhook-id"] == delivery.message_id
    assert request.headers["webhook-signature"].startswith("v1,")
    assert request.headers["content-type"] == "application/json"
    # The receiver's own check, by the standardwebhooks package, with the endpoint's secret.
    payload = Webhook(endpoint.secret).verify(request.body, request.headers)
    assert payload["type"] == "appointment.booked"
    assert payload["data"]["appointment_id"] == appointment.pk
    assert payload["data"]["patient_id"] == patient.pk
    assert payload["data"]["doctor_id"] == doctor.pk
    assert payload["data"]["status"] == "pending"
    assert payload["data"]["start"] == next_monday_10.isoformat()
    # Another secret, or a changed body, does not verify.
    with pytest.raises(WebhookVerificationError):
        Webhook(webhooks.secret_generate()).verify(request.body, request.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(endpoint.secret).verify(request.body.replace("pending", "confirmed"), request.headers)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (Status.SENT, 1, 204)


def test_a_receiver_failing_twice_gets_the_event_on_the_third_try(
    endpoint, receiver, patient, doctor, next_monday_10, django_capture_on_commit_callbacks
):
    receiver.answers = [500, 503]
    with django_capture_on_commit_callbacks(execute=True):
        book(patient, doctor, next_monday_10)

    assert len(receiver.requests) == 3
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1  # the same message each time
    assert len({r.body for r in receiver.requests}) == 1
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (Status.SENT, 3, 204)
    assert WebhookEndpoint.objects.get().consecutive_failures == 0


@override_settings(WEBHOOKS_RETRY_SECONDS=[30, 120])
def test_a_failed_attempt_waits_its_backoff_and_the_schedule_sends_it_when_due(
    endpoint, receiver, patient, doctor, next_monday_10, django_capture_on_commit_callbacks
):
    receiver.answers = [500]
    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        book(patient, doctor, next_monday_10)
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (Status.PENDING, 1, 500)
    assert delivery.next_attempt_at >= before + timedelta(seconds=30)

    assert webhooks.deliveries_send_due() == "0 webhook deliveries queued"  # not due yet
    assert len(receiver.requests) == 1
    WebhookDelivery.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    assert webhooks.deliveries_send_due() == "1 webhook deliveries queued"
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, len(receiver.requests)) == (Status.SENT, 2, 2)


def test_the_schedule_queues_a_row_the_broker_never_got(endpoint, receiver, patient, doctor, next_monday_10):
    book(patient, doctor, next_monday_10)  # committed callbacks never run: the task was never queued
    WebhookDelivery.objects.update(created_at=timezone.now() - timedelta(hours=1))
    assert webhooks.deliveries_send_due() == "1 webhook deliveries queued"
    assert WebhookDelivery.objects.get().status == Status.SENT
    assert len(receiver.requests) == 1


@override_settings(WEBHOOKS_RETRY_SECONDS=[0, 0])
def test_after_the_last_attempt_the_delivery_is_failed(
    endpoint, receiver, patient, doctor, next_monday_10, django_capture_on_commit_callbacks
):
    receiver.default = 500
    with django_capture_on_commit_callbacks(execute=True):
        book(patient, doctor, next_monday_10)
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_error) == (Status.FAILED, 3, "HTTP 500")
    assert len(receiver.requests) == 3
    # A late duplicate of its task sends nothing.
    assert webhooks.delivery_send(delivery.pk) == "already failed: nothing to send"
    assert len(receiver.requests) == 3


def test_a_redirect_is_not_followed_and_counts_as_a_failure(
    db, receiver, patient, doctor, next_monday_10, django_capture_on_commit_callbacks
):
    make_endpoint(receiver.url("/moved"))
    receiver.answers = [("redirect", receiver.url("/elsewhere"))]
    with override_settings(WEBHOOKS_RETRY_SECONDS=[3600]), django_capture_on_commit_callbacks(execute=True):
        book(patient, doctor, next_monday_10)
    assert [r.path for r in receiver.requests] == ["/moved"]
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.last_status_code, delivery.last_error) == (Status.PENDING, 302, "HTTP 302")


@override_settings(WEBHOOKS_TIMEOUT=0.3, WEBHOOKS_RETRY_SECONDS=[3600])
def test_a_receiver_that_does_not_answer_in_time_is_a_failed_attempt(
    endpoint, receiver, patient, doctor, next_monday_10, django_capture_on_commit_callbacks
):
    receiver.answers = ["hold"]
    with django_capture_on_commit_callbacks(execute=True):
        book(patient, doctor, next_monday_10)
    receiver.release.set()
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == Status.PENDING
    assert "timed out" in delivery.last_error
    assert delivery.last_status_code is None


@override_settings(WEBHOOKS_RETRY_SECONDS=[0], WEBHOOKS_SWITCH_OFF_AFTER=2)
def test_an_endpoint_whose_deliveries_keep_failing_is_switched_off(
    endpoint, receiver, patient, doctor, next_monday_10, django_capture_on_commit_callbacks
):
    receiver.default = 500
    with django_capture_on_commit_callbacks(execute=True):
        appointment = book(patient, doctor, next_monday_10)
    endpoint.refresh_from_db()
    assert (endpoint.active, endpoint.consecutive_failures) == (True, 1)
    with django_capture_on_commit_callbacks(execute=True):
        booking.appointment_confirm(actor=doctor.user, appointment=appointment)
    endpoint.refresh_from_db()
    assert endpoint.active is False
    assert endpoint.switched_off_at is not None
    assert "2 failed deliveries in a row" in endpoint.switched_off_reason
    # Switched off: no more deliveries for it.
    with django_capture_on_commit_callbacks(execute=True):
        booking.appointment_cancel(actor=patient.user, appointment=appointment)
    assert WebhookDelivery.objects.count() == 2
    assert len(receiver.requests) == 4


def test_a_rolled_back_change_writes_no_delivery_and_posts_nothing(
    endpoint, receiver, patient, doctor, next_monday_10, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        book(patient, doctor, next_monday_10)
        assert WebhookDelivery.objects.count() == 1  # written in the change's transaction
        raise RuntimeError("the request fails after booking")
    assert WebhookDelivery.objects.count() == 0
    assert receiver.requests == []


def test_a_refused_series_writes_no_delivery(endpoint, receiver, patient, doctor, next_monday_10):
    booked = factories.AppointmentFactory(doctor=doctor, appointment_time=next_monday_10 + timedelta(weeks=1))
    with pytest.raises(booking.SeriesConflict):
        booking.series_book(
            actor=factories.ReceptionFactory(),
            patient=patient,
            doctor=doctor,
            start=next_monday_10,
            every_weeks=1,
            count=3,
        )
    assert booked.pk and WebhookDelivery.objects.count() == 0

    # With the taken week skipped, one delivery per visit booked.
    series = booking.series_book(
        actor=factories.ReceptionFactory(),
        patient=patient,
        doctor=doctor,
        start=next_monday_10,
        every_weeks=1,
        count=3,
        skip_conflicts=True,
    )
    rows = WebhookDelivery.objects.order_by("id")
    assert [row.payload["data"]["appointment_id"] for row in rows] == [a.pk for a in series.appointments]
    assert {row.payload["data"]["series_id"] for row in rows} == {series.series.pk}


def test_payloads_carry_ids_only_never_notes_reasons_or_names(
    endpoint, receiver, doctor, next_monday_10, django_capture_on_commit_callbacks
):
    patient = factories.PatientFactory(
        user__first_name="Zebulon", user__last_name="Quixote", user__email="zebulon@example.org", phone="+15550001111"
    )
    desk = factories.ReceptionFactory()
    with django_capture_on_commit_callbacks(execute=True):
        appointment = book(patient, doctor, next_monday_10, reason="Sensitive-chest-pain")
        factories.MedicalRecordFactory(appointment=appointment, notes="Secret-diagnosis")
        booking.appointment_confirm(actor=doctor.user, appointment=appointment)
        from clinic import accounts

        accounts.profile_update(actor=desk, profile=patient, changes={"phone": "+15550002222"})

    assert {r.json["type"] for r in receiver.requests} == {
        "appointment.booked",
        "appointment.confirmed",
        "patient.updated",
    }
    for request in receiver.requests:
        for secret in ("Sensitive", "Secret-diagnosis", "Zebulon", "Quixote", "zebulon@", "555000"):
            assert secret not in request.body
        assert set(request.json) == {"type", "timestamp", "data"}
    appointment_keys = {
        "appointment_id",
        "patient_id",
        "doctor_id",
        "status",
        "start",
        "end",
        "appointment_type_id",
        "series_id",
    }
    for request in receiver.requests:
        expected = {"patient_id", "user_id"} if request.json["type"].startswith("patient.") else appointment_keys
        assert set(request.json["data"]) == expected


def test_only_subscribed_active_endpoints_get_a_delivery(receiver, patient, doctor, next_monday_10):
    wanted = make_endpoint(receiver.url("/a"), events=[WebhookEvent.APPOINTMENT_BOOKED])
    make_endpoint(receiver.url("/b"), events=[WebhookEvent.APPOINTMENT_CANCELLED])
    make_endpoint(receiver.url("/c"), active=False)
    book(patient, doctor, next_monday_10)
    assert list(WebhookDelivery.objects.values_list("endpoint_id", "event")) == [(wanted.pk, "appointment.booked")]
