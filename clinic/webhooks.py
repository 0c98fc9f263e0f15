"""Webhooks: signed notices of changes to appointments and patients, sent by the worker.

A service that changes an appointment or a patient calls `emit(event, ...)` inside its own
transaction. That writes one `WebhookDelivery` per active endpoint subscribed to the event
and queues `delivery_send` after the commit, so a rolled-back change leaves no delivery.

The worker claims the row as the email outbox does (clinic/tasks.py `_busy`/`_hold`): a
task run twice, a duplicate enqueue or a restarted worker does not post a second time while
a claim holds, and a worker killed mid-post leaves a claim that expires. A receiver may then
see the same event again (at least once), always with the same `webhook-id`, by which it
dedupes. Each post is signed as Standard Webhooks says (`webhook-id`, `webhook-timestamp`,
`webhook-signature: v1,<base64 HMAC-SHA256>`).

A non-2xx answer (a redirect included: none is followed), a timeout or a connection error
is retried after `WEBHOOKS_RETRY_SECONDS`; after the last attempt the delivery is failed,
and an endpoint with `WEBHOOKS_SWITCH_OFF_AFTER` failed deliveries in a row is switched off.
The SSRF guard (`url_refusal`, `public_addresses`) runs in the admin form and again at send
time, on the addresses the post then connects to.
"""

from __future__ import annotations

import base64
import http.client
import ipaddress
import json
import logging
import secrets
import socket
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django_q.tasks import async_task
from standardwebhooks.webhooks import Webhook

from clinic import access
from clinic.access import NOT_ALLOWED
from clinic.logs import carries_request_id, request_context
from clinic.models import EmailStatus, WebhookDelivery, WebhookEndpoint, WebhookEvent

if TYPE_CHECKING:
    from clinic.models import Appointment, Patient, User

logger = logging.getLogger(__name__)

DELIVERY_TASK = "clinic.webhooks.delivery_send"
Event = WebhookEvent
Status = EmailStatus

# The appointment status each move of booking.appointment_move tells of (in progress tells nothing).
STATUS_EVENTS = {
    "confirmed": Event.APPOINTMENT_CONFIRMED,
    "cancelled": Event.APPOINTMENT_CANCELLED,
    "arrived": Event.APPOINTMENT_ARRIVED,
    "completed": Event.APPOINTMENT_COMPLETED,
    "no_show": Event.APPOINTMENT_NO_SHOW,
}

URL_SCHEME = "A webhook URL starts with http:// or https://."
URL_HTTPS = "A webhook URL must use https."
URL_CREDENTIALS = "A webhook URL may not carry a user name or password."
URL_NO_HOST = "A webhook URL needs a host name."
URL_UNRESOLVED = "The webhook URL's host name does not resolve."
URL_PRIVATE = "The webhook URL's host resolves to an address that is not public ({address})."
EVENTS_NONE = "Choose at least one event."
EVENTS_UNKNOWN = "Unknown event: {event}."
NOT_FAILED = "Only a failed delivery can be sent again."


# --- Endpoints ---------------------------------------------------------------------


def secret_generate() -> str:
    """A Standard Webhooks secret: "whsec_" and the base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def url_refusal(url: str, *, resolve: bool = True) -> str | None:
    """Why webhooks may not be sent to `url` under the SSRF rules, or None."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return URL_SCHEME
    if parts.scheme not in ("http", "https"):
        return URL_SCHEME
    if settings.WEBHOOKS_REQUIRE_HTTPS and parts.scheme != "https":
        return URL_HTTPS
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        return URL_CREDENTIALS
    if not parts.hostname:
        return URL_NO_HOST
    if not resolve:
        return None
    try:
        public_addresses(parts.hostname, port or (443 if parts.scheme == "https" else 80))
    except ValidationError as exc:
        return exc.messages[0]
    return None


