"""Prometheus metrics at /metrics (prometheus-client).

Counted where things happen, one small call each: requests (the middleware below, by route
name, never the raw path), bookings, 409s and status moves (clinic/booking.py), failed logins
and lockouts (Django's and django-axes' signals, connected in clinic/apps.py). Counted at scrape
time: outbox rows pending and failed (`outboxes()`: add a model there to count it too) and the
broker's queue length.

Under gunicorn with several workers set PROMETHEUS_MULTIPROC_DIR (an empty directory, emptied
at each start): every process writes its counters there and a scrape adds them up
(config/gunicorn.py marks exited workers dead). Without it, each process has its own registry.

Access: `Authorization: Bearer $METRICS_TOKEN` (constant-time compare); a wrong token is 401 and
no token 404. With METRICS_TOKEN unset, loopback clients only; others get 404.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import time

from django.conf import settings
from django.db.models import Count
from django.http import Http404, HttpResponse
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.django import PrometheusDjangoView
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

# Few buckets: each is a sample per route on every scrape.
BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

REQUESTS = Counter(
    "clinic_http_requests", "HTTP requests answered, by route name and status.", ["route", "method", "status"]
)
LATENCY = Histogram(
    "clinic_http_request_duration_seconds",
    "Time to answer a request, by route name.",
    ["route", "method"],
    buckets=BUCKETS,
)
BOOKINGS = Counter("clinic_bookings", "Appointments booked (committed).")
SLOT_TAKEN = Counter("clinic_booking_conflicts", "Bookings refused with 409: the time was taken.", ["code"])
STATUS_MOVES = Counter(
    "clinic_appointment_status_moves", "Appointment status changes (committed).", ["from_status", "to_status"]
)
FAILED_LOGINS = Counter("clinic_login_failures", "Failed logins, on every path.")
LOCKOUTS = Counter("clinic_login_lockouts", "Logins refused by the lockout (django-axes).")

UNMATCHED = "<unmatched>"


def booked() -> None:
    BOOKINGS.inc()


def slot_taken(code: str) -> None:
    SLOT_TAKEN.labels(code=code).inc()


def status_moved(old: str, new: str) -> None:
    STATUS_MOVES.labels(from_status=old, to_status=new).inc()


def login_failed(**kwargs) -> None:
    FAILED_LOGINS.inc()


def locked_out(**kwargs) -> None:
    LOCKOUTS.inc()


def outboxes() -> dict:
    """The outboxes counted at each scrape: name -> a model with OutboxRow's `status`."""
    from clinic.models import EmailOutbox, WaitlistOffer, WebhookDelivery

    return {"email": EmailOutbox, "waitlist_offer": WaitlistOffer, "webhook": WebhookDelivery}


class ScrapeTimeCollector(Collector):
    """Counts read from the database and the broker when /metrics is scraped."""

    def describe(self):
        return []  # registering must not query the database

    def collect(self):
        from django_q.brokers import get_broker

        from clinic.models import OutboxRow

        statuses = (OutboxRow.Status.PENDING, OutboxRow.Status.FAILED)
        rows = GaugeMetricFamily(
            "clinic_outbox_rows", "Outbox rows waiting or given up on.", labels=["outbox", "status"]
        )
        for name, model in outboxes().items():
            counts = dict(model.objects.filter(status__in=statuses).values_list("status").annotate(n=Count("pk")))
            for status in statuses:
                rows.add_metric([name, str(status)], counts.get(status, 0))
        yield rows
        queue = GaugeMetricFamily("clinic_queue_length", "Tasks waiting in the django-q2 broker.")
        try:
            queue.add_metric([], get_broker().queue_size() or 0)
        except Exception:  # the broker is down: the sample is left out (and /health/ready says so)
            logger.warning("metrics: the broker's queue length could not be read", exc_info=True)
        yield queue


SCRAPE_TIME = ScrapeTimeCollector()


def _registry() -> CollectorRegistry:
    """What a scrape reads: every process's counters in multiprocess mode, else this process's."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        combined = CollectorRegistry()
        multiprocess.MultiProcessCollector(combined)
        combined.register(SCRAPE_TIME)
        return combined
    REGISTRY.register(SCRAPE_TIME)
    return REGISTRY


def _allowed(request) -> bool:
    """True for the right bearer token (or a loopback client when no token is set), False for
    a wrong token (401); Http404 for everyone else."""
    token = getattr(settings, "METRICS_TOKEN", "")
    header = request.headers.get("Authorization", "")
    if token:
        if not header:
            raise Http404
        scheme, _, given = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())
    try:
        loopback = ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise Http404
    return True


@method_decorator(never_cache, name="dispatch")
class MetricsView(PrometheusDjangoView):
    """prometheus-client's own Django view (text format, gzip, OpenMetrics on request), behind the
    access rule above."""

    http_method_names = ["get", "head"]
    registry = _registry()

    def dispatch(self, request, *args, **kwargs):
        if not _allowed(request):
            return HttpResponse("A valid bearer token is required.\n", status=401, content_type="text/plain")
        return super().dispatch(request, *args, **kwargs)


metrics_view = MetricsView.as_view()


def route_of(request) -> str:
    match = getattr(request, "resolver_match", None)
    if match is None:
        return UNMATCHED
    return match.view_name or match.route or UNMATCHED


class MetricsMiddleware:
    """Counts each request by route name, method and status, and times it: one dict lookup for the
    labelled series (made once per route, method and status), then an observation and an
    increment."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        key = (route_of(request), request.method, response.status_code)
        series = _SERIES.get(key) or _series(*key)
        series[0].observe(time.perf_counter() - started)
        series[1].inc()
        return response


# (route, method, status) -> its latency histogram and request counter (prometheus-client's own
# children, which it also keeps by label; this saves building and checking the labels each time).
_SERIES: dict[tuple, tuple] = {}
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _series(route: str, method: str, status: int) -> tuple:
    label = method if method in METHODS else "other"
    series = (LATENCY.labels(route, label), REQUESTS.labels(route, label, str(status)))
    if label == method:  # an unknown method is not kept: a client could make them without end
        _SERIES[route, method, status] = series
    return series
