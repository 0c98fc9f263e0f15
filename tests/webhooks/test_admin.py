"""The webhook admin: the clinic admin's alone. An endpoint's secret is shown once; a failed
delivery can be sent again; a switched-off endpoint says so."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clinic.models import WebhookDelivery, WebhookEndpoint
from tests import factories
from tests.webhooks.conftest import make_endpoint

pytestmark = pytest.mark.django_db

Status = WebhookDelivery.Status
ENDPOINTS = "/admin/clinic/webhookendpoint/"
DELIVERIES = "/admin/clinic/webhookdelivery/"


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def failed_delivery(endpoint: WebhookEndpoint, n: int = 0) -> WebhookDelivery:
    return WebhookDelivery.objects.create(
        endpoint=endpoint,
        event="appointment.booked",
        payload={"type": "appointment.booked", "timestamp": timezone.now().isoformat(), "data": {"n": n}},
        message_id=f"msg_test{n}",
        status=Status.FAILED,
        attempts=5,
        last_status_code=500,
        last_error="HTTP 500",
    )


def test_adding_an_endpoint_shows_its_secret_once(clinic_admin, receiver):
    client = client_for(clinic_admin)
    response = client.post(
        f"{ENDPOINTS}add/",
        {
            "url": receiver.url(),
            "description": "Billing system",
            "events": ["appointment.booked", "patient.created"],
            "active": "on",
        },
        follow=True,
    )
    assert response.status_code == 200
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret.startswith("whsec_") and len(endpoint.secret) > 40
    assert endpoint.events == ["appointment.booked", "patient.created"]
    shown = [str(message) for message in response.context["messages"]]
    assert any(endpoint.secret in message for message in shown)

    # Never again: not on its page, not in the list, not in the page after saving it.
    for path in (ENDPOINTS, f"{ENDPOINTS}{endpoint.pk}/change/"):
        page = client.get(path)
        assert page.status_code == 200
        assert endpoint.secret not in page.content.decode()
    saved = client.post(
        f"{ENDPOINTS}{endpoint.pk}/change/",
        {"url": receiver.url(), "description": "Billing", "events": ["appointment.booked"], "active": "on"},
        follow=True,
    )
    assert endpoint.secret not in saved.content.decode()
    endpoint.refresh_from_db()
    assert endpoint.description == "Billing" and endpoint.secret.startswith("whsec_")


def test_an_endpoint_needs_an_event(clinic_admin, receiver):
    response = client_for(clinic_admin).post(
        f"{ENDPOINTS}add/", {"url": receiver.url(), "description": "", "events": [], "active": "on"}
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["events"]
    assert not WebhookEndpoint.objects.exists()


def test_a_failed_delivery_is_sent_again_from_the_admin(
    clinic_admin, endpoint, receiver, django_capture_on_commit_callbacks
):
    delivery = failed_delivery(endpoint)
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(clinic_admin).post(
            DELIVERIES, {"action": "send_again", "_selected_action": [delivery.pk]}, follow=True
        )
    assert response.status_code == 200
    assert any("sent again: 1" in str(m) for m in response.context["messages"])
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (Status.SENT, 1, 204)
    (request,) = receiver.requests
    assert request.headers["webhook-id"] == "msg_test0"


def test_only_a_failed_delivery_can_be_sent_again(clinic_admin, endpoint, django_capture_on_commit_callbacks):
    delivery = failed_delivery(endpoint)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status=Status.SENT)
    response = client_for(clinic_admin).post(
        DELIVERIES, {"action": "send_again", "_selected_action": [delivery.pk]}, follow=True
    )
    assert any("Only a failed delivery" in str(m) for m in response.context["messages"])
    delivery.refresh_from_db()
    assert delivery.status == Status.SENT and delivery.attempts == 5


def test_a_switched_off_endpoint_says_so_in_the_list_and_on_its_page(clinic_admin):
    endpoint = make_endpoint(
        "http://127.0.0.1:9/hook",
        active=False,
        switched_off_at=timezone.now(),
        switched_off_reason="Switched off after 5 failed deliveries in a row.",
        consecutive_failures=5,
    )
    failed_delivery(endpoint)
    client = client_for(clinic_admin)
    listing = client.get(ENDPOINTS).content.decode()
    assert "Switched off" in listing and "5 failed deliveries in a row" in listing
    page = client.get(f"{ENDPOINTS}{endpoint.pk}/change/")
    messages = [str(m) for m in page.context["messages"]]
    assert any("This endpoint is switched off since" in m for m in messages)
    assert "msg_test0" not in page.content.decode()  # the recent deliveries list, by time and event
    assert "HTTP 500" in page.content.decode()

    # Saved active again, it is on, with its count of failures reset.
    client.post(
        f"{ENDPOINTS}{endpoint.pk}/change/",
        {"url": endpoint.url, "description": "", "events": ["appointment.booked"], "active": "on"},
    )
    endpoint.refresh_from_db()
    assert (endpoint.active, endpoint.switched_off_at, endpoint.consecutive_failures) == (True, None, 0)


def test_deliveries_are_read_only_and_filtered(clinic_admin, endpoint):
    delivery = failed_delivery(endpoint)
    client = client_for(clinic_admin)
    filters = ("", "?status__exact=failed", "?event__exact=appointment.booked", f"?endpoint__id__exact={endpoint.pk}")
    for query in filters:
        response = client.get(f"{DELIVERIES}{query}")
        assert response.status_code == 200
        assert response.context["cl"].result_count == 1
    assert client.get(f"{DELIVERIES}?status__exact=sent").context["cl"].result_count == 0
    page = client.get(f"{DELIVERIES}{delivery.pk}/change/")
    assert page.status_code == 200 and "msg_test0" in page.content.decode()
    assert client.post(f"{DELIVERIES}{delivery.pk}/change/", {"status": "sent"}).status_code == 403
    assert client.get(f"{DELIVERIES}add/").status_code == 403
    assert client.get(f"{DELIVERIES}{delivery.pk}/delete/").status_code == 403


def test_the_delivery_changelist_runs_the_same_queries_for_more_rows(clinic_admin, endpoint):
    client = client_for(clinic_admin)
    failed_delivery(endpoint, 0)
    client.get(DELIVERIES)  # warm the session and the role
    with CaptureQueriesContext(connection) as few:
        assert client.get(DELIVERIES).status_code == 200
    for n in range(1, 12):
        failed_delivery(make_endpoint(f"http://127.0.0.1:9/{n}"), n)
    with CaptureQueriesContext(connection) as many:
        assert client.get(DELIVERIES).status_code == 200
    assert len(many) == len(few)


@pytest.mark.parametrize("role", ["reception", "doctor"])
def test_reception_and_doctors_do_not_see_webhooks(role, clinic_admin, endpoint):
    delivery = failed_delivery(endpoint)
    user = factories.ReceptionFactory() if role == "reception" else factories.DoctorFactory(user__is_staff=True).user
    client = client_for(user)
    for path in (
        ENDPOINTS,
        f"{ENDPOINTS}add/",
        f"{ENDPOINTS}{endpoint.pk}/change/",
        DELIVERIES,
        f"{DELIVERIES}{delivery.pk}/change/",
    ):
        assert client.get(path).status_code == 403, path
    response = client.post(DELIVERIES, {"action": "send_again", "_selected_action": [delivery.pk]})
    assert response.status_code == 403
    delivery.refresh_from_db()
    assert delivery.status == Status.FAILED
    assert "webhook" not in client.get("/admin/").content.decode().lower()
