"""Serialization and template rendering run no query of their own: whoever fetches sets up the joins.

Each test fetches through the same selectors the views use, then renders with queries
disabled (django-zen-queries); a lazy relation or a per-row lookup would raise.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.template import engines
from django.template.backends.django import Template
from zen_queries import queries_disabled
from zen_queries.decorators import QueriesDisabledError

from clinic import access
from clinic.api.rows import ValuesReader
from clinic.api.serializers import AppointmentSerializer, DoctorSerializer, MedicalRecordSerializer, PatientSerializer
from clinic.models import Patient
from tests.factories import AdminFactory, AppointmentFactory, DoctorFactory, MedicalRecordFactory, PatientFactory
from tests.pages.conftest import signed_in

pytestmark = pytest.mark.django_db

READS = [
    (AppointmentSerializer, access.appointments_visible_to),
    (PatientSerializer, access.patients_visible_to),
    (DoctorSerializer, access.doctors_visible_to),
    (MedicalRecordSerializer, access.medical_records_visible_to),
]


@pytest.fixture
def clinic_rows(next_monday_10):
    doctor, patient = DoctorFactory(), PatientFactory()
    for i in range(5):
        appointment = AppointmentFactory(
            doctor=doctor, patient=patient, appointment_time=next_monday_10 + timedelta(minutes=30 * i)
        )
        MedicalRecordFactory(appointment=appointment)
    return doctor, patient


@pytest.mark.parametrize(("serializer", "selector"), READS)
def test_read_serializers_need_nothing_beyond_their_selectors(clinic_rows, serializer, selector):
    objects = list(selector(AdminFactory()))
    assert objects
    with queries_disabled():
        data = serializer(objects, many=True).data
    assert len(data) == len(objects)


@pytest.mark.parametrize(("serializer", "selector"), READS)
def test_list_rows_render_without_queries(clinic_rows, serializer, selector):
    reader = ValuesReader(serializer)
    rows = list(reader.values(selector(AdminFactory())))
    with queries_disabled():
        assert len(reader.render(rows)) == len(rows)


@pytest.fixture
def templates_without_queries(monkeypatch):
    """Every Django template renders with queries disabled."""
    original = Template.render

    def render(self, context=None, request=None):
        with queries_disabled():
            return original(self, context, request)

    monkeypatch.setattr(Template, "render", render)


@pytest.mark.parametrize("htmx", [False, True])
@pytest.mark.parametrize("role", ["patient", "doctor"])
def test_pages_render_their_templates_without_queries(clinic_rows, templates_without_queries, role, htmx):
    doctor, patient = clinic_rows
    client = signed_in(patient.user if role == "patient" else doctor.user)
    headers = {"HX-Request": "true"} if htmx else {}
    # Doctors do not book: /book/ answers them with its "closed" page, rendered all the same.
    expected = {"/my/appointments/": 200, "/book/": 200 if role == "patient" else 403}
    for url, status in expected.items():
        response = client.get(url, headers=headers)
        assert response.status_code == status, url
        assert response.content, url


def test_the_template_guard_catches_a_template_that_queries(templates_without_queries):
    template = engines["django"].from_string("{{ patients.count }}")
    with pytest.raises(QueriesDisabledError):
        template.render({"patients": Patient.objects.all()})
