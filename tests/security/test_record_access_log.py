"""The access log of medical-record reads: every kind of read leaves one row with the ids
shown, in one INSERT; nobody can change or delete a row through the app."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from clinic import access
from clinic.models import RecordAccess, User
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def records(doctor, next_monday_10):
    """Three records of one patient with `doctor`, one record of another patient."""
    patient = factories.PatientFactory()
    own = [
        factories.MedicalRecordFactory(
            appointment__patient=patient,
            appointment__doctor=doctor,
            appointment__appointment_time=next_monday_10 + timedelta(hours=hour),
        )
        for hour in range(3)
    ]
    other = factories.MedicalRecordFactory(appointment__appointment_time=next_monday_10 + timedelta(days=1))
    return own, other


def api_for(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(User.objects.get(pk=user.pk))
    return client


def browser_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def only_row() -> RecordAccess:
    assert RecordAccess.objects.count() == 1
    return RecordAccess.objects.get()


def ids(objects) -> list[int]:
    return sorted(obj.pk for obj in objects)


# --- API ---------------------------------------------------------------------------------


def test_the_api_list_logs_the_reader_and_the_ids_on_the_page(records, doctor):
    own, _ = records
    response = api_for(doctor.user).get("/medical-records/", {"page_size": 2}, REMOTE_ADDR="10.9.8.7")
    assert response.status_code == 200
    row = only_row()
    assert row.record_ids == sorted(r["id"] for r in response.json()["results"])
    assert len(row.record_ids) == 2 and set(row.record_ids) <= {r.pk for r in own}
    assert (row.user_id, row.username, row.channel, row.method) == (doctor.user.pk, doctor.user.username, "api", "GET")
    assert row.path == "/medical-records/?page_size=2"
    assert row.ip_address == "10.9.8.7"
    assert row.at is not None


def test_a_patients_api_list_logs_only_their_own_records(records):
    own, _ = records
    patient_user = own[0].patient.user
    api_for(patient_user).get("/medical-records/")
    assert only_row().record_ids == ids(own)


def test_an_empty_api_list_is_logged_with_what_was_asked(doctor):
    api_for(doctor.user).get("/medical-records/", {"patient": 999999})
    row = only_row()
    assert row.record_ids == []
    assert row.path == "/medical-records/?patient=999999"


def test_the_api_detail_logs_the_record(records, doctor):
    record = records[0][1]
    assert api_for(doctor.user).get(f"/medical-records/{record.pk}/").status_code == 200
    assert only_row().record_ids == [record.pk]


def test_refused_and_missing_reads_leave_no_row(records, doctor, reception):
    _, other = records
    assert api_for(doctor.user).get(f"/medical-records/{other.pk}/").status_code == 404
    assert api_for(reception).get("/medical-records/").status_code == 403
    assert not RecordAccess.objects.exists()


@pytest.mark.parametrize("rows", [1, 30])
def test_the_api_list_writes_one_log_row_in_one_query_whatever_the_page(clinic_admin, next_monday_10, rows):
    for hour in range(rows):
        factories.MedicalRecordFactory(appointment__appointment_time=next_monday_10 + timedelta(hours=hour))
    client = api_for(clinic_admin)
    with CaptureQueriesContext(connection) as captured:
        response = client.get("/medical-records/")
    assert len(response.json()["results"]) == rows
    # 1. COUNT(*) of the records, 2. the page with its joins, 3. the log's INSERT.
    assert len(captured) == 3, "\n".join(q["sql"] for q in captured.captured_queries)
    inserts = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("INSERT")]
    assert len(inserts) == 1 and "clinic_recordaccess" in inserts[0]
    assert len(only_row().record_ids) == rows


# --- Admin -------------------------------------------------------------------------------


def test_the_admin_record_change_page_logs_the_record(records, clinic_admin):
    record = records[0][0]
    response = browser_for(clinic_admin).get(f"/admin/clinic/medicalrecord/{record.pk}/change/")
    assert response.status_code == 200
    row = only_row()
    assert (row.record_ids, row.channel, row.username) == ([record.pk], "admin", clinic_admin.username)


def test_the_admin_records_list_logs_the_records_on_the_page(records, clinic_admin):
    own, other = records
    assert browser_for(clinic_admin).get("/admin/clinic/medicalrecord/").status_code == 200
    assert only_row().record_ids == ids([*own, other])


def test_the_patient_page_logs_the_records_its_inline_shows(records, clinic_admin):
    own, _ = records
    patient = own[0].patient
    assert browser_for(clinic_admin).get(f"/admin/clinic/patient/{patient.pk}/change/").status_code == 200
    assert only_row().record_ids == ids(own)


def test_a_doctors_patient_page_logs_the_records_shown_to_them(records, next_monday_10):
    own, _ = records
    patient = own[0].patient
    # The patient's record with another doctor: a doctor reads all records of their patients.
    elsewhere = factories.MedicalRecordFactory(
        appointment__patient=patient, appointment__appointment_time=next_monday_10 + timedelta(days=2)
    )
    staff_doctor = own[0].appointment.doctor
    staff_doctor.user.is_staff = True
    staff_doctor.user.save()
    assert browser_for(staff_doctor.user).get(f"/admin/clinic/patient/{patient.pk}/change/").status_code == 200
    shown = access.medical_records_visible_to(staff_doctor.user).filter(patient=patient)
    assert only_row().record_ids == ids(shown) == ids([*own, elsewhere])


def test_the_appointment_page_logs_the_records_its_inline_shows(records, clinic_admin):
    record = records[0][0]
    response = browser_for(clinic_admin).get(f"/admin/clinic/appointment/{record.appointment_id}/change/")
    assert response.status_code == 200
    assert only_row().record_ids == [record.pk]


def test_a_records_history_is_a_read_too(records, clinic_admin):
    record = records[0][0]
    client = browser_for(clinic_admin)
    assert client.get(f"/admin/clinic/medicalrecord/{record.pk}/history/").status_code == 200
    version = record.history.first()
    assert client.get(f"/admin/clinic/medicalrecord/{record.pk}/history/{version.history_id}/").status_code == 200
    assert [row.record_ids for row in RecordAccess.objects.order_by("id")] == [[record.pk], [record.pk]]


def test_reception_sees_no_records_and_leaves_no_row(records, reception):
    patient = records[0][0].patient
    client = browser_for(reception)
    assert client.get(f"/admin/clinic/patient/{patient.pk}/change/").status_code == 200
    assert client.get("/admin/clinic/medicalrecord/").status_code == 403
    assert not RecordAccess.objects.exists()


def test_a_patient_page_without_records_logs_nothing(clinic_admin):
    patient = factories.PatientFactory()
    assert browser_for(clinic_admin).get(f"/admin/clinic/patient/{patient.pk}/change/").status_code == 200
    assert not RecordAccess.objects.exists()


# --- The log itself: read only, for the clinic admin alone ----------------------------------


@pytest.fixture
def logged(records, doctor) -> RecordAccess:
    api_for(doctor.user).get(f"/medical-records/{records[0][0].pk}/")
    return only_row()


def test_the_clinic_admin_reads_the_log(logged, clinic_admin):
    client = browser_for(clinic_admin)
    changelist = client.get("/admin/clinic/recordaccess/")
    assert changelist.status_code == 200
    assert logged.username in changelist.content.decode()
    assert f"#{logged.record_ids[0]}" in changelist.content.decode()
    assert client.get(f"/admin/clinic/recordaccess/{logged.pk}/change/").status_code == 200


def test_nobody_adds_changes_or_deletes_log_rows_in_the_admin(logged, clinic_admin):
    client = browser_for(clinic_admin)
    base = "/admin/clinic/recordaccess/"
    assert client.get(f"{base}add/").status_code == 403
    assert (
        client.post(f"{base}{logged.pk}/change/", {"username": "someone-else", "record_ids": "[]"}).status_code == 403
    )
    assert client.post(f"{base}{logged.pk}/delete/", {"post": "yes"}).status_code == 403
    bulk = client.post(base, {"action": "delete_selected", "_selected_action": [logged.pk], "post": "yes"})
    assert bulk.status_code in (200, 302)
    changelist = client.get(base).content.decode()
    assert "delete_selected" not in changelist
    assert RecordAccess.objects.filter(pk=logged.pk, username=logged.username).exists()


@pytest.mark.parametrize("role", ["reception", "doctor"])
def test_reception_and_doctors_cannot_see_the_log(logged, reception, role):
    user = reception if role == "reception" else factories.DoctorFactory(user__is_staff=True).user
    client = browser_for(user)
    assert client.get("/admin/clinic/recordaccess/").status_code == 403
    assert client.get(f"/admin/clinic/recordaccess/{logged.pk}/change/").status_code == 403
    assert "recordaccess" not in client.get("/admin/").content.decode()


def _url_views(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _url_views(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern.callback


def test_no_api_endpoint_serves_the_log():
    for route, callback in _url_views(get_resolver().url_patterns):
        if route.startswith("admin/"):
            continue
        view = getattr(callback, "cls", None)
        queryset = getattr(view, "queryset", None)
        serializer = getattr(view, "serializer_class", None)
        models = {getattr(queryset, "model", None), getattr(getattr(serializer, "Meta", None), "model", None)}
        assert RecordAccess not in models, route
        assert "recordaccess" not in route.replace("-", "").replace("_", "").lower(), route


def test_the_model_refuses_changes_and_deletes(logged):
    logged.username = "someone-else"
    with pytest.raises(PermissionDenied):
        logged.save()
    with pytest.raises(PermissionDenied):
        logged.delete()
    with pytest.raises(PermissionDenied):
        RecordAccess.objects.filter(pk=logged.pk).update(username="someone-else")
    with pytest.raises(PermissionDenied):
        RecordAccess.objects.all().delete()
    assert RecordAccess.objects.get(pk=logged.pk).username != "someone-else"


def test_a_deleted_readers_rows_stay_with_their_id_and_name(records):
    reader = factories.AdminFactory(username="former-admin")
    api_for(reader).get(f"/medical-records/{records[0][0].pk}/")
    reader_id = reader.pk
    reader.delete()
    row = only_row()
    assert (row.user_id, row.username, row.record_ids) == (reader_id, "former-admin", [records[0][0].pk])
