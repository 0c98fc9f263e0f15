"""Stopping the clinic's processes loses nothing.

`make run` is honcho with Procfile.dev: on Ctrl-C honcho sends SIGTERM to each process's group
and SIGKILLs what is left after 5 seconds. The worker runs as `manage.py worker`
(clinic/management/commands/worker.py), which keeps qcluster out of that group and hands it
the signal, so it stops the way qcluster means to: the email it is sending goes out, the
tasks it had not started stay queued for the next worker. gunicorn (the Procfile's web) answers
the requests it had accepted before it exits (`graceful_timeout` in config/gunicorn.py).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import urllib.parse
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django_q.models import OrmQ

from clinic import booking
from clinic.api.tokens import ClinicRefreshToken
from clinic.models import Appointment, Doctor, EmailOutbox
from tests.emails.conftest import free_port
from tests.factories import DoctorFactory, PatientFactory
from tests.ops.conftest import answers
from tests.ops.test_two_nodes import _book_concurrently

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _database_url() -> str:
    """The test database, as a DATABASE_URL for processes started with the local settings."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    password = urllib.parse.quote(db["PASSWORD"] or "")
    return f"postgres://{db['USER']}:{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def database_broker(monkeypatch):
    """This test process enqueues to the database broker, for the worker to take."""
    from django_q.conf import Conf

    for key, value in {"SYNC": False, "ORM": "default", "REDIS": None}.items():
        monkeypatch.setattr(Conf, key, value)


def _book(patient, doctor, start):
    return booking.appointment_book(actor=patient.user, patient=patient, doctor=doctor, start=start)


def test_ctrl_c_on_make_run_stops_the_worker_within_honchos_grace_and_its_email_goes_out_once(
    cluster, smtp_server, database_broker, next_monday_10, monkeypatch, settings
):
    from django_q.conf import Conf

    # `make run`'s worker has the local settings: the cluster "clinic", on the database broker.
    monkeypatch.setattr(Conf, "PREFIX", "clinic")
    monkeypatch.setattr(Conf, "CLUSTER_NAME", "clinic")
    smtp_server.handler.hold_next = True  # the email is mid-send when Ctrl-C comes
    port = free_port()
    env = {key: value for key, value in os.environ.items() if key not in {"REDIS_URL", "DJANGO_SETTINGS_MODULE"}}
    env.update(
        DATABASE_URL=_database_url(),
        DEV_PORT=str(port),
        EMAIL_URL=f"smtp://127.0.0.1:{smtp_server.port}",
        DJANGO_SECRET_KEY=settings.SECRET_KEY,  # tasks are signed with it
        PYTHONUNBUFFERED="1",
    )
    honcho = cluster.start("honcho", [sys.executable, "-m", "honcho", "-f", "Procfile.dev", "start"], env)
    cluster.wait(lambda: "Cluster" in honcho.output() and "running." in honcho.output(), what="the worker to run")
    cluster.wait(lambda: answers(port), what="the web process to answer")

    appointment = _book(PatientFactory(), DoctorFactory(), next_monday_10)
    cluster.wait(smtp_server.handler.holding.is_set, what="the worker to be mid-send")

    honcho.signal(signal.SIGINT)  # what Ctrl-C sends honcho (its children are in sessions of their own)
    cluster.wait(lambda: "stopping" in honcho.output(), what="the worker to begin stopping")
    time.sleep(0.5)
    smtp_server.handler.release.set()
    returncode = honcho.popen.wait(timeout=30)
    output = honcho.output()

    assert returncode == 130, output  # honcho's own code for "stopped by SIGINT"
    assert "SIGKILL" not in output and "killing" not in output.lower(), output
    assert "worker.1 stopped (rc=0)" in output, output
    assert "web.1 stopped (rc=0)" in output, output
    assert len(smtp_server.messages) == 1
    outbox = EmailOutbox.objects.get(appointment=appointment)
    assert (outbox.status, outbox.attempts) == (EmailOutbox.Status.SENT, 1)
    assert not OrmQ.objects.exists()  # the task was acknowledged, not left to run again


