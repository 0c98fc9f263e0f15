"""The SSRF guard: under production's rules a webhook goes only to https on public addresses,
checked in the admin's form and again when sent, on the very address the post connects to."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys

import pytest
from django.conf import settings
from django.test import Client, override_settings

from clinic import booking, webhooks
from clinic.models import WebhookDelivery, WebhookEndpoint
from tests.webhooks.conftest import make_endpoint

pytestmark = pytest.mark.django_db

PRODUCTION_RULES = override_settings(WEBHOOKS_ALLOW_PRIVATE=False, WEBHOOKS_REQUIRE_HTTPS=True)


def test_production_settings_turn_the_guard_on():
    code = (
        "import json, django; django.setup(); from django.conf import settings; "
        "print(json.dumps([settings.WEBHOOKS_ALLOW_PRIVATE, settings.WEBHOOKS_REQUIRE_HTTPS]))"
    )
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
    }
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=settings.BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [False, True]


@PRODUCTION_RULES
@pytest.mark.parametrize(
    ("url", "refusal"),
    [
        ("http://93.184.216.34/hook", webhooks.URL_HTTPS),
        ("ftp://93.184.216.34/hook", webhooks.URL_SCHEME),
        ("https://user:pw@93.184.216.34/hook", webhooks.URL_CREDENTIALS),
        ("https://127.0.0.1/hook", webhooks.URL_PRIVATE.format(address="127.0.0.1")),
        ("https://localhost/hook", "not public"),  # a host name that resolves to loopback
        ("https://10.1.2.3/hook", webhooks.URL_PRIVATE.format(address="10.1.2.3")),
        ("https://192.168.0.10/hook", "not public"),
        ("https://169.254.169.254/latest/meta-data/", "not public"),  # link-local: cloud metadata
        ("https://[::1]/hook", "not public"),
        ("https://[fe80::1]/hook", "not public"),
        ("https://[::ffff:10.0.0.1]/hook", "not public"),  # IPv4-mapped private
        ("https://224.0.0.1/hook", "not public"),  # multicast
        ("https://240.0.0.1/hook", "not public"),  # reserved
        ("https://0.0.0.0/hook", "not public"),  # unspecified
        ("https://100.64.0.1/hook", "not public"),  # carrier-grade NAT, not global
        ("https://no-such-host.invalid/hook", webhooks.URL_UNRESOLVED),
    ],
)
def test_production_refuses_urls_outside_https_and_public_addresses(url, refusal):
    found = webhooks.url_refusal(url)
    assert found is not None and refusal in found


@PRODUCTION_RULES
def test_production_accepts_https_to_a_public_address():
    assert webhooks.url_refusal("https://93.184.216.34/hook") is None
    assert webhooks.url_refusal("https://[2606:2800:220:1:248:1893:25c8:1946]:8443/x?y=1") is None


def test_local_and_test_settings_allow_http_on_loopback():
    assert webhooks.url_refusal("http://127.0.0.1:9/hook") is None
    assert webhooks.url_refusal("http://u:p@127.0.0.1:9/hook") == webhooks.URL_CREDENTIALS


@PRODUCTION_RULES
def test_the_admin_form_refuses_a_private_address(clinic_admin):
    client = Client()
    client.force_login(clinic_admin)
    response = client.post(
        "/admin/clinic/webhookendpoint/add/",
        {"url": "https://localhost/hook", "description": "", "events": ["appointment.booked"], "active": "on"},
    )
    assert response.status_code == 200
    assert "not public" in " ".join(response.context["adminform"].form.errors["url"])
    assert not WebhookEndpoint.objects.exists()


@PRODUCTION_RULES
@pytest.mark.parametrize("path", ["https://localhost:{port}/hook", "http://127.0.0.1:{port}/hook"])
def test_at_send_time_an_endpoint_on_a_private_address_is_refused(
    path, receiver, patient, doctor, next_monday_10, django_capture_on_commit_callbacks
):
    # Written past the form (an endpoint saved before the rules changed, say).
    make_endpoint(path.format(port=receiver.port))
    with override_settings(WEBHOOKS_RETRY_SECONDS=[3600]), django_capture_on_commit_callbacks(execute=True):
        booking.appointment_book(actor=patient.user, patient=patient, doctor=doctor, start=next_monday_10)
    assert receiver.requests == []
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == WebhookDelivery.Status.PENDING and delivery.attempts == 1
    assert "not public" in delivery.last_error or webhooks.URL_HTTPS in delivery.last_error


def _resolving(monkeypatch, host: str, answers: list[str]) -> list[str]:
    """Make `host` resolve to each of `answers` in turn (the last one from then on), as a DNS
    server rebinding its name would; other names resolve as usual."""
    real = socket.getaddrinfo
    asked: list[str] = []

    def getaddrinfo(name, port, *args, **kwargs):
        if name != host:
            return real(name, port, *args, **kwargs)
        address = answers[min(len(asked), len(answers) - 1)]
        asked.append(address)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


@PRODUCTION_RULES
def test_a_name_rebound_to_loopback_after_the_form_check_is_refused_at_send_time(
    monkeypatch, clinic_admin, receiver, patient, doctor, next_monday_10, django_capture_on_commit_callbacks
):
    asked = _resolving(monkeypatch, "rebind.example", ["93.184.216.34", "127.0.0.1"])
    endpoint = webhooks.endpoint_save(
        actor=clinic_admin,
        endpoint=WebhookEndpoint(url=f"https://rebind.example:{receiver.port}/hook", events=["appointment.booked"]),
    )
    assert endpoint.pk and asked == ["93.184.216.34"]
    with override_settings(WEBHOOKS_RETRY_SECONDS=[3600]), django_capture_on_commit_callbacks(execute=True):
        booking.appointment_book(actor=patient.user, patient=patient, doctor=doctor, start=next_monday_10)
    assert asked == ["93.184.216.34", "127.0.0.1"]
    assert receiver.requests == []
    assert "not public (127.0.0.1)" in WebhookDelivery.objects.get().last_error


def test_the_post_connects_to_the_checked_address_and_keeps_the_host_header(
    monkeypatch, receiver, patient, doctor, next_monday_10, django_capture_on_commit_callbacks
):
    asked = _resolving(monkeypatch, "hooks.example", ["127.0.0.1", "10.9.9.9"])
    make_endpoint(f"http://hooks.example:{receiver.port}/hook")
    with django_capture_on_commit_callbacks(execute=True):
        booking.appointment_book(actor=patient.user, patient=patient, doctor=doctor, start=next_monday_10)
    # Resolved once, and the connection went to that answer (a second lookup would have said 10.9.9.9).
    assert asked == ["127.0.0.1"]
    (request,) = receiver.requests
    assert request.headers["host"] == f"hooks.example:{receiver.port}"
    assert WebhookDelivery.objects.get().status == WebhookDelivery.Status.SENT
