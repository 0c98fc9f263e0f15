"""List endpoints render rows from `.values()`: the JSON must equal the read serializer's, field for field."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from django.test import override_settings

from clinic.api.rows import ValuesReader
from clinic.api.serializers import AppointmentSerializer, DoctorSerializer, MedicalRecordSerializer, PatientSerializer
from clinic.models import Appointment, Doctor, MedicalRecord, Patient
from tests.api.conftest import client_for
from tests.factories import AppointmentFactory, DoctorFactory, MedicalRecordFactory, PatientFactory

pytestmark = pytest.mark.django_db

CASES = [
    ("/patients/", Patient, PatientSerializer, "id"),
    ("/doctors/", Doctor, DoctorSerializer, "id"),
    ("/appointments/", Appointment, AppointmentSerializer, None),
    ("/medical-records/", MedicalRecord, MedicalRecordSerializer, "-id"),
]


@pytest.fixture
def varied(next_monday_10):
    """Rows with microseconds, blank and odd values, in and out of daylight saving time."""
    doctor = DoctorFactory(available_from=time(7, 30), available_to=time(19, 15), working_days=[6, 0], slot_minutes=45)
    DoctorFactory(user__first_name="", specialization="Ünïcode — care")
    patient = PatientFactory(phone="", insurance_number="")
    PatientFactory(user__last_name="O'Brien-Łukasz")
    summer = datetime(2027, 7, 5, 8, 0, 0, 123456, tzinfo=UTC)
    for start, reason, status in [
        (next_monday_10, "", Appointment.Status.PENDING),
        (summer, 'Knee <pain> & "swelling"', Appointment.Status.CONFIRMED),
        (summer + timedelta(days=1), "x" * 500, Appointment.Status.CANCELLED),
    ]:
        appointment = AppointmentFactory(
            doctor=doctor, patient=patient, appointment_time=start, status=status, reason=reason
        )
        MedicalRecordFactory(appointment=appointment, notes="Line one\nline two ✓")


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "America/St_Johns"])
@pytest.mark.parametrize(("path", "model", "serializer", "ordering"), CASES)
def test_list_rows_equal_the_serializer_output(varied, clinic_admin, zone, path, model, serializer, ordering):
    with override_settings(TIME_ZONE=zone):
        response = client_for(clinic_admin).get(path, {"page_size": 200})
        objects = model.objects.all()
        if ordering:
            objects = objects.order_by(ordering)
        expected = serializer(objects, many=True).data
    assert response.status_code == 200
    assert response.json()["results"] == [dict(row) for row in expected]
    assert len(expected) >= 2


def test_the_reader_takes_each_column_once_from_the_serializer_sources():
    assert ValuesReader(PatientSerializer).columns == [
        "id",
        "user_id",
        "user__username",
        "user__email",
        "user__first_name",
        "user__last_name",
        "phone",
        "insurance_number",
        "created_at",
    ]
    assert ValuesReader(AppointmentSerializer).columns == [
        "id",
        "patient_id",
        "doctor_id",
        "appointment_time",
        "ends_at",
        "status",
        "reason",
        "appointment_type_id",
        "series_id",
        "arrived_at",
        "started_at",
        "completed_at",
        "created_at",
    ]
