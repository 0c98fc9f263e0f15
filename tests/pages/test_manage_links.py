"""/a/<token>/: the manage link of a patient's notice. It opens one appointment without
signing in, under the patient's own rules, and a stale, tampered or expired link changes nothing."""

from __future__ import annotations

import io
import logging
import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail, signing
from django.test import Client, override_settings

from clinic import access, booking, views
from clinic.emails import manage_url
from clinic.models import Appointment
from tests import factories

pytestmark = pytest.mark.django_db

Status = Appointment.Status
OUT_OF_DATE = "This link is out of date"


@pytest.fixture
def upcoming(patient, gp, slot):
    return factories.AppointmentFactory(patient=patient, doctor=gp, appointment_time=slot, reason="Check-up")


def link(appointment: Appointment) -> str:
    return f"/a/{access.manage_token(appointment)}/"


def links_in(message) -> list[str]:
    return re.findall(r"/a/[^/\s\"<>]+/", message.body)


def history_users(appointment: Appointment) -> list:
    return [row.history_user for row in appointment.history.order_by("history_date")]


# --- The token -----------------------------------------------------------------------


def test_a_token_opens_its_appointment_and_nothing_else(upcoming, gp, slot):
    other = factories.AppointmentFactory(doctor=gp, appointment_time=slot + timedelta(hours=1))
    assert access.appointment_for_manage_token(access.manage_token(upcoming)) == upcoming
    assert access.appointment_for_manage_token(access.manage_token(other)) == other


def test_a_token_is_bound_to_the_sequence_of_its_notice(upcoming):
    old = access.manage_token(upcoming)
    Appointment.objects.filter(pk=upcoming.pk).update(sequence=1)
    upcoming.refresh_from_db()
    assert access.appointment_for_manage_token(old) is None
    assert access.appointment_for_manage_token(access.manage_token(upcoming)) == upcoming
    assert access.manage_token(upcoming, sequence=0) == old


def test_another_appointments_id_under_a_valid_signature_opens_nothing(upcoming, gp, slot):
    other = factories.AppointmentFactory(doctor=gp, appointment_time=slot + timedelta(hours=1))
    signature = access.manage_token(upcoming).rsplit(":", 1)[1]
    forged_payload = signing.b64_encode(f"[{other.pk},0]".encode()).decode()
    assert access.appointment_for_manage_token(f"{forged_payload}:{signature}") is None
    # Signed with another key (or for another purpose), a well-formed token opens nothing either.
    with override_settings(SECRET_KEY="another-key-" + "y" * 50):
        resigned = access.manage_token(other)
    assert access.appointment_for_manage_token(resigned) is None
    assert access.appointment_for_manage_token(signing.Signer().sign_object([other.pk, 0])) is None


def test_the_link_expires_at_the_start(upcoming, slot):
    token = access.manage_token(upcoming)
    with time_machine.travel(slot - timedelta(minutes=1), tick=False):
        assert access.appointment_for_manage_token(token) == upcoming
    with time_machine.travel(slot, tick=False):
        assert access.appointment_for_manage_token(token) is None
        response = Client().get(f"/a/{token}/")
    assert response.status_code == 404 and OUT_OF_DATE in response.content.decode()


@pytest.mark.parametrize("status", [Status.CANCELLED, Status.ARRIVED, Status.COMPLETED, Status.NO_SHOW])
def test_only_a_live_appointment_opens(upcoming, status):
    Appointment.objects.filter(pk=upcoming.pk).update(status=status)
    assert access.appointment_for_manage_token(access.manage_token(upcoming)) is None


def test_an_inactive_patient_s_link_opens_nothing(upcoming, patient):
    patient.user.is_active = False
    patient.user.save()
    assert access.appointment_for_manage_token(access.manage_token(upcoming)) is None


