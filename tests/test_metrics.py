"""/metrics: Prometheus' text format, names and labels pinned, never public, nothing about people."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient

from clinic import booking, webhooks
from clinic.models import EmailOutbox, WebhookEndpoint, WebhookEvent

pytestmark = pytest.mark.django_db

# name -> label names: what dashboards and alerts rely on.
PINNED = {
    "clinic_http_requests": {"route", "method", "status"},
    "clinic_http_request_duration_seconds": {"route", "method"},
    "clinic_bookings": set(),
    "clinic_booking_conflicts": {"code"},
    "clinic_appointment_status_moves": {"from_status", "to_status"},
    "clinic_login_failures": set(),
    "clinic_login_lockouts": set(),
    "clinic_outbox_rows": {"outbox", "status"},
    "clinic_queue_length": set(),
}


def value(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def scrape(client=None, **extra) -> dict:
    response = (client or Client()).get("/metrics", **extra)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    assert "no-store" in response["Cache-Control"]
    return {family.name: family for family in text_string_to_metric_families(response.content.decode())}


def samples(families: dict, family: str, name: str | None = None) -> dict:
    """labels -> value of the family's samples called `name` (the family's own name by default)."""
    name = name or family
    return {tuple(sorted(s.labels.items())): s.value for s in families[family].samples if s.name == name}


# --- Access ------------------------------------------------------------------------------


def test_without_a_token_set_loopback_clients_may_scrape_and_others_get_404(settings):
    settings.METRICS_TOKEN = ""
    assert Client().get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
    assert Client().get("/metrics", REMOTE_ADDR="::1").status_code == 200
    assert Client().get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 404
    assert Client().get("/metrics", REMOTE_ADDR="10.1.2.3", HTTP_AUTHORIZATION="Bearer x").status_code == 404


def test_with_a_token_set_only_the_bearer_token_opens_it(settings):
    settings.METRICS_TOKEN = "a-long-random-metrics-token"
    client = Client()
    assert client.get("/metrics").status_code == 404  # loopback is not enough then
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer a-long-random-metrics-tokeN")
    assert wrong.status_code == 401
    assert b"clinic_" not in wrong.content
    assert client.get("/metrics", HTTP_AUTHORIZATION="Basic a-long-random-metrics-token").status_code == 401
    right = client.get("/metrics", HTTP_AUTHORIZATION="Bearer a-long-random-metrics-token", REMOTE_ADDR="10.1.2.3")
    assert right.status_code == 200
    assert b"clinic_http_requests_total" in right.content


# --- Names and labels --------------------------------------------------------------------


def test_metric_names_and_labels_are_pinned(patient, doctor, next_monday_10, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        booking.appointment_book(actor=patient.user, patient=patient, doctor=doctor, start=next_monday_10)
    Client().get("/health/live")
    families = scrape()
    for name, labels in PINNED.items():
        assert name in families, name
        for sample in families[name].samples:
            assert set(sample.labels) - {"le"} == labels, (name, sample)
    assert families["clinic_http_request_duration_seconds"].type == "histogram"
    assert families["clinic_outbox_rows"].type == "gauge"


def test_requests_are_counted_by_route_name_and_status_never_the_path(patient):
    client = APIClient()
    client.force_authenticate(patient.user)
    before = value("clinic_http_requests_total", route="api:doctor-list", method="GET", status="200")
    missing = value("clinic_http_requests_total", route="<unmatched>", method="GET", status="404")
    assert client.get("/doctors/?search=secret-name").status_code == 200
    assert client.get("/no-such-page/secret/").status_code == 404
    assert value("clinic_http_requests_total", route="api:doctor-list", method="GET", status="200") == before + 1
    assert value("clinic_http_requests_total", route="<unmatched>", method="GET", status="404") == missing + 1
    body = Client().get("/metrics").content.decode()
    assert "secret" not in body
    assert 'clinic_http_request_duration_seconds_bucket{le="0.1",method="GET",route="api:doctor-list"}' in body


def test_a_token_link_is_counted_under_its_route_name():
    before = value("clinic_http_requests_total", route="clinic:manage", method="GET", status="404")
    Client().get("/a/WzEsMF0:not-a-real-token/")
    assert value("clinic_http_requests_total", route="clinic:manage", method="GET", status="404") == before + 1
    assert "not-a-real-token" not in Client().get("/metrics").content.decode()


def test_an_unknown_method_is_counted_as_other_and_never_becomes_a_label():
    from clinic import metrics

    before = value("clinic_http_requests_total", route="api:doctor-list", method="other", status="401")
    for verb in ("BREW", "WHEN"):
        # Refused before the method is looked at: nobody is signed in.
        assert Client().generic(verb, "/doctors/").status_code == 401
    assert value("clinic_http_requests_total", route="api:doctor-list", method="other", status="401") == before + 2
    assert not any(key[1] in ("BREW", "WHEN") for key in metrics._SERIES)  # a client cannot grow the cache
    body = Client().get("/metrics").content.decode()
    assert "BREW" not in body and "WHEN" not in body


# --- Bookings, 409s and status moves (committed only) ------------------------------------


def test_bookings_409s_and_status_moves_are_counted_once_committed(
    patient, doctor, next_monday_10, django_capture_on_commit_callbacks
):
    from tests.factories import PatientFactory

    booked, taken = value("clinic_bookings_total"), value("clinic_booking_conflicts_total", code="slot_taken")
    moved = value("clinic_appointment_status_moves_total", from_status="pending", to_status="confirmed")
    with django_capture_on_commit_callbacks(execute=True):
        appointment = booking.appointment_book(actor=patient.user, patient=patient, doctor=doctor, start=next_monday_10)
    assert value("clinic_bookings_total") == booked + 1

    other = PatientFactory()
    with pytest.raises(booking.SlotUnavailable), django_capture_on_commit_callbacks(execute=True):
        booking.appointment_book(actor=other.user, patient=other, doctor=doctor, start=next_monday_10)
    assert value("clinic_booking_conflicts_total", code="slot_taken") == taken + 1
    assert value("clinic_bookings_total") == booked + 1

    with django_capture_on_commit_callbacks(execute=True):
        booking.appointment_confirm(actor=doctor.user, appointment=appointment)
    assert value("clinic_appointment_status_moves_total", from_status="pending", to_status="confirmed") == moved + 1


def test_a_refused_move_counts_nothing(patient, doctor, next_monday_10, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        appointment = booking.appointment_book(actor=patient.user, patient=patient, doctor=doctor, start=next_monday_10)
    completed = value("clinic_appointment_status_moves_total", from_status="pending", to_status="completed")
    with pytest.raises(booking.BookingError), django_capture_on_commit_callbacks(execute=True):
        booking.appointment_complete(actor=doctor.user, appointment=appointment)
    assert value("clinic_appointment_status_moves_total", from_status="pending", to_status="completed") == completed


# --- Counted at scrape time ---------------------------------------------------------------


def test_outbox_rows_pending_and_failed_and_the_queue_length(patient, doctor, next_monday_10):
    # An endpoint on a closed port: its delivery of the booking waits in the outbox.
    WebhookEndpoint.objects.create(
        url="http://127.0.0.1:9/hook", events=[WebhookEvent.APPOINTMENT_BOOKED], secret=webhooks.secret_generate()
    )
    appointment = booking.appointment_book(actor=patient.user, patient=patient, doctor=doctor, start=next_monday_10)
    EmailOutbox.objects.create(appointment=appointment, kind="confirmed", sequence=0, status=EmailOutbox.Status.FAILED)
    rows = samples(scrape(), "clinic_outbox_rows")
    pending = EmailOutbox.objects.filter(status=EmailOutbox.Status.PENDING).count()
    assert pending >= 1
    assert rows[(("outbox", "email"), ("status", "pending"))] == pending
    assert rows[(("outbox", "email"), ("status", "failed"))] == 1
    assert rows[(("outbox", "waitlist_offer"), ("status", "pending"))] == 0
    assert rows[(("outbox", "webhook"), ("status", "pending"))] == 1
    assert rows[(("outbox", "webhook"), ("status", "failed"))] == 0
    assert samples(scrape(), "clinic_queue_length") == {(): 0}


def test_the_queue_length_is_the_brokers(monkeypatch):
    from django_q.conf import Conf
    from django_q.tasks import async_task

    monkeypatch.setattr(Conf, "SYNC", False)
    async_task("clinic.tasks.heartbeat")
    async_task("clinic.tasks.heartbeat")
    assert samples(scrape(), "clinic_queue_length") == {(): 2}


# --- Failed logins and lockouts ------------------------------------------------------------


def test_failed_logins_and_lockouts_are_counted(settings, patient):
    settings.AXES_ENABLED = True
    cache.clear()
    failed, locked = value("clinic_login_failures_total"), value("clinic_login_lockouts_total")
    client = APIClient()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/api/token/", {"username": patient.user.username, "password": "wrong"}, REMOTE_ADDR="10.9.8.7")
    assert value("clinic_login_failures_total") == failed + settings.AXES_FAILURE_LIMIT
    assert value("clinic_login_lockouts_total") == locked + 1
    cache.clear()


def test_metrics_list_no_personal_data(patient, doctor, next_monday_10):
    booking.appointment_book(actor=patient.user, patient=patient, doctor=doctor, start=next_monday_10)
    body = Client().get("/metrics").content.decode()
    for personal in (patient.user.username, patient.user.email, doctor.user.username, patient.user.last_name):
        assert personal and personal not in body


# --- Several gunicorn workers: multiprocess mode ------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_with_prometheus_multiproc_dir_a_scrape_adds_up_every_gunicorn_worker(tmp_path):
    """Two sync workers, each answering some of the requests: one scrape counts them all."""
    import os
    import subprocess
    import sys
    import time
    import urllib.request

    from django.conf import settings
    from django.db import connection

    from tests.test_logs import free_port

    port = free_port()
    multiproc = tmp_path / "metrics"
    multiproc.mkdir()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.worker_test",
        "WORKER_TEST_DATABASE_NAME": str(connection.settings_dict["NAME"]),
        "WORKER_TEST_SMTP_PORT": "1",
        "PROMETHEUS_MULTIPROC_DIR": str(multiproc),
    }
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "config.wsgi", "--config", "config/gunicorn.py",
             "--bind", f"127.0.0.1:{port}", "--workers", "2"],
            cwd=settings.BASE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{base}/metrics", timeout=5).read()  # noqa: S310 (loopback)
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise AssertionError(f"gunicorn did not answer:\n{log.read_text()}") from None
                time.sleep(0.2)
        for _ in range(40):
            urllib.request.urlopen(f"{base}/health/live", timeout=5).read()  # noqa: S310 (loopback)
        body = urllib.request.urlopen(f"{base}/metrics", timeout=5).read().decode()  # noqa: S310 (loopback)
    finally:
        server.terminate()
        server.wait(timeout=10)
    families = {family.name: family for family in text_string_to_metric_families(body)}
    live = samples(families, "clinic_http_requests", "clinic_http_requests_total")
    assert live[(("method", "GET"), ("route", "health-live"), ("status", "200"))] == 40
    assert len(list(multiproc.glob("counter_*.db"))) == 2, "each worker writes its own file"
    assert "clinic_outbox_rows" in families and "clinic_queue_length" in families
