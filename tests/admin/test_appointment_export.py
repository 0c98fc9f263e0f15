"""The appointment changelist's "Export as CSV" action: the selected rows, or with "Select all"
the whole filtered and searched list, through the same writer as GET /appointments/export/."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.contrib.admin import helpers
from django.urls import reverse

from clinic import export
from clinic.models import Appointment
from tests import factories

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:clinic_appointment_changelist"


def _export(client, query: str = "", *, selected=(), select_across: bool = False) -> list[dict[str, str]]:
    data = {"action": "export_csv", helpers.ACTION_CHECKBOX_NAME: [str(pk) for pk in selected]}
    if select_across:
        data["select_across"] = "1"
    response = client.post(reverse(CHANGELIST) + query, data)
    assert response.status_code == 200, response
    assert response.streaming
    assert response["Content-Disposition"].startswith('attachment; filename="appointments-')
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_the_selected_rows_are_exported_with_formulas_neutralised(reception_client, next_monday_10):
    payload = factories.AppointmentFactory(appointment_time=next_monday_10, reason="=cmd|'/C calc'!A0")
    factories.AppointmentFactory(appointment_time=next_monday_10 + timedelta(hours=1))
    rows = _export(reception_client, selected=[payload.pk])
    assert [row["id"] for row in rows] == [str(payload.pk)]
    assert rows[0]["reason"] == "'=cmd|'/C calc'!A0"
    assert tuple(rows[0]) == export.HEADER


def test_select_all_exports_the_whole_filtered_and_searched_changelist(reception_client, next_monday_10):
    doctor = factories.DoctorFactory()
    wanted = factories.AppointmentFactory.create_batch(3, doctor=doctor, status=Appointment.Status.CONFIRMED)
    factories.AppointmentFactory(doctor=doctor, status=Appointment.Status.PENDING)  # filtered out by status
    factories.AppointmentFactory(status=Appointment.Status.CONFIRMED)  # another doctor
    turing = factories.AppointmentFactory(patient=factories.PatientFactory(user__last_name="Turingsson"))
    query = f"?status__exact=confirmed&doctor__id__exact={doctor.pk}"
    # One row ticked, "Select all" chosen: the whole list as filtered, in its order (newest first).
    rows = _export(reception_client, query, selected=[wanted[0].pk], select_across=True)
    expected = sorted(wanted, key=lambda a: (a.appointment_time, a.pk), reverse=True)
    assert [row["id"] for row in rows] == [str(a.pk) for a in expected]
    searched = _export(reception_client, "?q=Turingsson", selected=[turing.pk], select_across=True)
    assert [row["id"] for row in searched] == [str(turing.pk)]


def test_a_doctor_exports_only_their_own_appointments(doctor_client, clinic):
    rows = _export(doctor_client, selected=[clinic.own_appointment.pk, clinic.other_appointment.pk], select_across=True)
    assert [row["id"] for row in rows] == [str(clinic.own_appointment.pk)]
    assert clinic.own_record.notes not in "".join(",".join(row.values()) for row in rows)
