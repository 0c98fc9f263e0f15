"""/health/live and /health/ready: JSON, no auth, 503 naming each failing check, 200 when all pass."""

from __future__ import annotations

import os
import socket
import uuid
from datetime import timedelta

import pytest
import redis
from django.db import OperationalError, connection
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone
from django_q.models import Schedule, Task

from clinic import health

pytestmark = pytest.mark.django_db

CHECKS = {"database", "migrations", "broker", "worker"}


@pytest.fixture(autouse=True)
def _migrations_not_yet_seen(monkeypatch):
    monkeypatch.setattr(health, "_migrations_applied", False)


def heartbeat(*, ago: timedelta = timedelta(seconds=10)) -> None:
    """What a worker leaves when it ran the heartbeat schedule: a success row of django-q2."""
    at = timezone.now() - ago
    Task.objects.create(
        id=uuid.uuid4().hex, name="heartbeat", func=health.HEARTBEAT_TASK, started=at, stopped=at, success=True
    )


def ready(client):
    response = client.get("/health/ready")
    body = response.json()
    assert set(body["checks"]) == CHECKS
    for entry in body["checks"].values():
        assert set(entry) == {"ok", "error", "ms"}
        assert isinstance(entry["ms"], float | int)
    return response, body


def test_live_answers_without_touching_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-store" in response["Cache-Control"]


def test_ready_is_200_when_every_check_passes(client):
    heartbeat()
    response, body = ready(client)
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert all(entry["ok"] and entry["error"] is None for entry in body["checks"].values())
    assert "no-store" in response["Cache-Control"]
    assert response["Content-Type"] == "application/json"


def test_ready_needs_no_sign_in_and_names_no_one(client, django_user_model):
    heartbeat()
    django_user_model.objects.create_user("someone", "someone@clinic.example", "pw-0123456789")
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert b"someone" not in response.content


def test_ready_is_503_when_the_database_does_not_answer(client, monkeypatch):
    heartbeat()

    def down(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(connection, "cursor", down)
    response, body = ready(client)
    assert response.status_code == 503
    assert body["status"] == "failing"
    assert body["checks"]["database"] == {
        "ok": False,
        "error": "OperationalError",
        "ms": body["checks"]["database"]["ms"],
    }


def test_ready_is_503_while_a_migration_is_unapplied(client):
    heartbeat()
    MigrationRecorder.Migration.objects.filter(app="clinic").order_by("-id").first().delete()
    response, body = ready(client)
    assert response.status_code == 503
    assert body["checks"]["migrations"]["ok"] is False
    assert "1 migration(s) not applied" in body["checks"]["migrations"]["error"]
    assert all(body["checks"][name]["ok"] for name in ("database", "broker", "worker"))


def test_all_applied_is_remembered_so_later_checks_skip_the_migration_graph(client, django_assert_max_num_queries):
    heartbeat()
    assert client.get("/health/ready").status_code == 200
    assert health._migrations_applied is True
    # Once seen applied it is not asked again: the check costs no query any more.
    with django_assert_max_num_queries(3):  # SELECT 1, the ORM broker's queue, the heartbeat
        assert client.get("/health/ready").status_code == 200


def test_ready_is_503_when_the_broker_does_not_answer(client, monkeypatch):
    heartbeat()

    class DownBroker:
        def ping(self):
            raise ConnectionError("Error 111 connecting to 127.0.0.1:1. Connection refused.")

    monkeypatch.setattr("django_q.brokers.get_broker", lambda *args, **kwargs: DownBroker())
    response, body = ready(client)
    assert response.status_code == 503
    assert body["checks"]["broker"] == {"ok": False, "error": "ConnectionError", "ms": body["checks"]["broker"]["ms"]}
    assert body["checks"]["database"]["ok"] and body["checks"]["worker"]["ok"]


def redis_broker(monkeypatch, url: str) -> None:
    """django-q2's real Redis broker (the one REDIS_URL selects), at `url`."""
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "ORM", None)
    monkeypatch.setattr(Conf, "REDIS", url)
    monkeypatch.setattr(Conf, "CLUSTER_NAME", "ops-health-test")


def test_ready_is_503_when_the_redis_broker_is_down(client, monkeypatch):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    redis_broker(monkeypatch, f"redis://127.0.0.1:{port}/7")
    heartbeat()
    response, body = ready(client)
    assert response.status_code == 503
    assert body["checks"]["broker"] == {"ok": False, "error": "ConnectionError", "ms": body["checks"]["broker"]["ms"]}


def test_ready_is_200_on_a_live_redis_broker(client, monkeypatch):
    url = os.environ.get("CLINIC_TEST_REDIS_URL", "redis://127.0.0.1:6379/7")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.ConnectionError:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"needs Redis at {url}")
    redis_broker(monkeypatch, url)
    heartbeat()
    response, body = ready(client)
    assert response.status_code == 200, body


def test_ready_is_503_when_no_worker_was_seen_within_two_minutes(client):
    heartbeat(ago=timedelta(minutes=3))
    response, body = ready(client)
    assert response.status_code == 503
    assert body["checks"]["worker"]["ok"] is False
    assert body["checks"]["worker"]["error"] == "no worker seen in the last 120 s"
    assert all(body["checks"][name]["ok"] for name in ("database", "migrations", "broker"))


def test_ready_is_503_before_any_worker_ran(client):
    response, body = ready(client)
    assert response.status_code == 503
    assert body["checks"]["worker"]["ok"] is False


def test_migrate_creates_the_heartbeat_schedule():
    schedule = Schedule.objects.get(name=health.HEARTBEAT_SCHEDULE)
    assert schedule.func == health.HEARTBEAT_TASK == "clinic.tasks.heartbeat"
    assert (schedule.schedule_type, schedule.minutes, schedule.repeats) == (Schedule.MINUTES, 1, -1)
