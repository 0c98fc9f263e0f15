"""Each list endpoint runs the same queries for 1 row and for 200 rows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from tests.api.conftest import client_for
from tests.factories import AppointmentFactory, DoctorFactory, MedicalRecordFactory, PatientFactory

pytestmark = pytest.mark.django_db

ROWS = 200


@pytest.fixture
def many(next_monday_10):
    """200 patients, doctors, appointments and records (one doctor and patient carry the appointments)."""
    PatientFactory.create_batch(ROWS - 1)
    DoctorFactory.create_batch(ROWS - 1)
    doctor, patient = DoctorFactory(), PatientFactory()
    appointments = [
        AppointmentFactory(patient=patient, doctor=doctor, appointment_time=next_monday_10 + timedelta(minutes=30 * i))
        for i in range(ROWS)
    ]
    for appointment in appointments:
        MedicalRecordFactory(appointment=appointment)


@pytest.mark.parametrize("page_size", [1, ROWS])
@pytest.mark.parametrize("resource", ["patients", "doctors", "appointments"])
def test_staff_lists_run_a_constant_number_of_queries(many, reception, django_assert_num_queries, resource, page_size):
    client = client_for(reception)
    # 1. role: is the staff user in the Reception group?
    # 2. COUNT(*) of the visible rows, for the paginator
    # 3. the page of rows, with their users (patients, doctors) or patients and doctors (appointments) joined
    with django_assert_num_queries(3):
        response = client.get(f"/{resource}/", {"page_size": page_size})
    assert response.status_code == 200
    assert len(response.json()["results"]) == page_size


@pytest.mark.parametrize("page_size", [1, ROWS])
def test_medical_records_list_runs_a_constant_number_of_queries(
    many, clinic_admin, django_assert_num_queries, page_size
):
    client = client_for(clinic_admin)
    # 1. COUNT(*) of the records (a superuser's role needs no query)
    # 2. the page of records with patient, user, author and appointment joined
    # 3. the access-log row of this read (clinic.audit), one INSERT whatever the page size
    with django_assert_num_queries(3):
        response = client.get("/medical-records/", {"page_size": page_size})
    assert response.status_code == 200
    assert len(response.json()["results"]) == page_size


@pytest.mark.parametrize("page_size", [1, ROWS])
def test_a_doctors_own_appointments_list_runs_a_constant_number_of_queries(many, django_assert_num_queries, page_size):
    from clinic.models import Doctor

    doctor = Doctor.objects.filter(appointments__isnull=False).distinct().get()
    client = client_for(doctor.user)
    # 1. role: does the user have a doctor profile? (neither superuser nor staff: no group query)
    # 2. COUNT(*) of the doctor's appointments
    # 3. the page of appointments
    with django_assert_num_queries(3):
        response = client.get("/appointments/", {"page_size": page_size})
    assert len(response.json()["results"]) == page_size


@pytest.mark.parametrize("page_size", [1, 50, ROWS])
@pytest.mark.parametrize("resource", ["patients", "doctors", "appointments"])
def test_a_bearer_token_list_runs_three_queries_at_any_page_size(
    many, reception, django_assert_num_queries, resource, page_size
):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(reception).access_token}")
    # 1. the token's user, with their role (reception group, doctor and patient profiles) joined in
    # 2. the count of the visible rows, bounded (a big table is estimated instead)
    # 3. the page of rows, read as values in the shape of the serializer
    with django_assert_num_queries(3):
        response = client.get(f"/{resource}/", {"page_size": page_size})
    assert response.status_code == 200
    assert len(response.json()["results"]) == page_size