def public_addresses(host: str, port: int) -> list[str]:
    """Every address `host` resolves to, each checked (ValidationError naming the first refused one).

    Under WEBHOOKS_ALLOW_PRIVATE (development, tests) any address is allowed; otherwise only
    public ones: not private, loopback, link-local, multicast, reserved or unspecified, an
    IPv4-mapped IPv6 address judged as its IPv4 address."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise ValidationError(URL_UNRESOLVED, code="unresolved") from exc
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not addresses:
        raise ValidationError(URL_UNRESOLVED, code="unresolved")
    if not settings.WEBHOOKS_ALLOW_PRIVATE:
        for address in addresses:
            if not _is_public(address):
                raise ValidationError(URL_PRIVATE.format(address=address), code="private_address")
    return addresses


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    refused = (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or (isinstance(ip, ipaddress.IPv6Address) and ip.sixtofour is not None)
    )
    return ip.is_global and not refused


def events_clean(events: list[str]) -> list[str]:
    if not events:
        raise ValidationError({"events": [EVENTS_NONE]})
    for event in events:
        if event not in Event.values:
            raise ValidationError({"events": [EVENTS_UNKNOWN.format(event=event)]})
    return [event for event in Event.values if event in events]


@transaction.atomic
def endpoint_save(*, actor: User, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """Register or change an endpoint (clinic admin only). A new one gets its secret here; an
    endpoint saved active again after being switched off starts afresh."""
    if not access.can_manage_webhooks(actor):
        raise PermissionDenied(NOT_ALLOWED)
    refusal = url_refusal(endpoint.url)
    if refusal:
        raise ValidationError({"url": [refusal]})
    endpoint.events = events_clean(list(endpoint.events or []))
    if not endpoint.secret:
        endpoint.secret = secret_generate()
    if endpoint.active and endpoint.switched_off_at is not None:
        endpoint.switched_off_at, endpoint.switched_off_reason, endpoint.consecutive_failures = None, "", 0
    endpoint.full_clean()
    endpoint.save()
    return endpoint


# --- Emitting ---------------------------------------------------------------------


def appointment_data(appointment: Appointment) -> dict[str, Any]:
    """The ids and non-clinical fields of an appointment: never its reason, notes or anyone's name."""
    return {
        "appointment_id": appointment.pk,
        "patient_id": appointment.patient_id,
        "doctor_id": appointment.doctor_id,
        "status": appointment.status,
        "start": appointment.appointment_time.isoformat(),
        "end": appointment.ends_at.isoformat() if appointment.ends_at else None,
        "appointment_type_id": appointment.appointment_type_id,
        "series_id": appointment.series_id,
    }


def patient_data(patient: Patient) -> dict[str, Any]:
    """A patient by ids alone: no name, email, phone or insurance number."""
    return {"patient_id": patient.pk, "user_id": patient.user_id}


def emit(
    event: str, *, appointment: Appointment | None = None, patient: Patient | None = None
) -> list[WebhookDelivery]:
    """Write the event's deliveries in the caller's transaction and queue them after its commit."""
    data = appointment_data(appointment) if appointment is not None else patient_data(patient)
    endpoints = [e for e in WebhookEndpoint.objects.filter(active=True).only("pk", "events") if event in e.events]
    if not endpoints:
        return []
    now = timezone.now()
    payload = {"type": str(event), "timestamp": now.isoformat(), "data": data}
    deliveries = WebhookDelivery.objects.bulk_create(
        WebhookDelivery(
            endpoint_id=endpoint.pk,
            event=event,
            payload=payload,
            message_id=f"msg_{uuid.uuid4().hex}",
            next_attempt_at=now,
        )
        for endpoint in endpoints
    )
    ids = [delivery.message_id for delivery in deliveries]
    transaction.on_commit(lambda: _enqueue_by_message_ids(ids), robust=True)
    return deliveries


