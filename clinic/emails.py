"""The emails the clinic sends patients: one function per email, rendered from templates.

Each notice has a subject, a text and an HTML body (templates/emails/), and carries a
calendar invite (.ics) built with `icalendar`: one UID per appointment for its whole
life, SEQUENCE from `Appointment.sequence`, METHOD:REQUEST, or METHOD:CANCEL with
STATUS:CANCELLED once it is cancelled. Times are written in UTC with the clinic's zone
named, so every calendar shows the right local time.

An email is rendered when the worker sends it, so words relative to the present ("today",
"tomorrow", whether the patient can still change the appointment online) hold at the time
the patient receives it. Links are absolute on `SITE_URL`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.charset import Charset
from email.mime.text import MIMEText
from email.utils import parseaddr

import icalendar
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from clinic import access, booking
from clinic.models import Appointment, EmailOutbox, WaitlistOffer

Kind = EmailOutbox.Kind
PRODID = "-//Clinic//Appointments//EN"
ICS_STATUS = {Appointment.Status.PENDING: "TENTATIVE", Appointment.Status.CANCELLED: "CANCELLED"}


def clinic_domain() -> str:
    """The domain of the clinic's sender address: invite UIDs and Message-IDs live under it."""
    address = parseaddr(settings.DEFAULT_FROM_EMAIL)[1]
    return address.rpartition("@")[2] or "clinic.localhost"


def site_url(path: str) -> str:
    """`path` as an absolute link on the clinic's public address (`SITE_URL`)."""
    return settings.SITE_URL.rstrip("/") + path


def start_day(start: datetime, *, now: datetime | None = None) -> str:
    """The clinic-local day of `start` as seen at `now`: "today", "tomorrow", or "" for a later day."""
    days = (timezone.localdate(start) - timezone.localdate(now or timezone.now())).days
    return {0: "today", 1: "tomorrow"}.get(days, "")


def invite_uid(appointment: Appointment) -> str:
    """Stable for the appointment's whole life, so calendars update one event."""
    return f"appointment-{appointment.pk}@{clinic_domain()}"


def appointment_invite(appointment: Appointment, *, sequence: int | None = None) -> tuple[bytes, str]:
    """The appointment as an iCalendar object, and its METHOD (REQUEST, or CANCEL once cancelled)."""
    return _invite([(appointment, appointment.sequence if sequence is None else sequence)])


def series_invite(appointments: list[Appointment]) -> tuple[bytes, str]:
    """Every visit of a series in one iCalendar object: one event each, with its own UID."""
    return _invite([(appointment, appointment.sequence) for appointment in appointments])


def _invite(versions: list[tuple[Appointment, int]]) -> tuple[bytes, str]:
    cancelled = all(appointment.status == Appointment.Status.CANCELLED for appointment, _ in versions)
    method = "CANCEL" if cancelled else "REQUEST"
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("method", method)
    calendar.add("x-wr-timezone", timezone.get_default_timezone_name())
    for appointment, sequence in versions:
        calendar.add_component(_event(appointment, sequence))
    return calendar.to_ical(), method


def _event(appointment: Appointment, sequence: int) -> icalendar.Event:
    zone = timezone.get_default_timezone_name()
    patient_user = appointment.patient.user
    organizer_name, organizer_email = parseaddr(settings.DEFAULT_FROM_EMAIL)
    event = icalendar.Event()
    event.add("uid", invite_uid(appointment))
    event.add("sequence", sequence)
    event.add("dtstamp", timezone.now().astimezone(UTC))
    event.add("dtstart", appointment.appointment_time.astimezone(UTC))
    event.add("dtend", appointment.ends_at.astimezone(UTC))
    event.add("summary", f"Appointment with {appointment.doctor} at {settings.CLINIC_NAME}")
    event.add("location", f"{settings.CLINIC_NAME}, {settings.CLINIC_ADDRESS}")
    local = timezone.localtime(appointment.appointment_time)
    event.add(
        "description",
        f"{local:%A %d %B %Y, %H:%M} ({zone}) with {appointment.doctor}.\n"
        f"{settings.CLINIC_NAME}, {settings.CLINIC_ADDRESS}. Phone {settings.CLINIC_PHONE}.",
    )
    # iCalendar's event status: only a cancelled appointment is off the calendar.
    event.add("status", ICS_STATUS.get(appointment.status, "CONFIRMED"))
    organizer = icalendar.vCalAddress(f"mailto:{organizer_email}")
    organizer.params["cn"] = icalendar.vText(organizer_name or settings.CLINIC_NAME)
    event.add("organizer", organizer)
    attendee = icalendar.vCalAddress(f"mailto:{patient_user.email}")
    attendee.params["cn"] = icalendar.vText(patient_user.get_full_name() or patient_user.username)
    attendee.params["role"] = icalendar.vText("REQ-PARTICIPANT")
    attendee.params["partstat"] = icalendar.vText("ACCEPTED")
    event.add("attendee", attendee)
    return event


