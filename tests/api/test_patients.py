"""/patients/: read and write shapes, role-limited fields, protected deletes."""

from __future__ import annotations

import pytest

from clinic.models import Patient, User
from tests.api.conftest import client_for
from tests.factories import AppointmentFactory, PatientFactory

pytestmark = pytest.mark.django_db

NEW = {"username": "grace", "email": "grace@example.test", "password": "correct-Horse-battery-9", "phone": "1"}


def test_reception_creates_a_patient_with_the_user_fields(reception):
    response = client_for(reception).post("/patients/", NEW)
    assert response.status_code == 201, response.json()
    assert response.json()["username"] == "grace" and response.json()["phone"] == "1"
    assert User.objects.get(username="grace").check_password(NEW["password"])


def test_patients_and_doctors_cannot_create_patients(patient, doctor):
    for user in (patient.user, doctor.user):
        assert client_for(user).post("/patients/", NEW).status_code == 403
    assert not User.objects.filter(username="grace").exists()


def test_a_patient_updates_their_contact_fields_only(patient):
    client = client_for(patient.user)
    url = f"/patients/{patient.pk}/"
    ok = client.patch(url, {"phone": "+1 555 1234", "first_name": "Jo", "email": "jo@example.test"})
    assert ok.status_code == 200, ok.json()
    assert ok.json()["phone"] == "+1 555 1234" and ok.json()["email"] == "jo@example.test"
    for field, value in (("insurance_number", "HACK"), ("username", "root"), ("password", "x-Strong-pass-99")):
        refused = client.patch(url, {field: value})
        assert refused.status_code == 400 and field in refused.json()
    patient.refresh_from_db()
    assert patient.insurance_number != "HACK" and patient.user.username != "root"


def test_privilege_fields_sent_on_update_are_ignored(patient):
    response = client_for(patient.user).patch(f"/patients/{patient.pk}/", {"user_id": 1, "is_staff": True, "id": 5})
    assert response.status_code == 200
    patient.user.refresh_from_db()
    assert not patient.user.is_staff
    assert response.json()["id"] == patient.pk


def test_a_full_put_of_the_current_state_is_accepted(patient):
    client = client_for(patient.user)
    current = client.get(f"/patients/{patient.pk}/").json()
    response = client.put(f"/patients/{patient.pk}/", current)
    assert response.status_code == 200 and response.json() == current


def test_an_email_taken_by_another_user_is_refused(patient):
    other = PatientFactory()
    response = client_for(patient.user).patch(f"/patients/{patient.pk}/", {"email": other.user.email.upper()})
    assert response.status_code == 400 and "email" in response.json()


def test_reception_deletes_a_patient_without_appointments_and_not_one_with(reception):
    free, busy = PatientFactory(), PatientFactory()
    AppointmentFactory(patient=busy)
    client = client_for(reception)
    assert client.delete(f"/patients/{free.pk}/").status_code == 204
    assert not Patient.objects.filter(pk=free.pk).exists()
    assert not User.objects.filter(pk=free.user_id).exists()
    refused = client.delete(f"/patients/{busy.pk}/")
    assert refused.status_code == 409 and refused.json()["detail"]
    assert Patient.objects.filter(pk=busy.pk).exists()
