"""/appointment-types/ and booking by type through the API: who reads and writes types, the
slots of a type, and bad input that writes nothing."""

from __future__ import annotations

from datetime import time, timedelta

import pytest

from clinic import booking
from clinic.models import Appointment, AppointmentType
from tests.api.conftest import client_for
from tests.factories import AppointmentTypeFactory, DoctorFactory, PatientFactory

pytestmark = pytest.mark.django_db

NEW = {"name": "Consultation", "duration_minutes": 45, "buffer_after_minutes": 10, "color": "#2b6cb0"}


def _iso(dt):
    return dt.isoformat().replace("+00:00", "Z")


def test_reception_creates_a_type_with_its_doctors(reception, doctor):
    response = client_for(reception).post("/appointment-types/", {**NEW, "doctors": [doctor.pk]}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json() == {
        "id": response.json()["id"],
        "name": "Consultation",
        "duration_minutes": 45,
        "buffer_before_minutes": 0,
        "buffer_after_minutes": 10,
        "color": "#2b6cb0",
        "bookable_online": True,
        "active": True,
        "doctors": [doctor.pk],
    }


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"duration_minutes": 4}, "duration_minutes"),
        ({"duration_minutes": 481}, "duration_minutes"),
        ({"buffer_before_minutes": -1}, "buffer_before_minutes"),
        ({"buffer_after_minutes": 121}, "buffer_after_minutes"),
        ({"color": "teal"}, "color"),
        ({"doctors": [999999]}, "doctors"),
    ],
)
def test_a_type_out_of_range_is_a_field_error_and_writes_nothing(reception, change, field):
    response = client_for(reception).post("/appointment-types/", {**NEW, **change}, format="json")
    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert not AppointmentType.objects.exists()


def test_a_taken_name_is_a_field_error(reception):
    AppointmentTypeFactory(name="Consultation")
    response = client_for(reception).post("/appointment-types/", NEW, format="json")
    assert response.status_code == 400 and "name" in response.json()


def test_patients_and_doctors_read_types_but_do_not_write_them(patient, doctor):
    kind = AppointmentTypeFactory()
    for user in (patient.user, doctor.user):
        client = client_for(user)
        assert client.post("/appointment-types/", NEW, format="json").status_code == 403
        assert (
            client.patch(f"/appointment-types/{kind.pk}/", {"duration_minutes": 60}, format="json").status_code == 403
        )
        assert client.delete(f"/appointment-types/{kind.pk}/").status_code == 403
    kind.refresh_from_db()
    assert kind.duration_minutes == 30


def test_patients_see_only_the_active_types_they_may_book_online(patient, reception):
    online = AppointmentTypeFactory(name="Online")
    AppointmentTypeFactory(name="At the desk", bookable_online=False)
    AppointmentTypeFactory(name="Retired", active=False)
    assert [row["name"] for row in client_for(patient.user).get("/appointment-types/").json()["results"]] == ["Online"]
    staff = client_for(reception).get("/appointment-types/").json()["results"]
    assert {row["name"] for row in staff} == {"Online", "At the desk", "Retired"}
    hidden = AppointmentTypeFactory(bookable_online=False)
    assert client_for(patient.user).get(f"/appointment-types/{hidden.pk}/").status_code == 404
    assert client_for(patient.user).get(f"/appointment-types/{online.pk}/").status_code == 200


def test_a_type_in_use_is_not_deleted_but_can_be_retired(reception, next_monday_10):
    doctor = DoctorFactory()
    kind = AppointmentTypeFactory(doctors=[doctor])
    booking.appointment_book(
        actor=reception, patient=PatientFactory(), doctor=doctor, start=next_monday_10, appointment_type=kind
    )
    client = client_for(reception)
    assert client.delete(f"/appointment-types/{kind.pk}/").status_code == 409
    assert client.patch(f"/appointment-types/{kind.pk}/", {"active": False}, format="json").json()["active"] is False


def test_the_slots_of_a_type_are_those_it_fits(patient, next_monday_10):
    doctor = DoctorFactory(available_from=time(9, 0), available_to=time(12, 0))
    kind = AppointmentTypeFactory(duration_minutes=90, buffer_after_minutes=15, doctors=[doctor])
    response = client_for(patient.user).get(
        f"/doctors/{doctor.pk}/slots/", {"date": next_monday_10.date().isoformat(), "type": kind.pk}
    )
    assert response.status_code == 200
    day = next_monday_10.replace(hour=0)
    assert response.json()["slots"] == [_iso(day + timedelta(hours=h)) for h in (9, 9.5, 10, 10.5)]


def test_the_slots_of_a_type_the_doctor_does_not_offer_are_a_400(patient, next_monday_10):
    doctor = DoctorFactory()
    elsewhere = AppointmentTypeFactory(name="Scan")
    response = client_for(patient.user).get(
        f"/doctors/{doctor.pk}/slots/", {"date": next_monday_10.date().isoformat(), "type": elsewhere.pk}
    )
    assert response.status_code == 400
    assert response.json() == {"type": [booking.TYPE_NOT_OFFERED.format(name="Scan", doctor=doctor)]}


def test_booking_a_type_through_the_api(patient, next_monday_10):
    doctor = DoctorFactory()
    kind = AppointmentTypeFactory(duration_minutes=45, doctors=[doctor])
    response = client_for(patient.user).post(
        "/book-appointment/",
        {"doctor": doctor.pk, "appointment_time": _iso(next_monday_10), "appointment_type": kind.pk},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["appointment_type"] == kind.pk
    assert response.json()["ends_at"] == _iso(next_monday_10 + timedelta(minutes=45))


@pytest.mark.parametrize("offered", [False, True])
def test_booking_a_type_refused_for_the_patient_writes_nothing(patient, next_monday_10, offered):
    doctor = DoctorFactory(available_to=time(17, 0))
    kind = AppointmentTypeFactory(
        name="Long", duration_minutes=240, doctors=[doctor] if offered else [], bookable_online=True
    )
    late = next_monday_10.replace(hour=15)  # 4 hours from 15:00 is past 17:00
    response = client_for(patient.user).post(
        "/book-appointment/",
        {"doctor": doctor.pk, "appointment_time": _iso(late), "appointment_type": kind.pk},
        format="json",
    )
    assert response.status_code == 400
    if offered:
        assert response.json()["code"] == "past_closing"
    else:
        assert response.json() == {"appointment_type": [booking.TYPE_NOT_OFFERED.format(name="Long", doctor=doctor)]}
    assert not Appointment.objects.exists()
