"""The OpenAPI schema: valid, served with Swagger UI from static files, and true to the API.

schemathesis generates requests for every operation from `/api/schema/` and sends them
in-process (WSGI) with a token of each role, each seeing a different slice of a small
clinic (the patient their own, the doctor their patients', the front desk all but records,
the clinic admin everything): no answer may be a 5xx, and every status, content type,
header and body must be the documented one. Bounded and derandomized: the same requests
on every run.
"""

from __future__ import annotations

import json

import hypothesis
import pytest
import schemathesis
from django.core.cache import cache
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, Phase
from rest_framework.test import APIClient
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from clinic.api.tokens import ClinicRefreshToken
from tests.factories import AdminFactory, AppointmentFactory, DoctorFactory, MedicalRecordFactory, ReceptionFactory

DOCUMENTED_PATHS = {
    "/registrations/",
    "/api/token/",
    "/api/token/refresh/",
    "/api/token/blacklist/",
    "/patients/",
    "/patients/{id}/",
    "/doctors/",
    "/doctors/{id}/",
    "/doctors/{id}/slots/",
    "/appointments/",
    "/appointments/{id}/",
    "/appointments/export/",
    "/book-appointment/",
    "/medical-records/",
    "/medical-records/{id}/",
    "/appointment-types/",
    "/appointment-types/{id}/",
    "/appointment-series/",
    "/appointment-series/{id}/",
    "/appointment-series/{id}/cancel/",
    "/waitlist/",
    "/waitlist/{id}/",
}


@pytest.mark.django_db
def test_the_schema_documents_every_endpoint_and_validates(tmp_path):
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    response = APIClient().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert set(paths) == DOCUMENTED_PATHS
    for path, operations in paths.items():
        for method, operation in operations.items():
            assert operation.get("description"), f"{method.upper()} {path} has no description"
            codes = set(operation["responses"])
            assert codes & {"200", "201", "204"}, (method, path)
            if path not in {"/registrations/", "/api/token/", "/api/token/refresh/", "/api/token/blacklist/"}:
                assert {"401", "403"} <= codes, (method, path)


@pytest.mark.django_db
def test_swagger_ui_is_served_without_a_cdn():
    response = APIClient().get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    assert "cdn" not in html.lower() and "unpkg" not in html.lower()


def _load_schema():
    """The schema the API serves, loaded once at collection; requests go to the WSGI app in-process."""
    document = json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True)))
    loaded = schemathesis.openapi.from_dict(document)
    loaded.app = get_wsgi_application()
    return loaded


schema = _load_schema()


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
SETTINGS = hypothesis.settings(
    max_examples=12,
    derandomize=True,
    deadline=None,
    phases=[Phase.generate],
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture
def bearer(db, next_monday_10):
    """`bearer(role)` → headers with an access token of a user of that role, in a small clinic."""
    # Requests run inside the test's transaction: keep its connection open between them,
    # as Django's own test client does.
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    cache.clear()
    doctor = DoctorFactory()
    appointment = AppointmentFactory(doctor=doctor, appointment_time=next_monday_10)
    MedicalRecordFactory(appointment=appointment)
    AppointmentFactory(appointment_time=next_monday_10)  # someone else's
    users = {
        "patient": appointment.patient.user,
        "doctor": doctor.user,
        "reception": ReceptionFactory(),
        "admin": AdminFactory(),
    }

    def headers(role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {ClinicRefreshToken.for_user(users[role]).access_token}"}

    yield headers
    cache.clear()
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@pytest.mark.parametrize("role", ["patient", "doctor", "reception", "admin"])
@schema.parametrize()
@SETTINGS
def test_the_api_answers_each_role_as_its_schema_says(case, bearer, role):
    case.call_and_validate(headers=bearer(role), checks=CHECKS)
