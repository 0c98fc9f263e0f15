"""Tasks run by the django-q2 worker. They take ids or plain data, never model instances.

Emails go out through the outbox (`EmailOutbox`): `clinic.booking` writes a row per
(appointment, kind, sequence) in the transaction that changed the appointment and
queues `send_appointment_email` after the commit. The task claims the row under a row
lock (SQLite: the write lock of BEGIN IMMEDIATE), sends outside the transaction, and
marks the row sent, so running it again — a retry, a worker restart, a duplicate
enqueue — sends nothing new.

A claim lasts as long as the worker's task timeout: a worker killed mid-send leaves a
claim that has expired by the time the broker offers the task again (`retry` is longer
than `timeout`). A failed send is recorded on the row and raised, so django-q2 keeps the
failure (admin: Tasks → Failed tasks) and offers the task again; the `emails_send_due`
schedule also picks up rows still pending, which is what retries them on the Redis
broker (it does not re-deliver failed tasks).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django_q.tasks import async_task

from clinic import emails
from clinic.logs import carries_request_id, request_context
from clinic.models import Appointment, EmailOutbox, WaitlistEntry, WaitlistOffer

logger = logging.getLogger(__name__)

EMAIL_TASK = "clinic.tasks.send_appointment_email"
OFFER_TASK = "clinic.tasks.send_waitlist_offer"
ACCOUNT_EMAIL_TASK = "clinic.tasks.send_account_email"
Kind = EmailOutbox.Kind
Outbox = EmailOutbox.Status


def email_enqueue(outbox: EmailOutbox) -> None:
    """Hand an outbox row to the worker (called after the commit that wrote it)."""
    async_task(
        EMAIL_TASK,
        outbox.appointment_id,
        outbox.kind,
        outbox.sequence,
        task_name=f"email {outbox.kind} v{outbox.sequence} appointment {outbox.appointment_id}",
        **request_context(),
    )


@carries_request_id
def send_appointment_email(appointment_id: int, kind: str, sequence: int | None = None) -> str:
    """Send the patient the `kind` notice of the appointment's version `sequence`, once.

    Without `sequence`, the appointment's current version is meant (its outbox row
    is created if missing). Returns what happened, which django-q2 records.
    """
    if sequence is None:
        appointment = Appointment.objects.filter(pk=appointment_id).first()
        if appointment is None:
            return "appointment gone: nothing to send"
        sequence = appointment.sequence
        EmailOutbox.objects.get_or_create(appointment=appointment, kind=kind, sequence=sequence)

    outbox, appointment, outcome = _claim(appointment_id, kind, sequence)
    if outbox is None:
        return outcome

    _send(outbox, lambda: emails.EMAILS[kind](appointment, sequence=sequence))
    return f"sent {kind} v{sequence} to {appointment.patient.user.email}"


def offer_enqueue(offer: WaitlistOffer) -> None:
    """Hand an offer's email to the worker (called after the commit that wrote the offer)."""
    async_task(OFFER_TASK, offer.pk, task_name=f"waitlist offer {offer.pk}", **request_context())


@carries_request_id
def send_waitlist_offer(offer_id: int) -> str:
    """Email a waitlist entry's patient the time offered to them, with its claim link, once.

    An offer that has run out, whose time is taken, or whose entry has ended before the
    email goes is skipped: the patient would only find a dead link.
    """
    now = timezone.now()
    with transaction.atomic():
        offer = (
            WaitlistOffer.objects.select_for_update(of=("self",))
            .select_related("entry__patient__user", "doctor__user")
            .filter(pk=offer_id)
            .first()
        )
        if offer is None:
            return "no such offer: nothing to send"
        busy = _busy(offer, now)
        if busy:
            return busy

        skip = ""
        if not offer.is_live(now):
            skip = "The offer ended before it was sent."
        elif offer.entry.status not in WaitlistEntry.OPEN:
            skip = f"The waitlist entry is {offer.entry.status}."
        elif not offer.entry.patient.user.email:
            skip = "The patient has no email address."
        if skip:
            offer.status, offer.last_error = Outbox.SKIPPED, skip
            offer.save(update_fields=["status", "last_error"])
            return f"skipped: {skip}"
        gave_up = _hold(offer, now)
        if gave_up:
            return gave_up
    _send(offer, lambda: emails.waitlist_offer_email(offer))
    return f"sent waitlist offer {offer.pk} to {offer.entry.patient.user.email}"