def appointment_booked_email(appointment: Appointment, *, sequence: int | None = None) -> EmailMultiAlternatives:
    """The "your appointment request is received" email: sent when a slot is booked (status pending)."""
    return _appointment_email(appointment, Kind.BOOKED, sequence=sequence)


def appointment_confirmed_email(appointment: Appointment, *, sequence: int | None = None) -> EmailMultiAlternatives:
    """The doctor or the front desk confirmed the appointment."""
    return _appointment_email(appointment, Kind.CONFIRMED, sequence=sequence)


def appointment_rescheduled_email(appointment: Appointment, *, sequence: int | None = None) -> EmailMultiAlternatives:
    """The appointment moved to a new time (or doctor); the invite updates the calendar event."""
    return _appointment_email(appointment, Kind.RESCHEDULED, sequence=sequence)


def appointment_cancelled_email(appointment: Appointment, *, sequence: int | None = None) -> EmailMultiAlternatives:
    """The appointment is cancelled; the invite (METHOD:CANCEL) removes the calendar event."""
    return _appointment_email(appointment, Kind.CANCELLED, sequence=sequence)


def appointment_reminder_email(appointment: Appointment, *, sequence: int | None = None) -> EmailMultiAlternatives:
    """A reminder, `EMAIL_REMINDER_HOURS` before a confirmed appointment, naming its day and time."""
    return _appointment_email(appointment, Kind.REMINDER, sequence=sequence)


def appointment_series_email(appointment: Appointment, *, sequence: int | None = None) -> EmailMultiAlternatives:
    """A series is booked: one email listing every visit still booked, with one invite for them
    all (`appointment` is the series' first)."""
    return _appointment_email(appointment, Kind.SERIES, sequence=sequence)


EMAILS = {
    Kind.BOOKED: appointment_booked_email,
    Kind.CONFIRMED: appointment_confirmed_email,
    Kind.RESCHEDULED: appointment_rescheduled_email,
    Kind.CANCELLED: appointment_cancelled_email,
    Kind.REMINDER: appointment_reminder_email,
    Kind.SERIES: appointment_series_email,
}


def manage_url(appointment: Appointment, *, sequence: int | None = None) -> str:
    """The absolute manage link of `appointment` for the notice of `sequence` (by default its current one)."""
    return site_url(reverse("clinic:manage", args=[access.manage_token(appointment, sequence=sequence)]))


def claim_url(offer: WaitlistOffer) -> str:
    """The absolute claim link of a waitlist offer."""
    return site_url(reverse("clinic:waitlist-offer", args=[access.offer_token(offer)]))


