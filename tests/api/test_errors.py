"""Errors are JSON everywhere on the API, and an unexpected failure is a bare JSON 500."""

from __future__ import annotations

import pytest

from clinic import access
from tests.api.conftest import client_for
from tests.factories import AppointmentFactory

pytestmark = pytest.mark.django_db


def test_an_unexpected_failure_is_a_json_500_without_a_traceback(patient, monkeypatch):
    def explode(user):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(access, "doctors_visible_to", explode)
    response = client_for(patient.user).get("/doctors/")
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal server error"}
    assert b"secret internals" not in response.content and b"Traceback" not in response.content


def test_deleting_a_doctor_with_appointments_is_a_409_and_deletes_nothing(reception):
    appointment = AppointmentFactory()
    response = client_for(reception).delete(f"/doctors/{appointment.doctor_id}/")
    assert response.status_code == 409
    assert response.json()["detail"]
    appointment.doctor.refresh_from_db()
    appointment.doctor.user.refresh_from_db()


def test_an_unsupported_method_and_media_type_answer_json(patient):
    client = client_for(patient.user)
    not_allowed = client.put("/patients/")
    assert not_allowed.status_code == 405 and "detail" in not_allowed.json()
    unsupported = client.post("/book-appointment/", "<xml/>", content_type="application/xml")
    assert unsupported.status_code == 415 and "detail" in unsupported.json()


@pytest.mark.parametrize("zone", ["UTC", "Pacific/Kiritimati", "Pacific/Pago_Pago"])
def test_dates_at_the_ends_of_the_calendar_are_refused_or_empty_never_500(settings, patient, doctor, reception, zone):
    settings.TIME_ZONE = zone
    client = client_for(patient.user)
    for when in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"):
        response = client.post("/book-appointment/", {"doctor": doctor.pk, "appointment_time": when}, format="json")
        assert response.status_code == 400 and "appointment_time" in response.json()
    for day in ("0001-01-01", "9999-12-31"):
        response = client.get(f"/doctors/{doctor.pk}/slots/", {"date": day})
        assert response.status_code == 200 and response.json()["slots"] == []
    for query in ({"date_from": "0001-01-01"}, {"date_to": "9999-12-31"}):
        assert client_for(reception).get("/appointments/", query).status_code == 200
