"""Each event is written by the service that makes the change (clinic/booking.py and
clinic/accounts.py), once per change, whichever channel called the service."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from clinic import accounts, booking
from clinic.models import WebhookDelivery, WebhookEndpoint
from tests import factories
from tests.webhooks.conftest import make_endpoint

pytestmark = pytest.mark.django_db


@pytest.fixture
def hooked(db) -> WebhookEndpoint:
    # Nothing listens there: these tests read the deliveries written, not what is posted.
    return make_endpoint("http://127.0.0.1:9/hook")


def events(**filters) -> list[tuple[str, int | None]]:
    return [
        (row.event, row.payload["data"].get("appointment_id") or row.payload["data"].get("patient_id"))
        for row in WebhookDelivery.objects.filter(**filters).order_by("id")
    ]


def test_the_appointment_lifecycle_emits_one_event_per_change(hooked, patient, doctor, next_monday_10):
    desk = factories.ReceptionFactory()
    visit = booking.appointment_book(actor=patient.user, patient=patient, doctor=doctor, start=next_monday_10)
    booking.appointment_confirm(actor=doctor.user, appointment=visit)
    visit = booking.appointment_reschedule(
        actor=patient.user, appointment=visit, start=next_monday_10 + timedelta(hours=1)
    )
    start = visit.appointment_time
    booking.appointment_check_in(actor=desk, appointment=visit, now=start)
    booking.appointment_start(actor=desk, appointment=visit, now=start + timedelta(minutes=1))  # no event
    booking.appointment_complete(actor=desk, appointment=visit, now=start + timedelta(minutes=20))

    missed = booking.appointment_book(actor=desk, patient=patient, doctor=doctor, start=next_monday_10, confirm=True)
    late = next_monday_10 + timedelta(minutes=settings.NO_SHOW_GRACE_MINUTES + 1)
    booking.appointment_no_show(actor=desk, appointment=missed, now=late)

    gone = booking.appointment_book(
        actor=patient.user, patient=patient, doctor=doctor, start=next_monday_10 + timedelta(days=1)
    )
    booking.appointment_cancel(actor=patient.user, appointment=gone)

    assert events() == [
        ("appointment.booked", visit.pk),
        ("appointment.confirmed", visit.pk),
        ("appointment.rescheduled", visit.pk),
        ("appointment.arrived", visit.pk),
        ("appointment.completed", visit.pk),
        ("appointment.booked", missed.pk),
        ("appointment.no_show", missed.pk),
        ("appointment.booked", gone.pk),
        ("appointment.cancelled", gone.pk),
    ]
    statuses = [row.payload["data"]["status"] for row in WebhookDelivery.objects.order_by("id")]
    assert statuses == [
        *("pending", "confirmed", "confirmed", "arrived", "completed"),
        *("confirmed", "no_show", "pending", "cancelled"),
    ]
    moved = WebhookDelivery.objects.get(event="appointment.rescheduled")
    assert moved.payload["data"]["start"] == (next_monday_10 + timedelta(hours=1)).isoformat()


def test_a_series_emits_a_booking_per_visit(hooked, patient, doctor, next_monday_10):
    desk = factories.ReceptionFactory()
    made = booking.series_book(actor=desk, patient=patient, doctor=doctor, start=next_monday_10, every_weeks=1, count=3)
    assert events() == [("appointment.booked", visit.pk) for visit in made.appointments]
    booking.series_cancel_from(actor=desk, appointment=made.appointments[1])
    assert events(event="appointment.cancelled") == [
        ("appointment.cancelled", visit.pk) for visit in made.appointments[1:]
    ]


def test_the_api_and_the_admin_emit_through_the_same_services(hooked, patient, doctor, next_monday_10):
    api = APIClient()
    api.force_authenticate(patient.user)
    response = api.post(
        "/book-appointment/", {"doctor": doctor.pk, "appointment_time": next_monday_10.isoformat()}, format="json"
    )
    assert response.status_code == 201, response.json()
    assert events() == [("appointment.booked", response.json()["id"])]

    api.force_authenticate(doctor.user)
    response = api.patch(f"/appointments/{response.json()['id']}/", {"status": "confirmed"}, format="json")
    assert response.status_code == 200, response.json()
    assert [event for event, _ in events()] == ["appointment.booked", "appointment.confirmed"]


def test_patients_created_and_updated_emit_their_events(hooked, clinic_admin):
    signed_up = accounts.patient_register(username="newcomer", email="new@example.test", password="Sturdy-passw0rd!")
    desk = factories.ReceptionFactory()
    made = accounts.patient_create(actor=desk, username="walkin", email="walkin@example.test", phone="+1555")
    assert events() == [("patient.created", signed_up.pk), ("patient.created", made.pk)]

    accounts.profile_update(actor=desk, profile=made, changes={"phone": "+1556"})
    accounts.profile_update(actor=desk, profile=made, changes={"phone": "+1556"})  # no change: no event
    accounts.profile_update(actor=desk, profile=made, changes={"first_name": "Walk"})
    assert events(event="patient.updated") == [("patient.updated", made.pk), ("patient.updated", made.pk)]

    # A doctor is not a patient: their changes tell nothing.
    staff_doctor = accounts.doctor_create(
        actor=desk, username="drnew", email="dr@example.test", specialization="General"
    )
    accounts.profile_update(actor=desk, profile=staff_doctor, changes={"specialization": "Cardiology"})
    assert WebhookDelivery.objects.count() == 4


def test_the_clinic_admin_editing_a_patients_login_emits_patient_updated(hooked, clinic_admin, patient, doctor):
    user = patient.user
    user.first_name = "Renamed"
    accounts.user_update(actor=clinic_admin, user=user, changed=["first_name"])
    user.is_active = False
    accounts.user_update(actor=clinic_admin, user=user, changed=["is_active"])
    assert events() == [("patient.updated", patient.pk), ("patient.updated", patient.pk)]
    # Not part of the patient as integrators see it, or not a patient's login: nothing.
    user.username = "renamed-login"
    accounts.user_update(actor=clinic_admin, user=user, changed=["username"])
    doctor.user.first_name = "Doc"
    accounts.user_update(actor=clinic_admin, user=doctor.user, changed=["first_name"])
    assert WebhookDelivery.objects.count() == 2


def test_the_signup_api_emits_patient_created(hooked):
    response = APIClient().post(
        "/registrations/",
        {"username": "newcomer", "email": "newcomer@example.test", "password": "Sturdy-passw0rd!"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert events() == [("patient.created", response.json()["id"])]