def waitlist_offer_email(offer: WaitlistOffer) -> EmailMultiAlternatives:
    """A freed time offered to a waitlist entry: the first of its patients to claim it books it."""
    patient = offer.entry.patient.user
    kind = offer.entry.appointment_type
    length = kind.length if kind else booking.Shape.of(offer.doctor).length
    context = {
        "patient": patient,
        "doctor": offer.doctor,
        "local_start": timezone.localtime(offer.start),
        "local_end": timezone.localtime(offer.start + length),
        "local_valid_until": timezone.localtime(offer.valid_until),
        "time_zone": timezone.get_default_timezone_name(),
        "claim_url": claim_url(offer),
        "my_waitlist_url": site_url(reverse("clinic:my-waitlist")),
        "CLINIC_NAME": settings.CLINIC_NAME,
        "CLINIC_ADDRESS": settings.CLINIC_ADDRESS,
        "CLINIC_PHONE": settings.CLINIC_PHONE,
    }
    subject = render_to_string("emails/waitlist_offer_subject.txt", context)
    message = EmailMultiAlternatives(
        subject=" ".join(subject.split()),
        body=render_to_string("emails/waitlist_offer.txt", context),
        to=[patient.email],
        headers={"Message-ID": f"<waitlist-offer-{offer.pk}@{clinic_domain()}>"},
    )
    message.attach_alternative(render_to_string("emails/waitlist_offer.html", context), "text/html")
    return message


def _series_context(first: Appointment) -> dict:
    """The visits of `first`'s series still booked, in order, as the series email lists them."""
    visits = list(
        Appointment.objects.filter(series_id=first.series_id)
        .exclude(status=Appointment.Status.CANCELLED)
        .select_related("patient__user", "doctor__user")
        .order_by("appointment_time", "id")
    )
    for visit in visits:
        visit.local_start = timezone.localtime(visit.appointment_time)
        visit.local_end = timezone.localtime(visit.ends_at)
        visit.manage_url = manage_url(visit)
    return {"series": first.series, "visits": visits}


def _appointment_email(appointment: Appointment, kind: str, *, sequence: int | None) -> EmailMultiAlternatives:
    sequence = appointment.sequence if sequence is None else sequence
    now = timezone.now()
    cutoff_hours = settings.PATIENT_CHANGE_CUTOFF_HOURS
    context = {
        "appointment": appointment,
        "patient": appointment.patient.user,
        "doctor": appointment.doctor,
        "local_start": timezone.localtime(appointment.appointment_time),
        "local_end": timezone.localtime(appointment.ends_at),
        "time_zone": timezone.get_default_timezone_name(),
        "start_day": start_day(appointment.appointment_time, now=now),
        # Past the patient's cutoff, only the front desk can change it.
        "changeable_online": booking.patient_may_change(appointment, now=now),
        "cutoff_hours": cutoff_hours,
        "my_appointments_url": site_url(reverse("clinic:my-appointments")),
        "book_url": site_url(reverse("clinic:book")),
        "CLINIC_NAME": settings.CLINIC_NAME,
        "CLINIC_ADDRESS": settings.CLINIC_ADDRESS,
        "CLINIC_PHONE": settings.CLINIC_PHONE,
    }
    if kind != Kind.CANCELLED:
        # This notice's own link: a later notice (a new sequence) makes it stale.
        context["manage_url"] = manage_url(appointment, sequence=sequence)
    if kind == Kind.SERIES:
        context.update(_series_context(appointment))
    subject = render_to_string(f"emails/appointment_{kind}_subject.txt", context)
    message = EmailMultiAlternatives(
        subject=" ".join(subject.split()),
        body=render_to_string(f"emails/appointment_{kind}.txt", context),
        to=[appointment.patient.user.email],
        headers={
            # The same notice always carries the same Message-ID, so in the rare case a
            # send is repeated (worker killed between the server's "250" and the outbox
            # update) mail clients show it once.
            "Message-ID": f"<appointment-{appointment.pk}-{kind}-{sequence}@{clinic_domain()}>",
        },
    )
    message.attach_alternative(render_to_string(f"emails/appointment_{kind}.html", context), "text/html")
    if kind == Kind.SERIES:
        ics, method = series_invite(context["visits"])
    else:
        ics, method = appointment_invite(appointment, sequence=sequence)
    charset = Charset("utf-8")
    charset.body_encoding = None  # 8bit, like the text parts: readable in var/mail/ and in mail sources
    invite = MIMEText(ics.decode(), "calendar", charset)
    invite.set_param("method", method)
    invite.add_header("Content-Disposition", "attachment", filename="appointment.ics")
    message.attach(invite)
    return message