def emails_send_due() -> str:
    """Scheduled every few minutes (migration 0003): reminders, and pending emails.

    A confirmed appointment starting within `EMAIL_REMINDER_HOURS` gets one reminder
    per version; a pending outbox row left unsent (broker down at commit time, a failed
    send on a broker that does not retry) is queued again until `EMAIL_MAX_ATTEMPTS`.
    """
    now = timezone.now()
    reminded = EmailOutbox.objects.filter(appointment=OuterRef("pk"), kind=Kind.REMINDER, sequence=OuterRef("sequence"))
    due = (
        Appointment.objects.filter(
            status=Appointment.Status.CONFIRMED,
            appointment_time__gt=now,
            appointment_time__lte=now + timedelta(hours=settings.EMAIL_REMINDER_HOURS),
        )
        .exclude(Exists(reminded))
        .values_list("pk", "sequence")
    )
    reminders = 0
    for appointment_id, sequence in due:
        with transaction.atomic():
            outbox, created = EmailOutbox.objects.get_or_create(
                appointment_id=appointment_id, kind=Kind.REMINDER, sequence=sequence
            )
            if created:
                reminders += 1
                transaction.on_commit(lambda outbox=outbox: email_enqueue(outbox), robust=True)

    requeued = 0
    for outbox in _stale(EmailOutbox.objects.all(), now):
        email_enqueue(outbox)
        requeued += 1
    for offer in _stale(WaitlistOffer.objects.filter(valid_until__gt=now), now):
        offer_enqueue(offer)
        requeued += 1
    from clinic.booking import waitlist_offers_ended

    waiting_again = waitlist_offers_ended(now=now)
    return (
        f"{reminders} reminders queued, {requeued} pending emails queued again, "
        f"{waiting_again} waitlist entries waiting again"
    )


def _stale(rows, now, *, max_attempts: int | None = None):
    """Outbox rows still pending a while after they were written, and not being sent."""
    return rows.filter(
        status=Outbox.PENDING,
        created_at__lt=now - timedelta(seconds=settings.Q_CLUSTER["retry"]),
        attempts__lt=max_attempts or settings.EMAIL_MAX_ATTEMPTS,
    ).exclude(claimed_until__gt=now)


def heartbeat() -> str:
    """Scheduled every minute ("Worker heartbeat", clinic/apps.py): its success row, which
    django-q2 writes to the shared database, is how /health/ready sees a live worker."""
    return "alive"


def idempotency_keys_purge() -> str:
    """Scheduled hourly (migration 0007): forget the Idempotency-Keys of bookings older than 24 hours."""
    from clinic.booking import idempotency_keys_purge as purge

    return f"{purge()} expired idempotency keys removed"


def waitlist_expire() -> str:
    """Scheduled hourly (migration 0011): open waitlist entries past their last day expire."""
    from clinic.booking import waitlist_expire as expire

    return f"{expire()} waitlist entries expired"


def send_account_email(
    subject: str,
    body: str,
    from_email: str,
    to: list[str],
    headers: dict[str, str],
    alternatives: list[tuple[str, str]],
    content_subtype: str = "plain",
) -> str:
    """Send an account email (password reset and the like) that allauth rendered in the request.

    It takes the rendered parts rather than ids: the link inside carries a token that
    exists only in the text (queued by `clinic.adapters.ClinicAccountAdapter`). A failed
    send raises, so django-q2 records the failed task and the database broker offers it again;
    the Message-ID fixed at render time lets mail clients show a repeated send once.
    """
    message = EmailMultiAlternatives(subject=subject, body=body, from_email=from_email, to=to, headers=headers)
    message.content_subtype = content_subtype
    for content, mimetype in alternatives:
        message.attach_alternative(content, mimetype)
    message.send()
    return f"sent account email to {len(to)} recipient(s)"


