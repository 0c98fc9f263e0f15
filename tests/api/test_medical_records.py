"""/medical-records/: doctors write for their own appointments; the author is always the writer."""

from __future__ import annotations

import pytest

from clinic.models import MedicalRecord
from tests.api.conftest import client_for
from tests.factories import AppointmentFactory, PatientFactory

pytestmark = pytest.mark.django_db


def test_a_doctor_writes_a_record_for_their_appointment_as_author(doctor):
    appointment = AppointmentFactory(doctor=doctor)
    response = client_for(doctor.user).post(
        "/medical-records/", {"appointment": appointment.pk, "notes": "BP normal.", "author": 1}
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) == {"id", "patient", "appointment", "notes", "author", "created_at", "updated_at"}
    assert body["author"] == doctor.user_id and body["patient"] == appointment.patient_id


def test_a_record_for_someone_elses_appointment_is_refused(doctor):
    foreign = AppointmentFactory()
    response = client_for(doctor.user).post("/medical-records/", {"appointment": foreign.pk, "notes": "x"})
    assert response.status_code == 400
    assert not MedicalRecord.objects.exists()


def test_a_record_naming_another_patient_is_refused(doctor):
    appointment = AppointmentFactory(doctor=doctor)
    AppointmentFactory(doctor=doctor, patient=(other := PatientFactory()))
    response = client_for(doctor.user).post(
        "/medical-records/", {"appointment": appointment.pk, "notes": "x", "patient": other.pk}
    )
    assert response.status_code == 400 and "patient" in response.json()


def test_patients_and_reception_cannot_write_records(patient, reception):
    appointment = AppointmentFactory(patient=patient)
    assert (
        client_for(patient.user).post("/medical-records/", {"appointment": appointment.pk, "notes": "x"}).status_code
        == 403
    )
    assert (
        client_for(reception).post("/medical-records/", {"appointment": appointment.pk, "notes": "x"}).status_code
        == 403
    )


def test_put_replaces_the_notes(doctor):
    appointment = AppointmentFactory(doctor=doctor)
    record = client_for(doctor.user).post("/medical-records/", {"appointment": appointment.pk, "notes": "a"}).json()
    response = client_for(doctor.user).put(
        f"/medical-records/{record['id']}/", {"appointment": appointment.pk, "notes": "b"}
    )
    assert response.status_code == 200 and response.json()["notes"] == "b"
