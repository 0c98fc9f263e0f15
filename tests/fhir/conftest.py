"""Fixtures of the FHIR tests: a small clinic, clients per role, and a validator of every answer."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta

import pytest
from fhir.resources.R4B import get_fhir_model_class
from rest_framework.test import APIClient

from clinic.models import Appointment, User
from tests import factories

FHIR_JSON = "application/fhir+json"

APPOINTMENT_STATUSES = {
    "proposed",
    "pending",
    "booked",
    "arrived",
    "fulfilled",
    "cancelled",
    "noshow",
    "entered-in-error",
    "checked-in",
    "waitlist",
}
PARTICIPANT_STATUSES = {"accepted", "declined", "tentative", "needs-action"}
SLOT_STATUSES = {"busy", "free", "busy-unavailable", "busy-tentative", "entered-in-error"}
ISSUE_SEVERITIES = {"fatal", "error", "warning", "information"}
ISSUE_CODES = {
    "invalid",
    "structure",
    "required",
    "value",
    "invariant",
    "security",
    "login",
    "unknown",
    "expired",
    "forbidden",
    "suppressed",
    "processing",
    "not-supported",
    "duplicate",
    "multiple-matches",
    "not-found",
    "deleted",
    "too-long",
    "code-invalid",
    "extension",
    "too-costly",
    "business-rule",
    "conflict",
    "transient",
    "lock-error",
    "no-store",
    "exception",
    "timeout",
    "incomplete",
    "throttled",
    "informational",
}
BUNDLE_LINKS = {"self", "next", "previous", "first", "last"}


def check_resource(resource: dict) -> None:
    """What fhir.resources does not check: codes from their value sets, an Appointment's end."""
    kind = resource["resourceType"]
    if kind == "Bundle":
        assert {link["relation"] for link in resource.get("link", [])} <= BUNDLE_LINKS
        for entry in resource.get("entry", []):
            assert entry["search"]["mode"] in {"match", "include", "outcome"}
            check_resource(entry["resource"])
    elif kind == "Appointment":
        assert resource["status"] in APPOINTMENT_STATUSES
        assert ("start" in resource) == ("end" in resource), resource
        assert resource["start"] < resource["end"]
        assert {p["status"] for p in resource["participant"]} <= PARTICIPANT_STATUSES
    elif kind == "Slot":
        assert resource["status"] in SLOT_STATUSES
        assert resource["start"] < resource["end"]
    elif kind == "OperationOutcome":
        for issue in resource["issue"]:
            assert issue["severity"] in ISSUE_SEVERITIES
            assert issue["code"] in ISSUE_CODES
            assert "Traceback" not in issue.get("diagnostics", "")


def parse(response) -> dict:
    """The body of a FHIR answer, after checking its content type and validating it with the R4B models."""
    assert response["Content-Type"].startswith(FHIR_JSON), response["Content-Type"]
    body = json.loads(response.content)
    get_fhir_model_class(body["resourceType"]).model_validate(body)
    check_resource(body)
    return body


def ids_of(bundle: dict, kind: str | None = None, mode: str = "match") -> list[int]:
    return [
        int(entry["resource"]["id"])
        for entry in bundle["entry"]
        if entry["search"]["mode"] == mode and (kind is None or entry["resource"]["resourceType"] == kind)
    ]


def client_for(user: User | None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(User.objects.get(pk=user.pk))
    return client


@dataclass
class World:
    """Patients A and B, doctors X (Cardiology) and Y (Dermatology); A sees X, B sees Y."""

    patient_a: object
    patient_b: object
    doctor_x: object
    doctor_y: object
    reception: User
    admin: User
    appt_a: Appointment
    appt_b: Appointment
    day: object

    def user(self, role: str) -> User | None:
        return {
            "anonymous": None,
            "patient_a": self.patient_a.user,
            "patient_b": self.patient_b.user,
            "doctor_x": self.doctor_x.user,
            "doctor_y": self.doctor_y.user,
            "reception": self.reception,
            "admin": self.admin,
        }[role]

    def client(self, role: str) -> APIClient:
        return client_for(self.user(role))


@pytest.fixture
def world(db, next_monday_10) -> World:
    patient_a, patient_b = factories.PatientFactory(), factories.PatientFactory()
    doctor_x = factories.DoctorFactory(specialization="Cardiology")
    doctor_y = factories.DoctorFactory(specialization="Dermatology")
    appt_a = factories.AppointmentFactory(patient=patient_a, doctor=doctor_x, appointment_time=next_monday_10)
    appt_b = factories.AppointmentFactory(
        patient=patient_b,
        doctor=doctor_y,
        appointment_time=next_monday_10 + timedelta(days=1),
        status=Appointment.Status.CONFIRMED,
    )
    factories.MedicalRecordFactory(patient=patient_a, appointment=appt_a, author=doctor_x.user)
    return World(
        patient_a,
        patient_b,
        doctor_x,
        doctor_y,
        factories.ReceptionFactory(),
        factories.AdminFactory(),
        appt_a,
        appt_b,
        next_monday_10.date(),
    )
