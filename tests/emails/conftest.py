"""Fixtures for the email tests: an SMTP server on loopback and a real `qcluster` process."""

from __future__ import annotations

import asyncio
import email
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from email.message import Message
from pathlib import Path

import icalendar
import pytest
from aiosmtpd.controller import Controller
from django.conf import settings
from django.core.mail.backends.base import BaseEmailBackend
from django.db import connection

WAIT_SECONDS = 20  # the longest any single wait may take (PostgreSQL worker start-up included)


_running: list[Workers] = []


def wait_for(condition: Callable[[], object], *, what: str, timeout: float = WAIT_SECONDS) -> object:
    """Poll `condition` until it returns something truthy; fail after `timeout` seconds,
    or at once if a worker process started by the test has exited."""
    deadline = time.monotonic() + timeout
    while True:
        for workers in _running:
            workers.check_alive()
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def text_of(message: Message) -> str:
    """The text/plain part of a received message."""
    part = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    return part.get_payload(decode=True).decode()


def calendar_of(message: Message) -> tuple[Message, icalendar.Event, icalendar.Calendar]:
    """The text/calendar part of a message, its VEVENT and its VCALENDAR."""
    parts = [part for part in message.walk() if part.get_content_type() == "text/calendar"]
    assert len(parts) == 1, f"expected one text/calendar part, found {len(parts)}"
    calendar = icalendar.Calendar.from_ical(parts[0].get_payload(decode=True))
    events = list(calendar.walk("VEVENT"))
    assert len(events) == 1
    return parts[0], events[0], calendar


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RecordingHandler:
    """Keeps every message the server accepted; can hold a client at RCPT until released."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.hold_next = False
        self.holding = threading.Event()
        self.release = threading.Event()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.hold_next:
            self.hold_next = False
            self.holding.set()
            deadline = time.monotonic() + WAIT_SECONDS
            while not self.release.is_set() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.original_content or envelope.content))
        return "250 Message accepted for delivery"


class SMTPServer:
    """aiosmtpd on a fixed loopback port, started and stopped at will (to play "mail server down")."""

    def __init__(self) -> None:
        self.port = free_port()
        self.handler = RecordingHandler()
        self._controller: Controller | None = None

    @property
    def messages(self) -> list[Message]:
        return self.handler.messages

    def start(self) -> None:
        self._controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@pytest.fixture
def smtp_server() -> Iterator[SMTPServer]:
    """A running SMTP server; `.stop()`/`.start()` take it down and up again."""
    server = SMTPServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


class Workers:
    """Starts `python manage.py qcluster` processes on the test database; kills them all at the end."""

    def __init__(self, smtp_port: int, log_dir: Path) -> None:
        self.smtp_port = smtp_port
        self.log_dir = log_dir
        self.processes: list[subprocess.Popen] = []
        self.killed: set[int] = set()
        self.env_extra: dict[str, str] = {}

    def start(self) -> subprocess.Popen:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.worker_test",
            "WORKER_TEST_DATABASE_NAME": str(connection.settings_dict["NAME"]),
            "WORKER_TEST_SMTP_PORT": str(self.smtp_port),
            "PYTHONUNBUFFERED": "1",
            **self.env_extra,
        }
        log = open(self.log_dir / f"qcluster-{len(self.processes)}.log", "wb")  # noqa: SIM115
        process = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: killing it takes its children too
        )
        log.close()
        self.processes.append(process)
        return process

    def kill(self, process: subprocess.Popen) -> None:
        """SIGKILL the cluster and its worker processes, as a crash or an OOM kill would."""
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        self.killed.add(process.pid)

    def check_alive(self) -> None:
        for process in self.processes:
            if process.pid not in self.killed and process.poll() is not None:
                raise AssertionError(f"the worker exited with status {process.returncode}:\n{self.logs()}")

    def logs(self) -> str:
        return "\n".join(path.read_text(errors="replace") for path in sorted(self.log_dir.glob("qcluster-*.log")))


@pytest.fixture
def workers(smtp_server, monkeypatch) -> Iterator[Workers]:
    """Real worker processes; this test process enqueues to their broker instead of running tasks inline."""
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", False)
    with tempfile.TemporaryDirectory(prefix="clinic-qcluster-") as log_dir:
        started = Workers(smtp_server.port, Path(log_dir))
        _running.append(started)
        try:
            yield started
        finally:
            _running.remove(started)
            for process in started.processes:
                started.kill(process)
            # Captured by pytest and shown only when the test failed.
            print(started.logs())


class RefusingBackend(BaseEmailBackend):
    """An email backend whose mail server is down."""

    def send_messages(self, email_messages):
        raise ConnectionRefusedError(111, "Connection refused")
