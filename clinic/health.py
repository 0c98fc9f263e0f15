"""Health checks for load balancers and orchestrators: `/health/live` and `/health/ready`.

live: the process answers (no database, no broker). ready: the database answers, every
migration is applied, the django-q2 broker answers, and a worker was seen within
`WORKER_SEEN_WITHIN`. A worker is seen by the "Worker heartbeat" schedule (created after
`migrate`, clinic/apps.py): a cluster runs `clinic.tasks.heartbeat` every minute and django-q2
keeps each success as a row of its own table, in the database every node shares.

Answers JSON, 200 when every check passes else 503, one entry per check with `ok`, `error` and
`ms`. No auth, no throttling, nothing about people, `Cache-Control: no-store`.
"""

from __future__ import annotations

import time
from datetime import timedelta

from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache

HEARTBEAT_TASK = "clinic.tasks.heartbeat"
HEARTBEAT_SCHEDULE = "Worker heartbeat"
WORKER_SEEN_WITHIN = timedelta(minutes=2)

# Once every migration is applied it stays so for this process's life (code does not change
# under a running process), so the check is done until it first passes, then cached.
_migrations_applied = False


class Failed(Exception):
    """A check's own failure, with the reason it reports."""


def check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def check_migrations() -> None:
    global _migrations_applied
    if _migrations_applied:
        return
    executor = MigrationExecutor(connection)
    unapplied = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if unapplied:
        raise Failed(f"{len(unapplied)} migration(s) not applied")
    _migrations_applied = True


def check_broker() -> None:
    from django_q.brokers import get_broker

    broker = get_broker()
    if broker.ping() is False:  # Redis: a PING (raises when it is down); the ORM broker answers True
        raise Failed("the broker did not answer")
    broker.queue_size()  # a round trip on every broker: LLEN on Redis, a count of its table on the ORM


def check_worker() -> None:
    from django_q.models import Success

    since = timezone.now() - WORKER_SEEN_WITHIN
    if not Success.objects.filter(func=HEARTBEAT_TASK, stopped__gte=since).exists():
        raise Failed(f"no worker seen in the last {int(WORKER_SEEN_WITHIN.total_seconds())} s")


CHECKS = {
    "database": check_database,
    "migrations": check_migrations,
    "broker": check_broker,
    "worker": check_worker,
}


def _run(check) -> dict:
    started = time.perf_counter()
    try:
        check()
        entry = {"ok": True, "error": None}
    except Failed as exc:
        entry = {"ok": False, "error": str(exc)}
    except Exception as exc:  # a check that cannot run has failed; name the kind, not the details
        entry = {"ok": False, "error": type(exc).__name__}
    entry["ms"] = round((time.perf_counter() - started) * 1000, 2)
    return entry


@never_cache
def live(request):
    return JsonResponse({"status": "ok"})


@never_cache
def ready(request):
    checks = {name: _run(check) for name, check in CHECKS.items()}
    ok = all(entry["ok"] for entry in checks.values())
    return JsonResponse({"status": "ok" if ok else "failing", "checks": checks}, status=200 if ok else 503)