@pytest.mark.parametrize(
    "broken",
    [
        lambda t: t[:-1],
        lambda t: t[: len(t) // 2],
        lambda t: t.split(":")[0],
        lambda t: t + "x",
        lambda t: "x" + t,
        lambda t: t.replace(":", "::"),
        lambda t: "not-a-token",
        lambda t: "%C3%A9%00",
        lambda t: signing.b64_encode(b'{"a": 1}').decode() + ":" + t.rsplit(":", 1)[1],
    ],
)
def test_a_broken_link_shows_the_friendly_page_and_changes_nothing(upcoming, broken):
    token = broken(access.manage_token(upcoming))
    client = Client()
    for response in (client.get(f"/a/{token}/"), client.post(f"/a/{token}/", {"action": "cancel"})):
        html = response.content.decode()
        assert response.status_code == 404
        assert OUT_OF_DATE in html and "+1 555 0100" in html
        assert upcoming.doctor.user.last_name not in html
    upcoming.refresh_from_db()
    assert upcoming.status == Status.PENDING


# --- The page --------------------------------------------------------------------------


def test_the_page_shows_the_appointment_without_medical_data(upcoming, patient, gp):
    factories.MedicalRecordFactory(
        appointment=factories.AppointmentFactory(
            patient=patient, doctor=gp, appointment_time=datetime.now(UTC) - timedelta(days=7)
        ),
        notes="Secret clinical finding",
    )
    response = Client().get(link(upcoming))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Grey" in html and f"{upcoming.appointment_time:%H:%M}" in html
    assert "1 River Street, Springfield" in html and "+1 555 0100" in html
    assert "Secret clinical finding" not in html and patient.insurance_number not in html
    assert ">Reschedule<" in html and "Cancel…" in html


@pytest.mark.parametrize("valid", [True, False])
def test_the_page_sends_no_referrer_and_is_never_stored(upcoming, valid):
    response = Client().get(link(upcoming) if valid else "/a/tampered:token/")
    assert response["Referrer-Policy"] == "no-referrer"
    assert "no-store" in response["Cache-Control"]


def test_cancel_asks_first_then_cancels_as_the_patient(upcoming, patient, django_capture_on_commit_callbacks):
    client = Client()
    asked = client.get(link(upcoming), {"action": "cancel"}).content.decode()
    assert "Cancel this appointment?" in asked
    upcoming.refresh_from_db()
    assert upcoming.status == Status.PENDING

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(link(upcoming), {"action": "cancel"})
    upcoming.refresh_from_db()
    assert response.status_code == 200 and views.MANAGE_CANCELLED in response.content.decode()
    assert upcoming.status == Status.CANCELLED
    assert history_users(upcoming)[-1] == patient.user
    (notice,) = mail.outbox
    assert "cancelled" in notice.subject
    # Cancelled, the appointment has no link any more, and the old one shows the friendly page.
    assert links_in(notice) == []
    assert client.get(f"/a/{access.manage_token(upcoming, sequence=0)}/").status_code == 404


def test_reschedule_offers_the_doctor_s_free_slots_and_moves_it(
    upcoming, patient, gp, slot, django_capture_on_commit_callbacks
):
    factories.AppointmentFactory(doctor=gp, appointment_time=slot + timedelta(minutes=30))
    old = link(upcoming)
    client = Client()
    picker = client.get(old, {"action": "reschedule", "date": slot.date().isoformat()}).content.decode()
    assert f'value="{(slot + timedelta(hours=1)).isoformat()}"' in picker
    # The slot taken by someone else is not offered.
    assert f'value="{(slot + timedelta(minutes=30)).isoformat()}"' not in picker

    new_start = slot + timedelta(hours=2)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(old, {"action": "reschedule", "slot": new_start.isoformat()})
    upcoming.refresh_from_db()
    assert upcoming.appointment_time == new_start
    assert history_users(upcoming)[-1] == patient.user
    # The page carries on under the new link; the old one is stale.
    assert response.status_code == 302 and response["Location"] == link(upcoming) != old
    page = client.get(response["Location"]).content.decode()
    assert "Your appointment has moved to" in page and f"{new_start:%H:%M}" in page
    assert client.get(old).status_code == 404
    # The rescheduled notice carries the new link.
    (notice,) = mail.outbox
    assert links_in(notice) == [link(upcoming)]


def test_a_taken_slot_answers_409_and_keeps_the_appointment(upcoming, gp, slot):
    taken = slot + timedelta(hours=1)
    factories.AppointmentFactory(doctor=gp, appointment_time=taken)
    response = Client().post(link(upcoming), {"action": "reschedule", "slot": taken.isoformat()})
    upcoming.refresh_from_db()
    assert response.status_code == 409 and upcoming.appointment_time == slot
    assert "already has an appointment" in response.content.decode()


def test_a_bad_slot_value_is_a_form_error(upcoming, slot):
    response = Client().post(link(upcoming), {"action": "reschedule", "slot": "tomorrow-ish"})
    upcoming.refresh_from_db()
    assert response.status_code == 400 and upcoming.appointment_time == slot


def test_inside_the_cutoff_the_page_offers_nothing_and_says_why(patient, gp):
    soon = (datetime.now(UTC) + timedelta(hours=5)).replace(second=0, microsecond=0)
    appointment = factories.AppointmentFactory(patient=patient, doctor=gp, appointment_time=soon)
    client = Client()
    html = client.get(link(appointment)).content.decode()
    assert ">Reschedule<" not in html and "Cancel…" not in html
    assert "cannot be changed online within 24 hours" in html and "+1 555 0100" in html
    response = client.post(link(appointment), {"action": "cancel"})
    appointment.refresh_from_db()
    assert response.status_code == 400 and appointment.status == Status.PENDING


def test_a_signed_in_visitor_acts_as_the_link_s_patient_not_as_themselves(upcoming, patient, reception):
    client = Client()
    client.force_login(reception)
    client.post(link(upcoming), {"action": "cancel"})
    upcoming.refresh_from_db()
    assert upcoming.status == Status.CANCELLED
    assert history_users(upcoming)[-1] == patient.user


@override_settings(REST_FRAMEWORK={"DEFAULT_THROTTLE_RATES": {"manage-links": "3/minute"}})
def test_requests_are_throttled_per_address(upcoming):
    token = access.manage_token(upcoming)
    here, elsewhere = Client(REMOTE_ADDR="10.0.0.1"), Client(REMOTE_ADDR="10.0.0.2")
    assert [here.get(f"/a/{token}/").status_code for _ in range(3)] == [200, 200, 200]
    refused = here.post(f"/a/{token}/", {"action": "cancel"})
    assert refused.status_code == 429 and views.MANAGE_THROTTLED in refused.content.decode()
    assert 0 < int(refused["Retry-After"]) <= 60
    upcoming.refresh_from_db()
    assert upcoming.status == Status.PENDING
    assert elsewhere.get(f"/a/{token}/").status_code == 200


# --- Notices carry the link --------------------------------------------------------------


def test_every_notice_of_a_live_appointment_carries_its_link(
    patient, gp, slot, reception, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        appointment = booking.appointment_book(actor=patient.user, patient=patient, doctor=gp, start=slot)
        booking.appointment_confirm(actor=reception, appointment=appointment)
    booked, confirmed = mail.outbox
    assert links_in(booked) == links_in(confirmed) == [link(appointment)]
    html = booked.alternatives[0][0]
    assert f'href="{manage_url(appointment)}"' in html and manage_url(appointment).startswith("http://")


# --- Logs --------------------------------------------------------------------------------


def test_the_logs_write_the_path_without_the_token(upcoming, settings):
    """Django's own log lines (a 404 here) go through the configured filter (settings.LOGGING)."""
    settings.DEBUG = False
    handler = next(h for h in logging.getLogger().handlers if h.get_name() == "console")
    stream = io.StringIO()
    previous = handler.setStream(stream)
    try:
        token = access.manage_token(upcoming)
        Client().get(f"/a/{token[:-2]}/")
    finally:
        handler.setStream(previous)
    logged = stream.getvalue()
    assert "/a/…/" in logged
    assert token[:-2] not in logged and token.split(":")[0] not in logged


def test_reschedule_opens_on_the_doctor_s_first_day_with_a_free_slot(patient, slot):
    doctor = factories.DoctorFactory(available_from=slot.time(), available_to=(slot + timedelta(hours=1)).time())
    appointment = factories.AppointmentFactory(patient=patient, doctor=doctor, appointment_time=slot)
    factories.AppointmentFactory(doctor=doctor, appointment_time=slot + timedelta(minutes=30))
    picker = Client().get(link(appointment), {"action": "reschedule"}).content.decode()
    next_day = slot + timedelta(days=1)
    assert f'value="{next_day.date().isoformat()}"' in picker
    assert f'value="{next_day.isoformat()}"' in picker


def test_the_page_runs_a_fixed_number_of_queries(upcoming, django_assert_num_queries):
    client = Client()
    # 1. the appointment with its doctor, patient and type, 2. the patient's role flags
    with django_assert_num_queries(2):
        assert client.get(link(upcoming)).status_code == 200
