"""Each changelist runs the same number of queries for one row as for a full page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from clinic.models import EmailOutbox
from tests import factories

pytestmark = pytest.mark.django_db

ROWS = {
    "clinic_patient_changelist": lambda n: factories.PatientFactory.create_batch(n),
    "clinic_doctor_changelist": lambda n: factories.DoctorFactory.create_batch(n),
    "clinic_appointment_changelist": lambda n: factories.AppointmentFactory.create_batch(n),
    "clinic_medicalrecord_changelist": lambda n: factories.MedicalRecordFactory.create_batch(n),
    "clinic_timeoff_changelist": lambda n: [
        factories.TimeOffFactory(starts_at=a.appointment_time, ends_at=a.ends_at)
        for a in factories.AppointmentFactory.build_batch(n)
    ],
    "clinic_user_changelist": lambda n: factories.UserFactory.create_batch(n),
    "clinic_emailoutbox_changelist": lambda n: [
        EmailOutbox.objects.create(appointment=a, kind="booked", sequence=0, recipient="p@example.test")
        for a in factories.AppointmentFactory.create_batch(n)
    ],
}


def _queries_for(client, url: str) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return [query["sql"] for query in captured.captured_queries]


@pytest.mark.parametrize("changelist", ROWS)
def test_changelist_queries_do_not_grow_with_the_rows_on_the_page(changelist, admin_client_):
    url = reverse(f"admin:{changelist}")
    make_rows = ROWS[changelist]
    make_rows(1)
    admin_client_.get(url)  # warm the content-type cache
    one_row = _queries_for(admin_client_, url)
    make_rows(29)
    full_page = _queries_for(admin_client_, url)
    assert len(full_page) == len(one_row), "\n".join(full_page)


@pytest.mark.parametrize(
    "changelist", ["clinic_patient_changelist", "clinic_appointment_changelist", "clinic_medicalrecord_changelist"]
)
def test_a_doctors_changelist_queries_do_not_grow_with_their_rows(
    changelist, doctor_client, staff_doctor, next_monday_10
):
    url = reverse(f"admin:{changelist}")

    def records_of_the_doctor(hours):
        # One hour apart: a doctor's appointments never overlap.
        for hour in hours:
            factories.MedicalRecordFactory(
                appointment__doctor=staff_doctor, appointment__appointment_time=next_monday_10 + timedelta(hours=hour)
            )

    records_of_the_doctor(range(1))
    doctor_client.get(url)
    one_row = _queries_for(doctor_client, url)
    records_of_the_doctor(range(1, 30))
    full_page = _queries_for(doctor_client, url)
    assert len(full_page) == len(one_row), "\n".join(full_page)


def test_appointment_changelist_runs_a_fixed_set_of_queries(admin_client_):
    factories.AppointmentFactory.create_batch(30)
    url = reverse("admin:clinic_appointment_changelist")
    admin_client_.get(url)
    queries = _queries_for(admin_client_, url)
    # 1 session, 2 user, 3 doctors for the doctor filter (users joined), 4 the count of the list
    # (bounded: a big table is estimated instead), 5 the page of appointments with patients,
    # doctors and their users joined, 6 the date hierarchy's first and last, 7 the same bounds
    # for its choices (no DISTINCT over the rows), 8 specializations for their filter.
    # The session's idle window was renewed by the first request and is not written again.
    assert len(queries) == 8, "\n".join(queries)