def emit_status(appointment: Appointment) -> None:
    """The event of the status an appointment has just moved to, if it tells of one."""
    event = STATUS_EVENTS.get(appointment.status)
    if event is not None:
        emit(event, appointment=appointment)


def delivery_enqueue(delivery_id: int) -> None:
    async_task(DELIVERY_TASK, delivery_id, task_name=f"webhook delivery {delivery_id}", **request_context())


def _enqueue_by_message_ids(message_ids: list[str]) -> None:
    # bulk_create fills in primary keys on PostgreSQL and SQLite alike; the ids are looked up
    # again so this holds on any backend.
    for pk in WebhookDelivery.objects.filter(message_id__in=message_ids).values_list("pk", flat=True):
        delivery_enqueue(pk)


@transaction.atomic
def delivery_send_again(*, actor: User, delivery: WebhookDelivery) -> WebhookDelivery:
    """A failed delivery back to pending, with all its attempts again, queued after the commit."""
    if not access.can_manage_webhooks(actor):
        raise PermissionDenied(NOT_ALLOWED)
    delivery = WebhookDelivery.objects.select_for_update().get(pk=delivery.pk)
    if delivery.status != Status.FAILED:
        raise ValidationError(NOT_FAILED, code="not_failed")
    delivery.status, delivery.attempts, delivery.claimed_until = Status.PENDING, 0, None
    delivery.next_attempt_at = timezone.now()
    delivery.save(update_fields=["status", "attempts", "claimed_until", "next_attempt_at", "updated_at"])
    transaction.on_commit(lambda: delivery_enqueue(delivery.pk), robust=True)
    return delivery


# --- Sending (the worker) -----------------------------------------------------------


def max_attempts() -> int:
    return len(settings.WEBHOOKS_RETRY_SECONDS) + 1


class SendRefused(Exception):
    """The SSRF guard refused the endpoint's address at send time."""


@carries_request_id
def delivery_send(delivery_id: int) -> str:
    """Post one delivery once (a task: django-q2 records what it returns)."""
    from clinic.tasks import _busy, _hold

    now = timezone.now()
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(of=("self",))
            .select_related("endpoint")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None:
            return "no such delivery: nothing to send"
        busy = _busy(delivery, now)
        if busy:
            return busy
        if delivery.next_attempt_at > now:
            return f"not due until {delivery.next_attempt_at.isoformat()}"
        if not delivery.endpoint.active:
            return "endpoint switched off: left pending"
        gave_up = _hold(delivery, now, max_attempts=max_attempts())
        if gave_up:
            _endpoint_failed(delivery.endpoint_id)
            return gave_up
    try:
        code = post(delivery)
    except SendRefused as exc:
        return _attempt_failed(delivery, None, str(exc))
    except (OSError, http.client.HTTPException) as exc:
        return _attempt_failed(delivery, None, f"{type(exc).__name__}: {exc}")
    if 200 <= code < 300:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=Status.SENT, sent_at=timezone.now(), claimed_until=None, last_status_code=code, last_error=""
        )
        WebhookEndpoint.objects.filter(pk=delivery.endpoint_id).update(consecutive_failures=0)
        return f"sent {delivery.event} {delivery.message_id}: {code}"
    return _attempt_failed(delivery, code, f"HTTP {code}")


def signed_headers(delivery: WebhookDelivery, body: str, *, at: datetime | None = None) -> dict[str, str]:
    # standardwebhooks reads the time as UTC whatever its zone: hand it UTC.
    at = (at or timezone.now()).astimezone(UTC)
    signature = Webhook(delivery.endpoint.secret).sign(delivery.message_id, at, body)
    return {
        "content-type": "application/json",
        "user-agent": "Clinic-Webhooks/1",
        "webhook-id": delivery.message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
    }


