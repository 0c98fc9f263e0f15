"""A real HTTP receiver on loopback for the webhook tests, and endpoints pointing at it."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from clinic.models import WebhookEndpoint, WebhookEvent
from clinic.webhooks import secret_generate
from tests.emails.conftest import smtp_server, wait_for, workers  # noqa: F401 (fixtures used here)

HOLD_SECONDS = 20  # the longest a held request waits to be released


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: str

    @property
    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Records every POST; answers each with the next of `answers` (then `default`).

    An answer is a status code, ("redirect", location), or "hold": the request is recorded and
    then kept waiting until `release` is set (a worker can be killed meanwhile)."""

    port: int = 0
    requests: list[Received] = field(default_factory=list)
    answers: list = field(default_factory=list)
    default: int = 204
    holding: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def by_id(self) -> dict[str, list[Received]]:
        seen: dict[str, list[Received]] = {}
        for request in list(self.requests):
            seen.setdefault(request.headers["webhook-id"], []).append(request)
        return seen


def _handler_for(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
            with receiver.lock:
                receiver.requests.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                answer = receiver.answers.pop(0) if receiver.answers else receiver.default
            if answer == "hold":
                receiver.holding.set()
                deadline = time.monotonic() + HOLD_SECONDS
                while not receiver.release.is_set() and time.monotonic() < deadline:
                    time.sleep(0.05)
                answer = receiver.default
            if isinstance(answer, tuple):
                self.send_response(302)
                self.send_header("Location", answer[1])
            else:
                self.send_response(answer)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format, *args) -> None:
            pass

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(found))
    server.daemon_threads = True
    found.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield found
    finally:
        found.release.set()
        server.shutdown()
        server.server_close()


def make_endpoint(url: str, events=None, **extra) -> WebhookEndpoint:
    """An endpoint written directly (the admin's form and its SSRF check are tested on their own)."""
    return WebhookEndpoint.objects.create(
        url=url, events=list(events or WebhookEvent.values), secret=secret_generate(), **extra
    )


@pytest.fixture
def endpoint(db, receiver) -> WebhookEndpoint:
    return make_endpoint(receiver.url())


def received(receiver: Receiver, n: int) -> list[Received]:
    return wait_for(lambda: len(receiver.requests) >= n and list(receiver.requests), what=f"{n} webhook request(s)")
