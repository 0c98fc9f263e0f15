"""/waitlist/: patients join and withdraw their own entries, the front desk anyone's; doctors
have none. A bad range or a bad choice of doctor and specialization is a 400 that writes nothing;
a booking that fits an entry ends it, and an entry past its last day expires."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from clinic import booking
from clinic.models import WaitlistEntry
from tests.api.conftest import client_for
from tests.factories import AppointmentTypeFactory

pytestmark = pytest.mark.django_db

Status = WaitlistEntry.Status


def _range(start_in_days: int = 1, days: int = 7) -> dict:
    first = timezone.localdate() + timedelta(days=start_in_days)
    return {"date_from": first.isoformat(), "date_to": (first + timedelta(days=days)).isoformat()}


def test_a_patient_joins_for_themselves_and_cannot_name_another(clinic):
    client = client_for(clinic.patient_a.user)
    someone_else = client.post("/waitlist/", {"doctor": clinic.doctor_x.pk, "patient": clinic.patient_b.pk, **_range()})
    assert someone_else.status_code == 400 and "patient" in someone_else.json()
    assert not WaitlistEntry.objects.exists()
    response = client.post("/waitlist/", {"doctor": clinic.doctor_x.pk, **_range()})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["patient"], body["doctor"], body["specialization"]) == (clinic.patient_a.pk, clinic.doctor_x.pk, "")
    assert (body["status"], body["part_of_day"]) == ("waiting", "any")
    entry = WaitlistEntry.objects.get()
    assert entry.created_by == clinic.patient_a.user


def test_the_front_desk_joins_for_a_patient_by_specialization_and_part_of_day(clinic):
    client = client_for(clinic.reception)
    missing = client.post("/waitlist/", {"specialization": "Cardiology", **_range()})
    assert missing.status_code == 400 and "patient" in missing.json()
    response = client.post(
        "/waitlist/",
        {"patient": clinic.patient_b.pk, "specialization": "Cardiology", "part_of_day": "morning", **_range()},
    )
    assert response.status_code == 201, response.json()
    assert WaitlistEntry.objects.get().part_of_day == "morning"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"date_from": 3, "date_to": 1}, "date_to"),
        ({"date_from": -3, "date_to": 2}, "date_from"),
        ({"date_from": 1, "date_to": 200}, "date_to"),
        ({"date_from": 1, "date_to": 5, "both": True}, "doctor"),
        ({"date_from": 1, "date_to": 5, "neither": True}, "doctor"),
        ({"date_from": 1, "date_to": 5, "specialization": "Astrology"}, "specialization"),
        ({"date_from": 1, "date_to": 5, "part_of_day": "night"}, "part_of_day"),
        ({"date_from": "tomorrow", "date_to": 5}, "date_from"),
    ],
)
def test_bad_input_is_a_400_on_its_field_and_writes_nothing(clinic, body, field):
    today = timezone.localdate()
    data = {}
    for name in ("date_from", "date_to"):
        value = body[name]
        data[name] = (today + timedelta(days=value)).isoformat() if isinstance(value, int) else value
    if body.get("both"):
        data.update(doctor=clinic.doctor_x.pk, specialization="Cardiology")
    elif body.get("specialization"):
        data["specialization"] = body["specialization"]
    elif not body.get("neither"):
        data["doctor"] = clinic.doctor_x.pk
    if "part_of_day" in body:
        data["part_of_day"] = body["part_of_day"]
    response = client_for(clinic.patient_a.user).post("/waitlist/", data)
    assert response.status_code == 400, response.json()
    assert field in response.json()
    assert not WaitlistEntry.objects.exists()


def test_a_type_must_be_one_the_doctor_or_the_specialization_offers(clinic):
    kind = AppointmentTypeFactory(doctors=[clinic.doctor_y])
    client = client_for(clinic.patient_a.user)
    refused = client.post("/waitlist/", {"doctor": clinic.doctor_x.pk, "appointment_type": kind.pk, **_range()})
    assert refused.status_code == 400 and "appointment_type" in refused.json()
    refused = client.post("/waitlist/", {"specialization": "Cardiology", "appointment_type": kind.pk, **_range()})
    assert refused.status_code == 400 and "appointment_type" in refused.json()
    accepted = client.post("/waitlist/", {"specialization": "Dermatology", "appointment_type": kind.pk, **_range()})
    assert accepted.status_code == 201, accepted.json()
    assert WaitlistEntry.objects.count() == 1


def test_each_role_sees_only_what_it_may(clinic):
    a = booking.waitlist_join(actor=clinic.reception, patient=clinic.patient_a, doctor=clinic.doctor_x, **_dates())
    b = booking.waitlist_join(actor=clinic.reception, patient=clinic.patient_b, doctor=clinic.doctor_y, **_dates())
    seen = {
        role: client_for(clinic.user(role)).get("/waitlist/")
        for role in ("patient_a", "patient_b", "doctor_x", "reception", "admin")
    }
    assert [row["id"] for row in seen["patient_a"].json()["results"]] == [a.pk]
    assert [row["id"] for row in seen["patient_b"].json()["results"]] == [b.pk]
    assert seen["doctor_x"].status_code == 403
    assert [row["id"] for row in seen["reception"].json()["results"]] == [a.pk, b.pk]
    assert [row["id"] for row in seen["admin"].json()["results"]] == [a.pk, b.pk]
    assert client_for(clinic.patient_a.user).get(f"/waitlist/{b.pk}/").status_code == 404
    assert client_for(clinic.patient_a.user).delete(f"/waitlist/{b.pk}/").status_code == 404
    assert client_for(None).get("/waitlist/").status_code == 401


def test_withdrawing_keeps_the_entry_as_withdrawn_and_only_once(clinic):
    entry = booking.waitlist_join(
        actor=clinic.patient_a.user, patient=clinic.patient_a, doctor=clinic.doctor_x, **_dates()
    )
    client = client_for(clinic.patient_a.user)
    assert client.delete(f"/waitlist/{entry.pk}/").status_code == 204
    entry.refresh_from_db()
    assert entry.status == Status.WITHDRAWN
    again = client.delete(f"/waitlist/{entry.pk}/")
    assert again.status_code == 400 and "withdrawn" in again.json()["detail"]


def test_a_booking_that_fits_ends_the_patient_s_entry_and_no_one_else_s(clinic, next_monday_10):
    day = next_monday_10.date()
    dates = {"date_from": day, "date_to": day + timedelta(days=2)}
    mine = booking.waitlist_join(actor=clinic.reception, patient=clinic.patient_b, specialization="Cardiology", **dates)
    afternoon = booking.waitlist_join(
        actor=clinic.reception, patient=clinic.patient_b, doctor=clinic.doctor_x, part_of_day="afternoon", **dates
    )
    other = booking.waitlist_join(actor=clinic.reception, patient=clinic.patient_a, doctor=clinic.doctor_x, **dates)
    booking.appointment_book(
        actor=clinic.patient_b.user,
        patient=clinic.patient_b,
        doctor=clinic.doctor_x,
        start=next_monday_10 + timedelta(hours=1),
    )
    statuses = {e.pk: e.status for e in WaitlistEntry.objects.all()}
    # 11:00 with a cardiologist: the specialization entry is done, the afternoon one and patient A's wait on.
    assert statuses == {mine.pk: Status.BOOKED, afternoon.pk: Status.WAITING, other.pk: Status.WAITING}


def test_entries_past_their_last_day_expire(clinic):
    entry = booking.waitlist_join(actor=clinic.reception, patient=clinic.patient_a, doctor=clinic.doctor_x, **_dates())
    with time_machine.travel(timezone.now() + timedelta(days=8)):
        assert booking.waitlist_expire() == 0
    with time_machine.travel(timezone.now() + timedelta(days=10)):
        assert booking.waitlist_expire() == 1
    entry.refresh_from_db()
    assert entry.status == Status.EXPIRED


def _dates(start_in_days: int = 1, days: int = 7) -> dict:
    first = timezone.localdate() + timedelta(days=start_in_days)
    return {"date_from": first, "date_to": first + timedelta(days=days)}


@pytest.mark.parametrize("entries", [1, 5])
def test_the_list_runs_the_same_queries_however_many_entries(clinic, entries, django_assert_num_queries):
    for n in range(entries):
        booking.waitlist_join(
            actor=clinic.reception, patient=clinic.patient_a, doctor=clinic.doctor_x, **_dates(days=n)
        )
    client = client_for(clinic.reception)
    # the user's role flags, the count, the page of entries
    with django_assert_num_queries(3):
        assert client.get("/waitlist/").status_code == 200