# --- Internals ---------------------------------------------------------------------


def _claim(appointment_id: int, kind: str, sequence: int) -> tuple[EmailOutbox | None, Appointment | None, str]:
    """Take the outbox row for sending, or say why there is nothing to send."""
    now = timezone.now()
    with transaction.atomic():
        outbox = (
            EmailOutbox.objects.select_for_update()
            .filter(appointment_id=appointment_id, kind=kind, sequence=sequence)
            .first()
        )
        if outbox is None:
            return None, None, "no such email in the outbox: nothing to send"
        busy = _busy(outbox, now)
        if busy:
            return None, None, busy
        appointment = Appointment.objects.select_related("patient__user", "doctor__user").get(pk=appointment_id)
        if kind == Kind.REMINDER and (
            appointment.status != Appointment.Status.CONFIRMED or appointment.sequence != sequence
        ):
            outbox.status = Outbox.SKIPPED
            outbox.save(update_fields=["status"])
            return None, None, "reminder out of date (appointment moved or cancelled): skipped"
        if not appointment.patient.user.email:
            outbox.status, outbox.last_error = Outbox.SKIPPED, "The patient has no email address."
            outbox.save(update_fields=["status", "last_error"])
            return None, None, "the patient has no email address: skipped"
        gave_up = _hold(outbox, now)
        if gave_up:
            return None, None, gave_up
    return outbox, appointment, "claimed"


# An outbox row (`clinic.models.OutboxRow`) is an `EmailOutbox`, a `WaitlistOffer` or a
# `WebhookDelivery` (clinic/webhooks.py sends those with `_busy`, `_hold` and `_stale`).


def _busy(row, now) -> str:
    """Why a locked outbox row is not to be sent now ("" if it is)."""
    if row.status != Outbox.PENDING:
        return f"already {row.status}: nothing to send"
    if row.claimed_until is not None and row.claimed_until > now:
        # Another worker is sending it; should that one die, its own task is
        # offered again after the claim has expired.
        return "being sent by another worker"
    return ""


def _hold(row, now, *, max_attempts: int | None = None) -> str:
    """Take a locked outbox row for one attempt ("" when taken), or give up on it."""
    if row.attempts >= (max_attempts or settings.EMAIL_MAX_ATTEMPTS):
        row.status = Outbox.FAILED
        row.save(update_fields=["status"])
        return f"gave up after {row.attempts} attempts"
    row.attempts += 1
    row.claimed_until = now + timedelta(seconds=_claim_seconds())
    row.save(update_fields=["attempts", "claimed_until"])
    return ""


def _send(row, build) -> None:
    """Build and send a held row's email outside any transaction, then mark the row sent."""
    try:
        message = build()
        message.send()
    except Exception as exc:
        _release(row, exc)
        raise
    type(row).objects.filter(pk=row.pk).update(
        status=Outbox.SENT,
        sent_at=timezone.now(),
        claimed_until=None,
        recipient=message.to[0],
        message_id=message.extra_headers.get("Message-ID", ""),
        last_error="",
    )


def _release(row, exc: Exception) -> None:
    """Record a failed send and free the row for the next attempt (or give up)."""
    status = Outbox.FAILED if row.attempts >= settings.EMAIL_MAX_ATTEMPTS else Outbox.PENDING
    type(row).objects.filter(pk=row.pk).update(
        claimed_until=None, status=status, last_error=f"{type(exc).__name__}: {exc}"[:2000]
    )
    logger.warning("Email %s not sent (attempt %s): %s", row, row.attempts, exc)


def _claim_seconds() -> int:
    # The worker kills a task that runs longer than `timeout`; past it, no one is sending.
    return int(settings.Q_CLUSTER.get("timeout") or 60)
