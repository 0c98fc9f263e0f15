"""/appointment-series/: booking a course of visits (all or none, or skipping conflicts),
reading it, and cancelling from one visit on."""

from __future__ import annotations

from datetime import timedelta

import pytest

from clinic import booking
from clinic.models import Appointment, AppointmentSeries
from tests.api.conftest import client_for
from tests.factories import AppointmentFactory, PatientFactory

pytestmark = pytest.mark.django_db


def _iso(dt):
    return dt.isoformat().replace("+00:00", "Z")


def _series(patient, doctor, start, **extra):
    return {"patient": patient.pk, "doctor": doctor.pk, "appointment_time": _iso(start), "every_weeks": 1, **extra}


def test_reception_books_a_series_and_everyone_concerned_reads_it(reception, patient, doctor, next_monday_10):
    response = client_for(reception).post("/appointment-series/", _series(patient, doctor, next_monday_10, count=3))
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["patient"], body["doctor"], body["every_weeks"], body["count"], body["skipped"]) == (
        patient.pk,
        doctor.pk,
        1,
        3,
        [],
    )
    appointments = list(Appointment.objects.order_by("appointment_time"))
    assert body["appointments"] == [a.pk for a in appointments]
    assert [a.series_id for a in appointments] == [body["id"]] * 3
    url = f"/appointment-series/{body['id']}/"
    for user in (patient.user, doctor.user, reception):
        assert client_for(user).get(url).json()["appointments"] == body["appointments"]
    assert client_for(PatientFactory().user).get(url).status_code == 404
    assert client_for(patient.user).get(f"/appointments/{appointments[0].pk}/").json()["series"] == body["id"]


def test_a_conflict_answers_409_with_its_times_and_books_nothing(reception, patient, doctor, next_monday_10):
    taken = AppointmentFactory(doctor=doctor, appointment_time=next_monday_10 + timedelta(weeks=1))
    response = client_for(reception).post("/appointment-series/", _series(patient, doctor, next_monday_10, count=3))
    assert response.status_code == 409
    assert response.json() == {
        "detail": booking.SERIES_CONFLICTS.format(count=1),
        "code": "series_conflict",
        "conflicts": [_iso(taken.appointment_time)],
    }
    assert not Appointment.objects.filter(patient=patient).exists() and not AppointmentSeries.objects.exists()


def test_skip_conflicts_books_the_rest_and_lists_the_skipped(reception, patient, doctor, next_monday_10):
    taken = AppointmentFactory(doctor=doctor, appointment_time=next_monday_10 + timedelta(weeks=1))
    payload = _series(patient, doctor, next_monday_10, count=3, skip_conflicts=True)
    response = client_for(reception).post("/appointment-series/", payload)
    assert response.status_code == 201
    assert response.json()["skipped"] == [_iso(taken.appointment_time)]
    assert len(response.json()["appointments"]) == 2


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"every_weeks": 0}, "every_weeks"),
        ({"every_weeks": 5}, "every_weeks"),
        ({"count": 1}, "count"),
        ({"count": 27}, "count"),
    ],
)
def test_out_of_range_series_are_a_400_and_book_nothing(reception, patient, doctor, next_monday_10, change, field):
    response = client_for(reception).post(
        "/appointment-series/", {**_series(patient, doctor, next_monday_10, count=3), **change}
    )
    assert response.status_code == 400 and list(response.json()) == [field]
    assert not Appointment.objects.exists()


def test_patients_and_doctors_do_not_book_series(patient, doctor, next_monday_10):
    for user in (patient.user, doctor.user):
        response = client_for(user).post("/appointment-series/", _series(patient, doctor, next_monday_10, count=2))
        assert response.status_code == 403
    assert not Appointment.objects.exists()


def test_cancelling_from_a_visit_cancels_it_and_the_later_ones(reception, patient, doctor, next_monday_10):
    booked = (
        client_for(reception).post("/appointment-series/", _series(patient, doctor, next_monday_10, count=4)).json()
    )
    ids = booked["appointments"]
    response = client_for(reception).post(f"/appointment-series/{booked['id']}/cancel/", {"from": ids[2]})
    assert response.status_code == 200 and response.json() == {"cancelled": ids[2:]}
    statuses = dict(Appointment.objects.values_list("pk", "status"))
    assert [statuses[pk] for pk in ids] == ["pending", "pending", "cancelled", "cancelled"]
    other = AppointmentFactory(patient=patient, doctor=doctor, appointment_time=next_monday_10 + timedelta(days=1))
    refused = client_for(reception).post(f"/appointment-series/{booked['id']}/cancel/", {"from": other.pk})
    assert refused.status_code == 400 and refused.json() == {"from": [booking.NOT_IN_SERIES]}
