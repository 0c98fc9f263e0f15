"""Staff users of each role, signed-in clients, and a small clinic to look at."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.test import Client

from clinic.models import Appointment, Doctor, MedicalRecord, Patient
from tests import factories


@dataclass
class Clinic:
    """The doctor on staff with one patient and record; another doctor with another patient and record."""

    doctor: Doctor
    own_patient: Patient
    own_appointment: Appointment
    own_record: MedicalRecord
    other_doctor: Doctor
    other_patient: Patient
    other_appointment: Appointment
    other_record: MedicalRecord


@pytest.fixture
def staff_doctor(db) -> Doctor:
    """A doctor with staff access to the admin and no group."""
    return factories.DoctorFactory(user__is_staff=True, user__last_name="Aalto")


@pytest.fixture
def clinic(staff_doctor, next_monday_10) -> Clinic:
    own = factories.AppointmentFactory(doctor=staff_doctor, appointment_time=next_monday_10)
    other = factories.AppointmentFactory(appointment_time=next_monday_10)
    return Clinic(
        doctor=staff_doctor,
        own_patient=own.patient,
        own_appointment=own,
        own_record=factories.MedicalRecordFactory(appointment=own),
        other_doctor=other.doctor,
        other_patient=other.patient,
        other_appointment=other,
        other_record=factories.MedicalRecordFactory(appointment=other),
    )


def _client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def admin_client_(clinic_admin) -> Client:
    return _client_for(clinic_admin)


@pytest.fixture
def reception_client(reception) -> Client:
    return _client_for(reception)


@pytest.fixture
def doctor_client(staff_doctor) -> Client:
    return _client_for(staff_doctor.user)


@pytest.fixture
def role_clients(admin_client_, reception_client, doctor_client) -> dict[str, Client]:
    return {"admin": admin_client_, "reception": reception_client, "doctor": doctor_client}
