"""Errors are JSON everywhere on the API, and an unexpected failure is a bare JSON 500."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from axes.models import AccessAttempt
from django.core.exceptions import BadRequest, PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import Http404
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from rest_framework.relations import PrimaryKeyRelatedField
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from clinic import access
from clinic.api.exceptions import BAD_REQUEST, REQUEST_TOO_LARGE, TOO_MANY_FIELDS, TOO_MANY_FILES
from clinic.api.parsers import JSON_TOO_DEEP, ClinicJSONParser
from clinic.models import Appointment, Doctor, MedicalRecord, Patient, User
from tests.api.conftest import client_for
from tests.factories import PASSWORD, AppointmentFactory

pytestmark = pytest.mark.django_db


def test_an_unexpected_failure_is_a_json_500_without_a_traceback(patient, monkeypatch):
    def explode(user):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(access, "doctors_visible_to", explode)
    response = client_for(patient.user).get("/doctors/")
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal server error"}
    assert b"secret internals" not in response.content and b"Traceback" not in response.content


def test_deleting_a_doctor_with_appointments_is_a_409_and_deletes_nothing(reception):
    appointment = AppointmentFactory()
    response = client_for(reception).delete(f"/doctors/{appointment.doctor_id}/")
    assert response.status_code == 409
    assert response.json()["detail"]
    appointment.doctor.refresh_from_db()
    appointment.doctor.user.refresh_from_db()


def test_an_unsupported_method_and_media_type_answer_json(patient):
    client = client_for(patient.user)
    not_allowed = client.put("/patients/")
    assert not_allowed.status_code == 405 and "detail" in not_allowed.json()
    unsupported = client.post("/book-appointment/", "<xml/>", content_type="application/xml")
    assert unsupported.status_code == 415 and "detail" in unsupported.json()


@pytest.mark.parametrize("zone", ["UTC", "Pacific/Kiritimati", "Pacific/Pago_Pago"])
def test_dates_at_the_ends_of_the_calendar_are_refused_or_empty_never_500(settings, patient, doctor, reception, zone):
    settings.TIME_ZONE = zone
    client = client_for(patient.user)
    for when in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"):
        response = client.post("/book-appointment/", {"doctor": doctor.pk, "appointment_time": when}, format="json")
        assert response.status_code == 400 and "appointment_time" in response.json()
    for day in ("0001-01-01", "9999-12-31"):
        response = client.get(f"/doctors/{doctor.pk}/slots/", {"date": day})
        assert response.status_code == 200 and response.json()["slots"] == []
    for query in ({"date_from": "0001-01-01"}, {"date_to": "9999-12-31"}):
        assert client_for(reception).get("/appointments/", query).status_code == 200


@pytest.mark.parametrize("raised", [BadRequest, SuspiciousOperation])
def test_djangos_bad_request_errors_are_a_json_400_without_their_internals(patient, monkeypatch, raised):
    def refuse(user):
        raise raised("internal reason")

    monkeypatch.setattr(access, "doctors_visible_to", refuse)
    response = client_for(patient.user).get("/doctors/")
    assert response.status_code == 400
    assert response.json() == {"detail": BAD_REQUEST}


@pytest.mark.parametrize(("raised", "status"), [(Http404, 404), (PermissionDenied, 403)])
def test_djangos_not_found_and_permission_denied_keep_their_status_as_json(patient, monkeypatch, raised, status):
    def refuse(user):
        raise raised("No such doctor for you.")

    monkeypatch.setattr(access, "doctors_visible_to", refuse)
    response = client_for(patient.user).get("/doctors/")
    assert response.status_code == status
    assert response.json() == {"detail": "No such doctor for you."}


# --- Bodies the API refuses with a 4xx and writes nothing for ---------------------------

DEEP_BODIES = {"list": "[" * 5000 + "]" * 5000, "dict": '{"a": ' * 5000 + "1" + "}" * 5000}
# (method, path, role) of every endpoint that takes a JSON body; `{appt}` is appointment A.
JSON_ENDPOINTS = [
    ("post", "/registrations/", "anonymous"),
    ("post", "/api/token/", "anonymous"),
    ("post", "/api/token/refresh/", "anonymous"),
    ("post", "/api/token/blacklist/", "anonymous"),
    ("post", "/book-appointment/", "patient_a"),
    ("post", "/appointments/", "reception"),
    ("patch", "/appointments/{appt}/", "reception"),
    ("post", "/medical-records/", "doctor_x"),
    ("post", "/patients/", "reception"),
    ("post", "/doctors/", "reception"),
]
# More than DATA_UPLOAD_MAX_MEMORY_SIZE (Django's default, 2.5 MB).
OVERSIZED = "x" * (3 * 1024 * 1024)
# More than DATA_UPLOAD_MAX_NUMBER_FIELDS (1,000) and DATA_UPLOAD_MAX_NUMBER_FILES (100).
MANY_FIELDS = {f"field{i}": "1" for i in range(1001)}


def _rows() -> dict:
    """What a refused request must not have written."""
    models = (User, Patient, Doctor, Appointment, MedicalRecord, OutstandingToken, BlacklistedToken, AccessAttempt)
    return {model.__name__: model.objects.count() for model in models}


def _send(client, method: str, path: str, body, content_type: str):
    return client.generic(method.upper(), path, body, content_type=content_type)


def _valid_bodies(clinic, when) -> dict:
    """A body each endpoint would accept, as the role it is sent by."""
    slot = (when + timedelta(hours=2)).isoformat()
    return {
        "/registrations/": {"username": "newcomer", "email": "newcomer@example.test", "password": "Sturdy-passw0rd!"},
        "/api/token/": {"username": clinic.patient_a.user.username, "password": PASSWORD},
        "/book-appointment/": {"doctor": clinic.doctor_x.pk, "appointment_time": slot},
        "/appointments/": {"doctor": clinic.doctor_x.pk, "patient": clinic.patient_b.pk, "appointment_time": slot},
        "/medical-records/": {"appointment": clinic.appt_a.pk, "notes": "Seen."},
    }


@pytest.mark.parametrize(
    ("path", "role", "field"),
    [
        ("/book-appointment/", "patient_a", "doctor"),
        ("/appointments/", "reception", "doctor"),
        ("/appointments/", "reception", "patient"),
        ("/medical-records/", "doctor_x", "appointment"),
    ],
)
def test_an_id_too_large_for_a_number_is_a_field_error_and_writes_nothing(clinic, next_monday_10, path, role, field):
    # 1e400 is valid JSON that no float holds (json.dumps would write it as Infinity).
    body = json.dumps({**_valid_bodies(clinic, next_monday_10)[path], field: "ID"}).replace('"ID"', "1e400")
    before = _rows()
    response = _send(client_for(clinic.user(role)), "post", path, body, "application/json")
    assert response.status_code == 400
    incorrect_type = PrimaryKeyRelatedField.default_error_messages["incorrect_type"]
    assert response.json() == {field: [incorrect_type.format(data_type="float")]}
    assert _rows() == before


def test_a_fractional_id_is_a_field_error_rather_than_rounded_to_another_object(clinic, next_monday_10):
    body = {**_valid_bodies(clinic, next_monday_10)["/book-appointment/"], "doctor": clinic.doctor_x.pk + 0.5}
    before = _rows()
    response = client_for(clinic.patient_a.user).post("/book-appointment/", body, format="json")
    assert response.status_code == 400
    incorrect_type = PrimaryKeyRelatedField.default_error_messages["incorrect_type"]
    assert response.json() == {"doctor": [incorrect_type.format(data_type="float")]}
    assert _rows() == before


@pytest.mark.parametrize("shape", DEEP_BODIES)
@pytest.mark.parametrize(("method", "path", "role"), JSON_ENDPOINTS)
def test_json_nested_too_deeply_is_a_400_on_every_endpoint_and_writes_nothing(clinic, method, path, role, shape):
    before = _rows()
    client = client_for(clinic.user(role))
    response = _send(client, method, path.format(appt=clinic.appt_a.pk), DEEP_BODIES[shape], "application/json")
    assert response.status_code == 400
    assert response.json() == {"detail": JSON_TOO_DEEP}
    assert _rows() == before


def _encoded(data: dict, body_format: str) -> tuple[str | bytes, str]:
    if body_format == "json":
        return json.dumps(data), "application/json"
    if body_format == "form":
        return urlencode(data), "application/x-www-form-urlencoded"
    return encode_multipart(BOUNDARY, data), MULTIPART_CONTENT


@pytest.mark.parametrize("body_format", ["json", "form", "multipart"])
@pytest.mark.parametrize(
    ("path", "role"),
    [
        ("/registrations/", "anonymous"),
        ("/api/token/", "anonymous"),
        ("/book-appointment/", "patient_a"),
        ("/appointments/", "reception"),
        ("/medical-records/", "doctor_x"),
    ],
)
def test_a_body_over_the_upload_limit_is_refused_with_a_400_and_writes_nothing(
    clinic, next_monday_10, path, role, body_format
):
    data = {**_valid_bodies(clinic, next_monday_10)[path], "padding": OVERSIZED}
    before = _rows()
    response = _send(client_for(clinic.user(role)), "post", path, *_encoded(data, body_format))
    assert response.status_code == 400
    assert response.json() == {"detail": REQUEST_TOO_LARGE}
    assert _rows() == before


@pytest.mark.parametrize("body_format", ["form", "multipart"])
@pytest.mark.parametrize(
    ("path", "role"),
    [
        ("/registrations/", "anonymous"),
        ("/api/token/", "anonymous"),
        ("/book-appointment/", "patient_a"),
        ("/appointments/", "reception"),
        ("/medical-records/", "doctor_x"),
    ],
)
def test_a_form_with_too_many_fields_is_refused_with_a_400_and_writes_nothing(
    clinic, next_monday_10, path, role, body_format
):
    data = {**_valid_bodies(clinic, next_monday_10)[path], **MANY_FIELDS}
    before = _rows()
    response = _send(client_for(clinic.user(role)), "post", path, *_encoded(data, body_format))
    assert response.status_code == 400
    assert response.json() == {"detail": TOO_MANY_FIELDS}
    assert _rows() == before


@pytest.mark.parametrize(("path", "role"), [("/registrations/", "anonymous"), ("/book-appointment/", "patient_a")])
def test_a_form_with_too_many_files_is_refused_with_a_400_and_writes_nothing(clinic, next_monday_10, path, role):
    files = {f"file{i}": SimpleUploadedFile(f"scan{i}.txt", b"scan") for i in range(101)}
    data = {**_valid_bodies(clinic, next_monday_10)[path], **files}
    before = _rows()
    response = _send(client_for(clinic.user(role)), "post", path, *_encoded(data, "multipart"))
    assert response.status_code == 400
    assert response.json() == {"detail": TOO_MANY_FILES}
    assert _rows() == before


@pytest.mark.parametrize(
    ("body", "content_type", "detail"),
    [
        (DEEP_BODIES["list"], "application/json", JSON_TOO_DEEP),
        (DEEP_BODIES["dict"], "application/json", JSON_TOO_DEEP),
        (
            json.dumps({"username": "alice", "password": "wrong", "padding": OVERSIZED}),
            "application/json",
            REQUEST_TOO_LARGE,
        ),
        (
            urlencode({"username": "alice", "password": "wrong", **MANY_FIELDS}),
            "application/x-www-form-urlencoded",
            TOO_MANY_FIELDS,
        ),
    ],
    ids=["deep-list", "deep-dict", "oversized", "too-many-fields"],
)
def test_a_malformed_login_with_the_lockout_on_is_a_400_and_counts_no_failure(
    settings, clinic, body, content_type, detail
):
    settings.AXES_ENABLED = True
    before = _rows()
    response = _send(client_for(None), "post", "/api/token/", body, content_type)
    assert response.status_code == 400
    assert response.json() == {"detail": detail}
    assert _rows() == before


def test_the_json_parser_refuses_a_body_over_the_upload_limit_even_from_a_raw_stream(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    body = json.dumps({"notes": "x" * 100}).encode()
    with pytest.raises(RequestDataTooBig):
        ClinicJSONParser().parse(io.BytesIO(body))
    assert ClinicJSONParser().parse(io.BytesIO(b'{"notes": "short"}')) == {"notes": "short"}
