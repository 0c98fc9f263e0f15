"""/patients/: read and write shapes, role-limited fields, protected deletes."""

from __future__ import annotations

import pytest
from allauth.account.models import EmailAddress
from rest_framework.test import APIClient

from clinic import accounts
from clinic.models import Patient, User
from tests.api.conftest import client_for
from tests.factories import PASSWORD as FACTORY_PASSWORD
from tests.factories import AppointmentFactory, PatientFactory

pytestmark = pytest.mark.django_db

NEW = {"username": "grace", "email": "grace@example.test", "phone": "1"}
PASSWORD = "correct-Horse-battery-9"


def test_reception_creates_a_patient_who_is_emailed_a_link_to_set_a_password(
    reception, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(reception).post("/patients/", NEW)
    assert response.status_code == 201, response.json()
    assert response.json()["username"] == "grace" and response.json()["phone"] == "1"
    assert not User.objects.get(username="grace").has_usable_password()
    assert [message.to for message in mailoutbox] == [["grace@example.test"]]


def test_reception_cannot_give_a_new_patient_a_password(reception):
    response = client_for(reception).post("/patients/", {**NEW, "password": PASSWORD})
    assert response.status_code == 400
    assert response.json()["password"][0].startswith(accounts.PASSWORD_NOT_YOURS)
    assert not User.objects.filter(username="grace").exists()


def test_the_clinic_admin_may_give_a_new_patient_a_password(clinic_admin):
    response = client_for(clinic_admin).post("/patients/", {**NEW, "password": PASSWORD})
    assert response.status_code == 201, response.json()
    assert User.objects.get(username="grace").check_password(PASSWORD)


@pytest.mark.parametrize("kind", ["patients", "doctors"])
def test_reception_cannot_set_a_patients_or_doctors_password_and_sign_in_as_them(kind, reception, patient, doctor):
    profile = patient if kind == "patients" else doctor
    response = client_for(reception).patch(f"/{kind}/{profile.pk}/", {"password": PASSWORD})
    assert response.status_code == 400
    assert response.json() == {"password": [accounts.FIELD_NOT_WRITABLE]}
    login = APIClient().post("/api/token/", {"username": profile.user.username, "password": PASSWORD})
    assert login.status_code == 401


def test_the_clinic_admin_may_set_a_password_and_the_history_says_who(clinic_admin, doctor):
    response = client_for(clinic_admin).patch(f"/doctors/{doctor.pk}/", {"password": PASSWORD})
    assert response.status_code == 200
    doctor.user.refresh_from_db()
    assert doctor.user.check_password(PASSWORD)
    latest = doctor.history.latest("history_date")
    assert (latest.history_user, latest.history_change_reason) == (clinic_admin, accounts.PASSWORD_SET_REASON)


def test_a_password_alone_is_checked_against_the_users_own_username(clinic_admin):
    patient = PatientFactory(user__username="bartholomew")
    response = client_for(clinic_admin).patch(f"/patients/{patient.pk}/", {"password": "bartholomew"})
    assert response.status_code == 400
    assert "too similar to the username" in response.json()["password"][0]


def test_a_changed_email_is_the_only_one_that_signs_in(patient):
    old = patient.user.email
    EmailAddress.objects.create(user=patient.user, email=old, primary=True, verified=True)
    response = client_for(patient.user).patch(f"/patients/{patient.pk}/", {"email": "new@example.test"})
    assert response.status_code == 200
    assert list(EmailAddress.objects.filter(user=patient.user).values_list("email", "primary", "verified")) == [
        ("new@example.test", True, True)
    ]
    assert APIClient().post("/api/token/", {"username": old, "password": FACTORY_PASSWORD}).status_code == 401
    ok = APIClient().post("/api/token/", {"username": "new@example.test", "password": FACTORY_PASSWORD})
    assert ok.status_code == 200


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
