"""schemathesis over every operation with a token of each role: never a 5xx, always as documented.

test_schema.py runs the clinic admin; here the patient, the doctor and the front desk,
each seeing a different slice of the clinic (their own, their patients', all but records).
Bounded and derandomized, like test_schema.py: the same requests on every run.
"""

from __future__ import annotations

import hypothesis
import pytest
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from clinic.api.tokens import ClinicRefreshToken
from tests import factories
from tests.api.test_schema import schema

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
SETTINGS = hypothesis.settings(
    max_examples=10,
    derandomize=True,
    deadline=None,
    phases=[Phase.generate],
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture
def bearer(db, next_monday_10):
    """`bearer(role)` → headers with an access token of a user of that role, in a small clinic."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    cache.clear()
    doctor = factories.DoctorFactory()
    appointment = factories.AppointmentFactory(doctor=doctor, appointment_time=next_monday_10)
    factories.MedicalRecordFactory(appointment=appointment)
    factories.AppointmentFactory(appointment_time=next_monday_10)  # someone else's
    users = {"patient": appointment.patient.user, "doctor": doctor.user, "reception": factories.ReceptionFactory()}

    def headers(role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {ClinicRefreshToken.for_user(users[role]).access_token}"}

    yield headers
    cache.clear()
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@schema.parametrize()
@SETTINGS
def test_the_api_answers_a_patient_as_documented(case, bearer):
    case.call_and_validate(headers=bearer("patient"), checks=CHECKS)


@schema.parametrize()
@SETTINGS
def test_the_api_answers_a_doctor_as_documented(case, bearer):
    case.call_and_validate(headers=bearer("doctor"), checks=CHECKS)


@schema.parametrize()
@SETTINGS
def test_the_api_answers_the_front_desk_as_documented(case, bearer):
    case.call_and_validate(headers=bearer("reception"), checks=CHECKS)
