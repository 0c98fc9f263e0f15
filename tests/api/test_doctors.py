"""/doctors/ and /doctors/{id}/slots/."""

from __future__ import annotations

from datetime import time, timedelta

import pytest

from clinic.models import Doctor
from tests.api.conftest import client_for
from tests.factories import AppointmentFactory, DoctorFactory

pytestmark = pytest.mark.django_db


def test_doctors_list_filters_by_specialization(patient):
    cardio = DoctorFactory(specialization="Cardiology")
    DoctorFactory(specialization="Dermatology")
    response = client_for(patient.user).get("/doctors/", {"specialization": "cardiology"})
    assert [row["id"] for row in response.json()["results"]] == [cardio.pk]
    row = response.json()["results"][0]
    assert set(row) == {
        "id",
        "user_id",
        "username",
        "email",
        "first_name",
        "last_name",
        "specialization",
        "available_from",
        "available_to",
        "slot_minutes",
        "working_days",
    }


def test_reception_creates_a_doctor(reception):
    response = client_for(reception).post(
        "/doctors/",
        {
            "username": "dr.who",
            "email": "who@example.test",
            "specialization": "Time",
            "available_from": "08:00",
            "available_to": "12:00",
            "slot_minutes": 20,
            "working_days": [0, 2],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    doctor = Doctor.objects.get(pk=response.json()["id"])
    assert doctor.available_from == time(8, 0) and doctor.working_days == [0, 2]


def test_a_doctor_edits_own_hours_but_not_username(doctor):
    client = client_for(doctor.user)
    url = f"/doctors/{doctor.pk}/"
    assert client.patch(url, {"available_to": "18:00", "working_days": [0, 1]}, format="json").status_code == 200
    doctor.refresh_from_db()
    assert doctor.available_to == time(18, 0)
    assert client.patch(url, {"username": "boss"}).status_code == 400


@pytest.mark.parametrize(
    "payload",
    [
        {"available_from": "18:00"},  # after available_to
        {"working_days": [7]},
        {"working_days": [1, 1]},
        {"slot_minutes": 0},
        {"available_to": "25:00"},
    ],
)
def test_invalid_doctor_hours_answer_400(doctor, payload):
    response = client_for(doctor.user).patch(f"/doctors/{doctor.pk}/", payload, format="json")
    assert response.status_code == 400, response.json()
    assert set(response.json()) <= {"non_field_errors", *payload}


def test_slots_lists_the_free_starts_of_a_day(patient, doctor, next_monday_10):
    AppointmentFactory(doctor=doctor, appointment_time=next_monday_10)
    response = client_for(patient.user).get(f"/doctors/{doctor.pk}/slots/", {"date": next_monday_10.date().isoformat()})
    assert response.status_code == 200
    body = response.json()
    assert body["doctor"] == doctor.pk and body["date"] == next_monday_10.date().isoformat()
    assert len(body["slots"]) == 15  # 09:00–17:00 every 30 minutes, minus the taken 10:00
    assert next_monday_10.isoformat().replace("+00:00", "Z") not in body["slots"]
    assert (next_monday_10 + timedelta(minutes=30)).isoformat().replace("+00:00", "Z") in body["slots"]


@pytest.mark.parametrize("query", [{}, {"date": "tomorrow"}, {"date": "2026-02-30"}])
def test_slots_need_a_valid_date(patient, doctor, query):
    response = client_for(patient.user).get(f"/doctors/{doctor.pk}/slots/", query)
    assert response.status_code == 400 and "date" in response.json()


def test_slots_of_an_unknown_doctor_are_404_and_anonymous_is_401(patient, doctor):
    assert client_for(patient.user).get("/doctors/99999/slots/", {"date": "2030-01-01"}).status_code == 404
    assert client_for(None).get(f"/doctors/{doctor.pk}/slots/", {"date": "2030-01-01"}).status_code == 401
