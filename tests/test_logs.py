"""The production web process (the Procfile's gunicorn, with config/gunicorn.py) writes a
manage link's path as `/a/…`: its token never reaches a log line. Under the production settings
log lines are JSON with the request's id, which the worker's lines of a task it queued carry too."""

from __future__ import annotations

import base64
import http.client
import io
import json
import logging
import logging.config
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from django.conf import settings

from clinic.logs import JsonFormatter, carries_request_id, redact, request_id_var
from config.settings.base import logging_config


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_procfile_runs_gunicorn_with_the_redacting_config():
    web = next(line for line in (settings.BASE_DIR / "Procfile").read_text().splitlines() if line.startswith("web:"))
    assert "--config config/gunicorn.py" in web


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("GET /a/WzEsMF0:sig/ HTTP/1.1", "GET /a/…/ HTTP/1.1"),
        ("Not Found: /a/WzEsMF0:sig/", "Not Found: /a/…/"),
        ("https://clinic.example/a/WzEsMF0:sig/?x=1", "https://clinic.example/a/…/?x=1"),
        ("GET /w/WzEsMl0:sig/ HTTP/1.1", "GET /w/…/ HTTP/1.1"),
        ("/admin/a/b/", "/admin/a/b/"),
        ("/admin/w/b/", "/admin/w/b/"),
        ("/static/a/b.css", "/static/a/b.css"),
    ],
)
def test_redact_takes_out_only_manage_link_tokens(line, expected):
    assert redact(line) == expected


def test_gunicorn_logs_the_manage_link_path_without_its_token(tmp_path):
    port = free_port()
    token = "WzEyMzQsMF0:not-the-real-signature-but-a-token-all-the-same"
    log = tmp_path / "gunicorn.log"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test", "PYTHONUNBUFFERED": "1"}
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "config.wsgi", "--config", "config/gunicorn.py",
             "--bind", f"127.0.0.1:{port}", "--workers", "1"],
            cwd=settings.BASE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/a/{token}/?email=alice@example.test",
                headers={
                    "Referer": "https://clinic.example/book/?name=alice",
                    "Authorization": "Basic " + base64.b64encode(b"alice.smith:secret").decode(),
                },
            )
            try:
                urllib.request.urlopen(request, timeout=5)  # noqa: S310 (http on loopback)
            except urllib.error.HTTPError as error:
                assert error.code == 404
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise AssertionError(f"gunicorn did not answer:\n{log.read_text()}") from None
                time.sleep(0.2)
        time.sleep(0.5)  # the access log line is written after the response
    finally:
        server.terminate()
        server.wait(timeout=10)
    logged = log.read_text()
    assert '"GET /a/…/ HTTP/1.1" 404' in logged
    assert '"https://clinic.example/book/"' in logged  # the referer, without its query string
    assert "Not Found: /a/…/" in logged
    assert token not in logged and "WzEyMzQsMF0" not in logged
    # No query string, no Basic-auth user name, in any line.
    assert "alice" not in logged and "?email" not in logged and "?name" not in logged


# --- JSON lines -------------------------------------------------------------------------


@pytest.fixture
def json_log():
    """The production logging config, its console writing into a buffer; the test config after."""
    logging.config.dictConfig(logging_config(json_lines=True, access_log=True))
    stream = io.StringIO()
    logging.getLogger().handlers[0].setStream(stream)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        logging.config.dictConfig(settings.LOGGING)


@pytest.mark.django_db
def test_a_request_logs_one_json_line_with_its_id_route_status_duration_and_user_id(json_log, client, patient):
    client.force_login(patient.user)
    response = client.get("/my/appointments/?q=alice@example.test", HTTP_X_REQUEST_ID="req-42")
    assert response.status_code == 200
    (line,) = [line for line in json_log() if line["logger"] == "clinic.access"]
    assert line["request_id"] == "req-42"
    assert line["method"] == "GET"
    assert line["route"] == "clinic:my-appointments"
    assert line["path"] == "/my/appointments/"
    assert line["status"] == 200
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert line["user_id"] == patient.user.pk
    assert line["level"] == "INFO" and "time" in line
    text = json.dumps(line)
    assert "alice" not in text and "?q=" not in text
    assert patient.user.username not in text and patient.user.email not in text


