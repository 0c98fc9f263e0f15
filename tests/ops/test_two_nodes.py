"""Two web nodes and two workers on one PostgreSQL database, on each of django-q2's brokers.

Two gunicorn instances (the Procfile's command, on two ports) take 60 concurrent bookings of
10 slots, half each; two `qcluster` workers send the confirmations, each through its own SMTP
server on loopback, and one worker is SIGKILLed while it is in the middle of a send. What
must hold: 10 bookings, 50 conflicts, no 5xx; every confirmation received exactly once (by
Message-ID, across both mail servers); and the appointments' history, the email outbox and
the nodes' access logs all agree with that.

The outbox's claim lasts the worker's task `timeout` (2 s in config/settings/worker_test.py,
`retry` 3 s), so the killed worker's email is handed back within seconds: on the database
broker the unacknowledged task is offered again; on Redis, which has no acknowledgement, the
`emails_send_due` schedule queues the pending row again (run here every two seconds, as the
schedule would every few minutes).

Webhooks go the same way: an endpoint subscribed to `appointment.booked` on a receiver on loopback
gets each booking's delivery, signed, and after deduplication by `webhook-id` exactly one per booking.
Each delivery channel is in `CHANNELS`: what its deliveries must agree with.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.db import connection
from django_q.tasks import async_task
from standardwebhooks.webhooks import Webhook

from clinic.api.tokens import ClinicRefreshToken
from clinic.models import Appointment, EmailOutbox, WebhookDelivery, WebhookEvent
from tests.emails.conftest import SMTPServer
from tests.factories import DoctorFactory, PatientFactory
from tests.ops.conftest import REDIS_URL, require_redis
from tests.webhooks.conftest import Receiver, make_endpoint

pytestmark = [pytest.mark.postgres, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

SLOTS = 10
BOOKINGS = 60
SETTLE_SECONDS = 1.5  # after all is sent, how long a duplicate has to show up

# A gunicorn access-log line: the request in quotes, then the status. JSON lines (a `path`/`status` pair) work too.
ACCESS_LINE = re.compile(r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/[\d.]+" (?P<status>\d{3}) ')


@dataclass
class Run:
    """What a run produced: the answers to the bookings, and the servers that saw the results."""

    answers: list[tuple[int, int, dict]]  # (node index, status, body)
    mail: list[SMTPServer]
    access_logs: list[str]
    hooks: Receiver


def _received_ids(mail: list[SMTPServer]) -> Counter:
    return Counter(message["Message-ID"] for server in mail for message in server.messages)


def _emails_agree(run: Run, booked: set[int]) -> None:
    received = _received_ids(run.mail)
    assert all(count == 1 for count in received.values()), f"an email arrived twice: {received}"
    outbox = list(EmailOutbox.objects.filter(appointment__in=booked))
    assert {(row.appointment_id, row.kind) for row in outbox} == {(pk, "booked") for pk in booked}
    assert all(row.status == EmailOutbox.Status.SENT for row in outbox), [(r.pk, r.status) for r in outbox]
    assert set(received) == {row.message_id for row in outbox}
    assert not EmailOutbox.objects.exclude(appointment__in=booked).exists()
    by_id = {message["Message-ID"]: message for server in run.mail for message in server.messages}
    for row in outbox:
        assert by_id[row.message_id]["To"] == row.recipient
    # The email of the killed worker was attempted again, not marked sent by the dead one.
    assert max(row.attempts for row in outbox) >= 2


def _webhooks_agree(run: Run, booked: set[int]) -> None:
    deliveries = list(WebhookDelivery.objects.all())
    assert sorted(d.payload["data"]["appointment_id"] for d in deliveries) == sorted(booked)
    assert all(d.status == WebhookDelivery.Status.SENT for d in deliveries), [(d.pk, d.status) for d in deliveries]
    received = run.hooks.by_id()
    # At least once on the wire; after deduplication by webhook-id, one per booking and none lost.
    assert set(received) == {d.message_id for d in deliveries}
    endpoint = deliveries[0].endpoint
    for delivery in deliveries:
        for request in received[delivery.message_id]:
            Webhook(endpoint.secret).verify(request.body, request.headers)
            assert request.json["type"] == WebhookEvent.APPOINTMENT_BOOKED


# Each channel: (name, check(run, booked appointment ids)).
CHANNELS = [("email", _emails_agree), ("webhook", _webhooks_agree)]


def _book_concurrently(ports: list[int], requests: list[tuple[str, dict]]) -> list[tuple[int, int, dict]]:
    """POST every (token, payload) at one moment, in its own thread, alternating between the nodes."""
    barrier = threading.Barrier(len(requests))
    answers: list = [None] * len(requests)

    def run(index: int, token: str, payload: dict) -> None:
        node = index % len(ports)
        request = urllib.request.Request(
            f"http://127.0.0.1:{ports[node]}/book-appointment/",
            data=json.dumps(payload).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            method="POST",
        )
        try:
            barrier.wait(timeout=30)
            try:
                with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
                    answers[index] = (node, response.status, json.loads(response.read()))
            except urllib.error.HTTPError as error:
                body = error.read()
                answers[index] = (node, error.code, json.loads(body) if body.startswith(b"{") else body.decode())
        except Exception as exc:  # pragma: no cover - reported through the assertions
            answers[index] = (node, repr(exc), {})

    threads = [threading.Thread(target=run, args=(i, *r)) for i, r in enumerate(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return answers


def _access_log_bookings(text: str) -> Counter:
    statuses: Counter = Counter()
    for line in text.splitlines():
        if line.startswith("{"):
            try:
                record = json.loads(line)
            except ValueError:
                continue
            path, status, method = record.get("path") or record.get("route"), record.get("status"), record.get("method")
        else:
            match = ACCESS_LINE.search(line)
            if not match:
                continue
            path, status, method = match["path"], match["status"], match["method"]
        if method == "POST" and path == "/book-appointment/" and status is not None:
            statuses[int(status)] += 1
    return statuses


@pytest.mark.parametrize("broker", ["redis", "orm"])
def test_two_nodes_and_two_workers_book_each_slot_once_and_send_each_confirmation_once(
    broker, cluster, next_monday_10, monkeypatch, receiver
):
    from django_q.brokers import get_broker
    from django_q.conf import Conf

    if broker == "redis":
        require_redis()
        cluster.redis_url = REDIS_URL
        monkeypatch.setattr(Conf, "ORM", None)
        monkeypatch.setattr(Conf, "REDIS", REDIS_URL)
    else:
        monkeypatch.setattr(Conf, "ORM", "default")
        monkeypatch.setattr(Conf, "REDIS", None)
    queue = get_broker()
    assert type(queue).__name__ == {"redis": "Redis", "orm": "ORM"}[broker]

    make_endpoint(receiver.url(), events=[WebhookEvent.APPOINTMENT_BOOKED])
    doctor = DoctorFactory()
    slots = [next_monday_10 + timedelta(minutes=30 * i) for i in range(SLOTS)]
    patients = [PatientFactory() for _ in range(BOOKINGS)]
    requests = [
        (
            str(ClinicRefreshToken.for_user(patient.user).access_token),
            {"doctor": doctor.pk, "appointment_time": slots[i % SLOTS].isoformat().replace("+00:00", "Z")},
        )
        for i, patient in enumerate(patients)
    ]
    connection.close()  # the nodes and workers hold the database's connections from here on

    mail = [SMTPServer(), SMTPServer()]  # one per worker: which worker sent what is then known
    for server in mail:
        server.start()
    try:
        mail[0].handler.hold_next = True  # worker 0's first delivery stalls at RCPT, mid-send
        web = [cluster.web(f"web-{i}", mail[0].port) for i in range(2)]
        workers = [cluster.worker(f"worker-{i}", server.port) for i, server in enumerate(mail)]
        for worker in workers:
            cluster.wait(lambda worker=worker: "running." in worker.output(), what=f"{worker.name} to run")

        answers = _book_concurrently([port for _, port in web], requests)

        cluster.wait(mail[0].handler.holding.is_set, what="worker 0 to be in the middle of a send")
        workers[0].kill_group()
        mail[0].handler.release.set()

        def all_sent() -> bool:
            if broker == "redis":
                # What the `emails_send_due` schedule does, every two seconds rather than minutes.
                async_task("clinic.tasks.emails_send_due")
                async_task("clinic.webhooks.deliveries_send_due")
                time.sleep(2)
            return all(
                model.objects.count() == SLOTS and not model.objects.exclude(status="sent").exists()
                for model in (EmailOutbox, WebhookDelivery)
            )

        cluster.wait(all_sent, what="every confirmation and webhook to be sent", timeout=60)
        time.sleep(SETTLE_SECONDS)
        access_logs = [process.output() for process, _ in web]
        run = Run(answers=answers, mail=mail, access_logs=access_logs, hooks=receiver)
    finally:
        for server in mail:
            server.stop()
        if broker == "redis":
            queue.delete_queue()

    statuses = Counter(status for _, status, _ in run.answers)
    assert statuses == {201: SLOTS, 409: BOOKINGS - SLOTS}, run.answers
    assert {node for node, status, _ in run.answers if status == 201} <= {0, 1}
    assert Counter(node for node, _, _ in run.answers) == {0: BOOKINGS // 2, 1: BOOKINGS // 2}
    booked = {body["id"] for _, status, body in run.answers if status == 201}

    # The database: one live appointment per slot, each with one history row (its creation).
    appointments = Appointment.objects.filter(doctor=doctor)
    assert set(appointments.values_list("pk", flat=True)) == booked
    assert sorted(appointments.values_list("appointment_time", flat=True)) == slots
    history = Appointment.history.filter(doctor_id=doctor.pk)
    assert Counter((row.id, row.history_type) for row in history) == {(pk, "+"): 1 for pk in booked}

    # The access logs: each node logged each of its answers, with the status it sent.
    logged = [_access_log_bookings(text) for text in run.access_logs]
    for node, counts in enumerate(logged):
        assert counts == Counter(status for n, status, _ in run.answers if n == node), (node, counts)
    assert sum(logged, Counter()) == {201: SLOTS, 409: BOOKINGS - SLOTS}

    # Both workers sent (worker 0 before it was killed, worker 1 the rest and the handed-back email).
    assert mail[1].messages, "the surviving worker sent nothing"
    for _name, check in CHANNELS:
        check(run, booked)
