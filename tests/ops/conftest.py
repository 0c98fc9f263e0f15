"""Real processes for the operations tests: gunicorn nodes and qcluster workers on the test database.

Each process runs under config/settings/worker_test.py (the test database by name, SMTP on a
loopback port, short task timeouts), in its own process group, with its output in a log file
that a failing test prints. The test's own process enqueues to the same broker and cluster.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from tests.emails.conftest import free_port, smtp_server  # noqa: F401 - a fixture
from tests.webhooks.conftest import receiver  # noqa: F401 - a fixture

WAIT_SECONDS = 30  # the longest any single wait may take (start-up on a busy machine included)
# Redis db 8 belongs to these tests; CLINIC_TEST_REDIS_URL points them elsewhere.
REDIS_URL = os.environ.get("CLINIC_OPS_REDIS_URL", "redis://127.0.0.1:6379/8")


def require_redis(url: str = REDIS_URL) -> None:
    """Skip when Redis is not there; in CI (CI=true) fail instead."""
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        message = f"needs Redis at {url}: {exc}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


class Process:
    """One started process: its Popen, its log file, what it is."""

    def __init__(self, name: str, popen: subprocess.Popen, log: Path) -> None:
        self.name, self.popen, self.log = name, popen, log
        self.expected_to_exit = False

    @property
    def pid(self) -> int:
        return self.popen.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def signal(self, signum: int) -> None:
        """Send `signum` to the process itself (as a supervisor would)."""
        self.expected_to_exit = True
        if self.popen.poll() is None:
            os.kill(self.popen.pid, signum)

    def kill_group(self) -> None:
        """SIGKILL the process and its children, as a crash or an OOM kill would."""
        self.expected_to_exit = True
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=10)


class Cluster:
    """Starts the clinic's processes against the test database; kills whatever is left at the end."""

    def __init__(self, log_dir: Path, name: str) -> None:
        self.log_dir = log_dir
        self.name = name  # the django-q2 cluster name: its own queue and signing salt
        self.redis_url = ""
        self.processes: list[Process] = []

    def env(self, smtp_port: int, **extra: str) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if key != "REDIS_URL"}
        env.update(
            DJANGO_SETTINGS_MODULE="config.settings.worker_test",
            WORKER_TEST_DATABASE_NAME=str(connection.settings_dict["NAME"]),
            WORKER_TEST_SMTP_PORT=str(smtp_port),
            WORKER_TEST_CLUSTER_NAME=self.name,
            PYTHONUNBUFFERED="1",
        )
        if self.redis_url:
            env["REDIS_URL"] = self.redis_url
        env.update(extra)
        return env

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> Process:
        log = self.log_dir / f"{len(self.processes):02d}-{name}.log"
        with open(log, "wb") as out:
            popen = subprocess.Popen(
                argv,
                cwd=settings.BASE_DIR,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: killing it takes its children too
            )
        process = Process(name, popen, log)
        self.processes.append(process)
        return process

    def web(self, name: str, smtp_port: int, *, workers: int = 2) -> tuple[Process, int]:
        """A gunicorn node on a free loopback port, with the Procfile's config; waits until it answers."""
        port = free_port()
        argv = [
            *[sys.executable, "-m", "gunicorn", "config.wsgi", "--config", "config/gunicorn.py"],
            *["--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--threads", "4"],
        ]
        process = self.start(name, argv, self.env(smtp_port))
        self.wait(lambda: answers(port), what=f"{name} to answer on port {port}")
        return process, port

    def worker(self, name: str, smtp_port: int) -> Process:
        """A bare `manage.py qcluster`, not `manage.py worker`: SIGKILLing its group kills the whole
        cluster, as a crash would."""
        return self.start(name, [sys.executable, "manage.py", "qcluster"], self.env(smtp_port))

    def check_alive(self) -> None:
        for process in self.processes:
            if not process.expected_to_exit and process.popen.poll() is not None:
                raise AssertionError(f"{process.name} exited with status {process.popen.returncode}:\n{self.logs()}")

    def wait(self, condition: Callable[[], object], *, what: str, timeout: float = WAIT_SECONDS) -> object:
        """Poll `condition` until truthy; fail after `timeout`, or at once if a process died unexpectedly."""
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            result = condition()
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}:\n{self.logs()}")
            time.sleep(0.05)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} ---\n{p.output()}" for p in self.processes)

    def stop_all(self) -> None:
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError, subprocess.TimeoutExpired):
                process.kill_group()


def answers(port: int) -> bool:
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)
    except urllib.error.HTTPError:
        return True  # it answered, whatever it said
    except OSError:
        return False
    return True


@pytest.fixture
def cluster(monkeypatch) -> Iterator[Cluster]:
    """Processes on this test's database; this test process enqueues to their broker (not inline)."""
    from django_q.conf import Conf

    name = f"nodes-{uuid.uuid4().hex[:12]}"
    for key, value in {"SYNC": False, "PREFIX": name, "CLUSTER_NAME": name}.items():
        monkeypatch.setattr(Conf, key, value)
    with tempfile.TemporaryDirectory(prefix="clinic-ops-") as log_dir:
        started = Cluster(Path(log_dir), name)
        try:
            yield started
        finally:
            started.stop_all()
            print(started.logs())  # captured by pytest; shown only when the test failed
