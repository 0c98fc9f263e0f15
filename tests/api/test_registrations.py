"""/registrations/: patients create their own account."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient
from rest_framework.throttling import ScopedRateThrottle

from clinic.models import Patient, User
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

GOOD = {
    "username": "ada",
    "email": "ada@example.test",
    "password": "correct-Horse-battery-9",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "phone": "+1 555 0101",
    "insurance_number": "INS-42",
}


def _register(payload):
    return APIClient().post("/registrations/", payload, format="json")


def test_registering_creates_a_patient_who_can_sign_in():
    response = _register(GOOD)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) == {
        "id",
        "user_id",
        "username",
        "email",
        "first_name",
        "last_name",
        "phone",
        "insurance_number",
        "created_at",
    }
    assert body["username"] == "ada" and body["phone"] == "+1 555 0101"
    patient = Patient.objects.get(pk=body["id"])
    assert patient.user.check_password(GOOD["password"])
    tokens = APIClient().post("/api/token/", {"username": "ada", "password": GOOD["password"]})
    assert tokens.status_code == 200


@pytest.mark.parametrize("password", ["short1", "password123", "12345678901", "ada-lovelace"])
def test_weak_passwords_are_refused(password):
    response = _register({**GOOD, "password": password, "email": "ada.lovelace@example.test"})
    assert response.status_code == 400
    assert "password" in response.json()
    assert not User.objects.filter(username="ada").exists()


def test_a_taken_username_or_email_is_refused_in_any_case():
    existing = PatientFactory()
    by_name = _register({**GOOD, "username": existing.user.username.upper()})
    assert by_name.status_code == 400 and "username" in by_name.json()
    by_email = _register({**GOOD, "email": existing.user.email.upper()})
    assert by_email.status_code == 400 and "email" in by_email.json()
    assert User.objects.count() == 1


def test_privilege_fields_are_never_applied():
    response = _register({**GOOD, "is_staff": True, "is_superuser": True, "user_id": 1, "id": 99})
    assert response.status_code == 201
    user = User.objects.get(username="ada")
    assert not user.is_staff and not user.is_superuser


@pytest.mark.parametrize(
    "payload",
    [{}, {**GOOD, "email": "not-an-email"}, {**GOOD, "username": ["x"]}, {**GOOD, "username": "a" * 300}],
)
def test_bad_registrations_answer_400(payload):
    response = _register(payload)
    assert response.status_code == 400
    assert isinstance(response.json(), dict)


def test_registrations_are_throttled(monkeypatch):
    monkeypatch.setitem(ScopedRateThrottle.THROTTLE_RATES, "registrations", "1/min")
    assert _register(GOOD).status_code == 201
    assert _register({**GOOD, "username": "bob", "email": "bob@example.test"}).status_code == 429
