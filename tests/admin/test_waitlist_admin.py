"""The waitlist in the admin: the front desk puts a patient on it through booking.waitlist_join
(its refusals are form errors that write nothing), lists the entries, and withdraws them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from clinic.models import WaitlistEntry
from tests import factories

pytestmark = pytest.mark.django_db

ADD = "admin:clinic_waitlistentry_add"
CHANGELIST = "admin:clinic_waitlistentry_changelist"


def _form(patient, doctor, *, days: int = 7, **extra) -> dict[str, str]:
    first = timezone.localdate() + timedelta(days=1)
    return {
        "patient": str(patient.pk),
        "doctor": str(doctor.pk) if doctor else "",
        "specialization": "",
        "appointment_type": "",
        "date_from": first.isoformat(),
        "date_to": (first + timedelta(days=days)).isoformat(),
        "part_of_day": "any",
        **extra,
    }


def test_reception_adds_an_entry_for_a_patient(reception_client, reception, patient, doctor):
    page = reception_client.get(reverse(ADD), {"doctor": doctor.pk, "patient": patient.pk})
    assert page.status_code == 200
    response = reception_client.post(reverse(ADD), _form(patient, doctor))
    assert response.status_code == 302, response.context["adminform"].form.errors
    entry = WaitlistEntry.objects.get()
    assert (entry.patient, entry.doctor, entry.created_by, entry.status) == (patient, doctor, reception, "waiting")


def test_a_refused_entry_is_a_form_error_and_writes_nothing(reception_client, patient, doctor):
    response = reception_client.post(reverse(ADD), _form(patient, doctor, days=400))
    assert response.status_code == 200
    assert "Bookings open 90 days ahead" in response.content.decode()
    response = reception_client.post(reverse(ADD), _form(patient, None))
    assert "Name a doctor or a specialization" in response.content.decode()
    assert not WaitlistEntry.objects.exists()


def test_the_withdraw_action_withdraws_open_entries_only(reception_client, patient, doctor):
    day = timezone.localdate() + timedelta(days=2)
    waiting = WaitlistEntry.objects.create(patient=patient, doctor=doctor, date_from=day, date_to=day)
    booked = WaitlistEntry.objects.create(patient=patient, doctor=doctor, date_from=day, date_to=day, status="booked")
    response = reception_client.post(
        reverse(CHANGELIST), {"action": "withdraw", "_selected_action": [waiting.pk, booked.pk]}, follow=True
    )
    text = response.content.decode()
    waiting.refresh_from_db()
    booked.refresh_from_db()
    assert (waiting.status, booked.status) == ("withdrawn", "booked")
    assert "Withdrew 1 waitlist place." in text and "only a waiting entry can be withdrawn" in text


def test_doctors_have_no_waitlist_in_the_admin(doctor_client):
    assert doctor_client.get(reverse(CHANGELIST)).status_code == 403


def test_the_changelist_lists_who_waits_for_what(reception_client, patient):
    day = timezone.localdate() + timedelta(days=2)
    factories.DoctorFactory(specialization="Cardiology")
    WaitlistEntry.objects.create(patient=patient, specialization="Cardiology", date_from=day, date_to=day)
    text = reception_client.get(reverse(CHANGELIST)).content.decode()
    assert "any Cardiology doctor" in text and str(patient) in text


def test_time_off_removed_in_the_admin_is_offered_and_the_offers_show_on_the_entry(
    reception_client, doctor, patient, next_monday_10, django_capture_on_commit_callbacks
):
    from clinic.models import TimeOff, WaitlistOffer

    away = factories.TimeOffFactory(
        doctor=doctor, starts_at=next_monday_10, ends_at=next_monday_10 + timedelta(minutes=30)
    )
    entry = factories.waitlist_entry(patient, doctor, day=next_monday_10.date())
    with django_capture_on_commit_callbacks(execute=True):
        response = reception_client.post(reverse("admin:clinic_timeoff_delete", args=[away.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not TimeOff.objects.filter(pk=away.pk).exists()
    offer = WaitlistOffer.objects.get()
    assert (offer.entry, offer.doctor, offer.start) == (entry, doctor, next_monday_10)

    page = reception_client.get(reverse("admin:clinic_waitlistentry_change", args=[entry.pk]))
    assert "offers sent" in page.content.decode().lower()
    assert f"{next_monday_10:%H:%M}" in page.content.decode()
    offers = reception_client.get(reverse("admin:clinic_waitlistoffer_changelist"))
    assert offers.status_code == 200 and str(patient) in offers.content.decode()