def test_a_worker_whose_group_gets_sigterm_finishes_its_email_and_leaves_the_rest_queued_for_the_next(
    cluster, smtp_server, database_broker, next_monday_10
):
    smtp_server.handler.hold_next = True
    doctor = DoctorFactory()
    # One worker process: the emails it has not taken when the SIGTERM comes stay in the broker.
    first = cluster.start(
        "worker-0", [sys.executable, "manage.py", "worker"], cluster.env(smtp_server.port, WORKER_TEST_WORKERS="1")
    )
    cluster.wait(lambda: "running." in first.output(), what="the worker to run")
    appointments = [_book(PatientFactory(), doctor, next_monday_10 + timedelta(minutes=30 * i)) for i in range(8)]
    cluster.wait(smtp_server.handler.holding.is_set, what="the worker to be mid-send")

    # A Procfile platform stopping the dyno: SIGTERM to every process of the group at once.
    first.expected_to_exit = True
    os.killpg(first.pid, signal.SIGTERM)
    cluster.wait(lambda: "stopping" in first.output(), what="the worker to begin stopping")
    smtp_server.handler.release.set()
    assert first.popen.wait(timeout=30) == 0, first.output()
    sent_by_first = len(smtp_server.messages)
    assert sent_by_first >= 1  # the email it was sending went out

    second = cluster.start("worker-1", [sys.executable, "manage.py", "worker"], cluster.env(smtp_server.port))
    cluster.wait(lambda: "running." in second.output(), what="the second worker to run")
    cluster.wait(
        lambda: not EmailOutbox.objects.exclude(status=EmailOutbox.Status.SENT).exists(), what="every email sent"
    )
    cluster.wait(lambda: not OrmQ.objects.exists(), what="every task acknowledged")
    time.sleep(1)  # a duplicate would show now
    ids = [message["Message-ID"] for message in smtp_server.messages]
    assert len(ids) == len(set(ids)) == len(appointments), ids
    assert all(row.attempts == 1 for row in EmailOutbox.objects.all())  # none was cut off mid-send
    assert len(ids) > sent_by_first  # the second worker sent what the first had left queued
    second.signal(signal.SIGTERM)
    assert second.popen.wait(timeout=30) == 0, second.output()


@pytest.mark.postgres
def test_a_sigtermed_gunicorn_answers_the_requests_it_had_accepted(cluster, next_monday_10):
    doctor = DoctorFactory()
    patients = [PatientFactory() for _ in range(8)]
    requests = [
        (
            str(ClinicRefreshToken.for_user(patient.user).access_token),
            {"doctor": doctor.pk, "appointment_time": (next_monday_10 + timedelta(minutes=30 * i)).isoformat()},
        )
        for i, patient in enumerate(patients)
    ]
    web, port = cluster.web("web", free_port(), workers=1)

    # Every booking waits on the doctor's row lock, held here, so all are in flight at the SIGTERM.
    locked, release = threading.Event(), threading.Event()

    def hold_the_doctor():
        with transaction.atomic():
            list(Doctor.objects.select_for_update().filter(pk=doctor.pk))
            locked.set()
            release.wait(timeout=60)
        connection.close()

    holder = threading.Thread(target=hold_the_doctor)
    holder.start()
    locked.wait(timeout=30)
    results: list = []
    sender = threading.Thread(target=lambda: results.extend(_book_concurrently([port], requests)))
    sender.start()
    cluster.wait(lambda: _waiting_on_locks() >= 4, what="the bookings to wait on the doctor's lock")

    web.signal(signal.SIGTERM)
    time.sleep(1)
    release.set()
    holder.join(timeout=30)
    sender.join(timeout=90)
    returncode = web.popen.wait(timeout=60)

    assert returncode == 0, web.output()
    accepted = [status for _, status, _ in results if isinstance(status, int)]
    # Each booking that had reached a worker was answered, and the answers match the database.
    assert len(accepted) >= 4, results
    assert set(accepted) <= {201}, results
    assert Appointment.objects.filter(doctor=doctor).count() == accepted.count(201)


def _waiting_on_locks() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]
