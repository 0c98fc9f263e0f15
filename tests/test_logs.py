"""The production web process (the Procfile's gunicorn, with config/gunicorn.py) writes a
manage link's path as `/a/…`: its token never reaches a log line."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from django.conf import settings

from clinic.logs import redact


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
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/a/{token}/", timeout=5)
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
    assert "Not Found: /a/…/" in logged
    assert token not in logged and "WzEyMzQsMF0" not in logged
