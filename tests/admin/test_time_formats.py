"""The admin shows day-first dates and 24-hour times, as the booking pages do (config/formats/)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import formats

from tests import factories

pytestmark = pytest.mark.django_db

TWELVE_HOUR_WORDS = re.compile(r"noon|midnight|a\.m\.|p\.m\.", re.IGNORECASE)


@pytest.fixture
def noon_and_half_past_three(next_monday_10):
    """Two appointments on one day, at 12:00 and at 15:30 in the clinic's zone (UTC in the tests)."""
    doctor = factories.DoctorFactory(user__first_name="Ines", user__last_name="Varga")
    at_noon = factories.AppointmentFactory(
        doctor=doctor, appointment_time=next_monday_10.replace(hour=12), patient__user__last_name="Okafor"
    )
    at_half_past_three = factories.AppointmentFactory(
        doctor=doctor, appointment_time=next_monday_10.replace(hour=15, minute=30), patient__user__last_name="Lindqvist"
    )
    return at_noon, at_half_past_three


def _assert_24_hour(page: str) -> None:
    assert TWELVE_HOUR_WORDS.findall(page) == []


def test_the_english_format_module_is_the_clinics():
    assert settings.LANGUAGE_CODE == "en-us"
    first_module = formats.get_format_modules(settings.LANGUAGE_CODE)[0]
    assert first_module.__name__ == "config.formats.en.formats"
    assert formats.get_format("TIME_FORMAT") == "H:i"
    assert formats.get_format("TIME_INPUT_FORMATS")[0] == "%H:%M"


def test_the_changelist_shows_appointment_times_on_the_24_hour_clock(admin_client_, noon_and_half_past_three):
    at_noon, _ = noon_and_half_past_three
    page = admin_client_.get(reverse("admin:clinic_appointment_changelist")).content.decode()
    day = at_noon.appointment_time
    assert f"{day:%a} {day.day} {day:%b %Y}, 12:00" in page
    assert f"{day:%a} {day.day} {day:%b %Y}, 15:30" in page
    _assert_24_hour(page)


def test_the_date_hierarchy_names_the_day_first(admin_client_, noon_and_half_past_three):
    day = noon_and_half_past_three[0].appointment_time
    page = admin_client_.get(
        reverse("admin:clinic_appointment_changelist"),
        {"appointment_time__year": day.year, "appointment_time__month": day.month},
    ).content.decode()
    assert f"{day.day} {day:%B}" in page
    _assert_24_hour(page)


@pytest.mark.parametrize(("index", "shown"), [(0, "12:00"), (1, "15:30")], ids=["noon", "half-past-three"])
def test_the_change_page_shows_the_time_on_the_24_hour_clock(admin_client_, noon_and_half_past_three, index, shown):
    appointment = noon_and_half_past_three[index]
    page = admin_client_.get(reverse("admin:clinic_appointment_change", args=[appointment.pk])).content.decode()
    # The time input, and the read-only end of the slot.
    assert f'name="appointment_time_1" value="{shown}"' in page
    ends = appointment.ends_at
    assert f"{ends:%a} {ends.day} {ends:%b %Y}, {ends:%H:%M}" in page
    _assert_24_hour(page)


def test_the_add_form_takes_a_time_as_hours_and_minutes(reception_client, patient, doctor, next_monday_10):
    start = next_monday_10.replace(hour=15, minute=30)
    response = reception_client.post(
        reverse("admin:clinic_appointment_add"),
        {
            "patient": str(patient.pk),
            "doctor": str(doctor.pk),
            "appointment_time_0": f"{start:%Y-%m-%d}",
            "appointment_time_1": "15:30",
            "reason": "Check-up",
            "medical_records-TOTAL_FORMS": "0",
            "medical_records-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    appointment = doctor.appointments.get()
    assert (appointment.appointment_time, appointment.ends_at) == (start, start + timedelta(minutes=30))