@pytest.mark.django_db
def test_a_manage_link_is_logged_as_a_dots_and_a_malformed_id_replaced(json_log, client):
    token = "WzEsMF0:the-signed-token-itself"
    response = client.get(f"/a/{token}/", HTTP_X_REQUEST_ID="bad id\x07")
    assert response.status_code == 404
    lines = json_log()
    assert lines, "nothing was logged"
    assert token not in json.dumps(lines)
    access = next(line for line in lines if line["logger"] == "clinic.access")
    assert access["path"] == "/a/…/" and access["route"] == "clinic:manage" and access["status"] == 404
    assert access["request_id"] == response["X-Request-ID"] != "bad id\x07"
    assert "user_id" not in access  # nobody signed in
    # Django's own "Not Found" line of the request carries the same id.
    assert all(line["request_id"] == access["request_id"] for line in lines)


def test_an_exception_is_one_json_line_with_its_traceback():
    record = logging.LogRecord("clinic", logging.ERROR, __file__, 1, "failed at /w/WzEsMl0:sig/", (), None)
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "failed at /w/WzEsMl0:sig/"  # the handler's filter redacts messages
    assert "ValueError: boom" in line["exc"]
    assert "\n" not in JsonFormatter().format(record)


def test_a_task_queued_with_a_request_id_logs_with_it(json_log):
    @carries_request_id
    def task(x):
        logging.getLogger("clinic.tasks").warning("working on %s", x)
        return x * 2

    assert task(2, request_id="req-from-the-web") == 4
    assert task(3) == 6  # queued without a request
    assert request_id_var.get() == ""
    lines = json_log()
    with_id = [line for line in lines if line.get("request_id") == "req-from-the-web"]
    assert [line["message"] for line in with_id] == ["working on 2", "task task finished"]
    assert all("request_id" not in line for line in lines if line["message"] in ("working on 3",))


def test_production_gunicorn_writes_json_lines_with_the_request_id(tmp_path):
    """The Procfile's gunicorn under config.settings.production: each request's line is JSON."""
    port = free_port()
    log = tmp_path / "gunicorn.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": "a-production-like-secret-key-" + "q7Zx" * 12,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'unused.sqlite3'}",
        "PYTHONUNBUFFERED": "1",
    }
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "config.wsgi", "--config", "config/gunicorn.py",
             "--bind", f"127.0.0.1:{port}", "--workers", "1"],
            cwd=settings.BASE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/health/live?email=alice@example.test", headers={"X-Request-ID": "probe-7"}
            )
            try:
                with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 (http on loopback)
                    assert response.headers["X-Request-ID"] == "probe-7"
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise AssertionError(f"gunicorn did not answer:\n{log.read_text()}") from None
                time.sleep(0.2)
        # The HTTPS redirect spares the health checks only: load balancers probe over plain HTTP.
        plain = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        plain.request("GET", "/health/ready")
        assert plain.getresponse().status == 503  # not a 301: no database or worker in this test
        plain.request("GET", "/metrics")
        assert plain.getresponse().status == 301
        plain.close()
        time.sleep(0.5)
    finally:
        server.terminate()
        server.wait(timeout=10)
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    (access, *_) = [line for line in lines if line["logger"] == "clinic.access"]
    assert access["request_id"] == "probe-7"
    assert (access["route"], access["path"], access["status"], access["method"]) == (
        "health-live",
        "/health/live",
        200,
        "GET",
    )
    assert "alice" not in log.read_text()  # no query string, in the JSON lines nor in gunicorn's
