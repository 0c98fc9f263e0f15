"""Fixtures of the API tests: clients per role and a small clinic to look at."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from rest_framework.test import APIClient

from clinic.models import User
from tests import factories


def client_for(user: User | None) -> APIClient:
    """A client signed in as `user` (re-read, so nothing is cached on it between requests)."""
    client = APIClient()
    if user is not None:
        client.force_authenticate(User.objects.get(pk=user.pk))
    return client


@pytest.fixture
def api():
    return client_for


@dataclass
class Clinic:
    """Patients A and B, doctors X and Y; A sees X and B sees Y, each with a record."""

    patient_a: object
    patient_b: object
    doctor_x: object
    doctor_y: object
    reception: User
    admin: User
    appt_a: object
    appt_b: object
    record_a: object
    record_b: object

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


@pytest.fixture
def clinic(db, next_monday_10) -> Clinic:
    patient_a, patient_b = factories.PatientFactory(), factories.PatientFactory()
    doctor_x = factories.DoctorFactory(specialization="Cardiology")
    doctor_y = factories.DoctorFactory(specialization="Dermatology")
    appt_a = factories.AppointmentFactory(patient=patient_a, doctor=doctor_x, appointment_time=next_monday_10)
    appt_b = factories.AppointmentFactory(
        patient=patient_b, doctor=doctor_y, appointment_time=next_monday_10 + timedelta(days=1)
    )
    return Clinic(
        patient_a=patient_a,
        patient_b=patient_b,
        doctor_x=doctor_x,
        doctor_y=doctor_y,
        reception=factories.ReceptionFactory(),
        admin=factories.AdminFactory(),
        appt_a=appt_a,
        appt_b=appt_b,
        record_a=factories.MedicalRecordFactory(appointment=appt_a),
        record_b=factories.MedicalRecordFactory(appointment=appt_b),
    )
