"""`python manage.py worker`: django-q2's `qcluster`, which stops gracefully however it is signalled.

Supervisors that stop a whole process group (honcho's Ctrl-C, a Procfile platform stopping a
dyno) send SIGTERM to every process in it. qcluster's sentinel and worker processes keep
SIGTERM's default action, so they die at once, mid-task; the cluster's main process then waits
on the dead sentinel for ever (django-q2's stop wakes the sentinel through a multiprocessing
Event, which waits for the dead sleeper), until the supervisor SIGKILLs it.

This command runs qcluster in a session of its own, where a group-wide signal does not reach
it, and hands SIGINT/SIGTERM to qcluster's main process only. That is the signal qcluster
handles: the pusher stops taking tasks, each worker finishes the task it holds (its result is
saved, the broker acknowledged), and the cluster exits. A task killed all the same (SIGKILL,
a crash) is handed back by the outbox's claim (clinic/tasks.py).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys

from django.conf import settings
from django.core.management.base import BaseCommand

PR_SET_PDEATHSIG = 1


def _stop_with_parent() -> None:  # runs in the child, before exec
    """Should this command die without passing the signal on, qcluster is told to stop too (Linux)."""
    with contextlib.suppress(AttributeError, OSError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _exit(code: int) -> None:
    """Exit at once, output flushed: the interpreter's own shutdown (a garbage collection of the
    whole heap) takes seconds on a busy machine, which would eat into a supervisor's grace."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


class Command(BaseCommand):
    help = "Run the task worker (qcluster); SIGINT/SIGTERM to this process or its group stop it gracefully."

    def add_arguments(self, parser):
        parser.add_argument("--in-session", action="store_true", help=argparse.SUPPRESS)

    def handle(self, *args, in_session=False, **options):
        if in_session:
            self.run_cluster()
        child = subprocess.Popen(
            [sys.executable, "-m", "django", "worker", "--in-session"],
            cwd=settings.BASE_DIR,
            start_new_session=True,
            preexec_fn=_stop_with_parent,
        )

        def forward(signum, frame):
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

        signal.signal(signal.SIGTERM, forward)
        signal.signal(signal.SIGINT, forward)
        code = child.wait()
        # A cluster killed by a signal reports -N; exit as a shell would (128 + N).
        _exit(code if code >= 0 else 128 - code)

    def run_cluster(self) -> None:
        """What `manage.py qcluster` does, then wait for the cluster to stop (qcluster's own
        SIGTERM handler stops it) and exit with 0 when it stopped cleanly."""
        from django_q.cluster import Cluster

        cluster = Cluster()
        cluster.start()
        while cluster.sentinel.is_alive():
            cluster.sentinel.join(timeout=1)
        _exit(0 if cluster.sentinel.exitcode == 0 else 1)
