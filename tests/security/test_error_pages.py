"""Pages get HTML error pages in the app's look; the API keeps answering JSON."""

from __future__ import annotations

import pytest
from django.test import Client, RequestFactory
from django.views.defaults import server_error
from rest_framework.test import APIClient

from clinic import access
from tests import factories

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


def assert_clinic_page(response, status: int, heading: str) -> str:
    assert response.status_code == status
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert f'<h1 id="error-heading">{heading}</h1>' in html
    assert "/static/css/clinic.css" in html
    assert "Traceback" not in html
    return html


def test_an_unknown_address_is_the_clinics_404_page(client):
    html = assert_clinic_page(client.get("/no-such-page/"), 404, "Page not found")
    assert "Riverside Clinic" in html  # base.html with the clinic's context


def test_someone_elses_appointment_is_the_404_page_too(next_monday_10):
    other = factories.AppointmentFactory(appointment_time=next_monday_10)
    client = signed_in(factories.PatientFactory().user)
    assert_clinic_page(client.get(f"/my/appointments/{other.pk}/"), 404, "Page not found")


def test_a_forbidden_admin_page_is_the_clinics_403_page():
    client = signed_in(factories.ReceptionFactory())
    assert_clinic_page(client.get("/admin/clinic/medicalrecord/"), 403, "Not allowed")


def test_an_unexpected_failure_on_a_page_is_the_500_page_without_internals(monkeypatch):
    def explode(user):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(access, "appointments_visible_to", explode)
    client = signed_in(factories.PatientFactory().user)
    html = assert_clinic_page(client.get("/my/appointments/"), 500, "Something went wrong")
    assert "secret internals" not in html


def test_the_500_page_renders_without_a_request_context():
    response = server_error(RequestFactory().get("/"))
    assert response.status_code == 500
    assert b"Something went wrong" in response.content
    assert b"/static/css/clinic.css" in response.content


def test_a_form_sent_without_its_csrf_token_gets_the_clinics_403_page(patient):
    client = Client(enforce_csrf_checks=True)
    client.force_login(patient.user)
    assert_clinic_page(client.post("/book/", {}), 403, "Please try again")


@pytest.mark.parametrize(
    ("path", "status"),
    [("/appointments/999999/", 404), ("/medical-records/", 403), ("/doctors/not-a-number/", 404)],
)
def test_the_api_still_answers_json_errors(path, status):
    client = APIClient()
    client.force_authenticate(factories.ReceptionFactory())
    response = client.get(path)
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    assert set(response.json()) == {"detail"}


def test_an_api_failure_is_still_a_json_500(monkeypatch):
    def explode(user):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(access, "appointments_visible_to", explode)
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(factories.PatientFactory().user)
    response = client.get("/appointments/")
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal server error"}