def post(delivery: WebhookDelivery) -> int:
    """POST the signed payload to the endpoint and answer the status code. The host is resolved
    and checked here, and the connection goes to a checked address (no second lookup a DNS
    rebinding could answer differently); the Host header and TLS SNI still name the host."""
    url = delivery.endpoint.url
    refusal = url_refusal(url, resolve=False)
    if refusal:
        raise SendRefused(refusal)
    parts = urlsplit(url)
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    try:
        addresses = public_addresses(parts.hostname, port)
    except ValidationError as exc:
        raise SendRefused(exc.messages[0]) from exc
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    connection_class = _PinnedHTTPSConnection if https else _PinnedHTTPConnection
    connection = connection_class(parts.hostname, addresses[0], port=port, timeout=settings.WEBHOOKS_TIMEOUT)
    try:
        connection.request("POST", path, body=body.encode(), headers=signed_headers(delivery, body))
        response = connection.getresponse()
        response.read(64 * 1024)
        return response.status
    finally:
        connection.close()


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, address: str, **kwargs: Any) -> None:
        super().__init__(host, **kwargs)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, address: str, **kwargs: Any) -> None:
        super().__init__(host, **kwargs)
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def _attempt_failed(delivery: WebhookDelivery, code: int | None, error: str) -> str:
    """Record a failed attempt: due again after the schedule's wait, or failed after the last one."""
    now = timezone.now()
    last = delivery.attempts >= max_attempts()
    waits = settings.WEBHOOKS_RETRY_SECONDS
    wait = waits[min(delivery.attempts, len(waits)) - 1] if waits else 0
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=Status.FAILED if last else Status.PENDING,
        claimed_until=None,
        last_status_code=code,
        last_error=error[:2000],
        next_attempt_at=now + timedelta(seconds=wait),
    )
    logger.warning("Webhook %s not delivered (attempt %s): %s", delivery.message_id, delivery.attempts, error)
    if last:
        _endpoint_failed(delivery.endpoint_id)
        return f"failed after {delivery.attempts} attempts: {error}"
    if wait == 0:
        delivery_enqueue(delivery.pk)
    # Otherwise the schedule (`deliveries_send_due`) queues it once its wait is over.
    return f"attempt {delivery.attempts} failed ({error}); next in {wait}s"


def _endpoint_failed(endpoint_id: int) -> None:
    """One more failed delivery in a row; past WEBHOOKS_SWITCH_OFF_AFTER the endpoint is switched off."""
    with transaction.atomic():
        WebhookEndpoint.objects.filter(pk=endpoint_id).update(consecutive_failures=F("consecutive_failures") + 1)
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint_id)
        if endpoint.active and endpoint.consecutive_failures >= settings.WEBHOOKS_SWITCH_OFF_AFTER:
            endpoint.active = False
            endpoint.switched_off_at = timezone.now()
            endpoint.switched_off_reason = (
                f"Switched off after {endpoint.consecutive_failures} failed deliveries in a row."
            )
            endpoint.save(update_fields=["active", "switched_off_at", "switched_off_reason"])


def deliveries_send_due() -> str:
    """Scheduled every minute (migration 0013): queue pending deliveries that are due and not being
    sent: retries whose wait is over, rows a dead worker held, rows the broker never got."""
    from clinic.tasks import _stale

    now = timezone.now()
    due = WebhookDelivery.objects.filter(next_attempt_at__lte=now, endpoint__active=True)
    # `_stale` wants rows older than the broker's retry: a fresh row's own task is still on its way.
    ids = list(_stale(due, now, max_attempts=max_attempts()).values_list("pk", flat=True)[:500])
    retry_due = (
        WebhookDelivery.objects.filter(
            status=Status.PENDING, next_attempt_at__lte=now, attempts__gt=0, endpoint__active=True
        )
        .exclude(claimed_until__gt=now)
        .exclude(pk__in=ids)
        .values_list("pk", flat=True)[:500]
    )
    ids += list(retry_due)
    for pk in ids:
        delivery_enqueue(pk)
    return f"{len(ids)} webhook deliveries queued"
