"""The booking rules: free slots, and booking, rescheduling, confirming and cancelling.

This is the one place they live. The API, the pages and the admin call these
services; they raise `BookingError` (400) or `SlotUnavailable` (409) with a
clear message, or `PermissionDenied` (403) when the actor may not act.

Times are stored as aware UTC datetimes; doctors' hours and the slot grid are
read in the clinic's zone (settings.TIME_ZONE) at the edges here.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone

from clinic import access, metrics, webhooks
from clinic.access import NOT_ALLOWED
from clinic.models import (
    BLOCKED_RANGE,
    PATIENT_OVERLAP,
    WEEKDAY_NAMES,
    Appointment,
    AppointmentSeries,
    AppointmentType,
    Doctor,
    IdempotencyKey,
    MedicalRecord,
    NoOverlapConstraint,
    PartOfDay,
    Patient,
    TimeOff,
    WaitlistEntry,
    WaitlistOffer,
)

if TYPE_CHECKING:
    from clinic.models import User

Status = Appointment.Status

# Error messages: tests assert on these.
IN_PAST = "The appointment time must be in the future."
TOO_SOON = "Appointments must be booked at least {minutes} minutes ahead."
TOO_FAR = "Appointments can be booked at most {days} days ahead."
NOT_WORKING_DAY = "The doctor does not work on {weekday}s."
OUTSIDE_HOURS = "The doctor sees patients from {start} to {end}; the appointment must fit inside those hours."
OFF_GRID = "Appointments with this doctor start every {minutes} minutes from {start}."
IN_TIME_OFF = "The doctor is away at that time."
TYPE_PAST_CLOSING = (
    "A {name} takes {minutes} minutes: starting then it would end after the doctor's hours ({start} to {end})."
)
TYPE_NOT_OFFERED = "{doctor} does not offer {name} visits."
TYPE_INACTIVE = "{name} visits are no longer booked."
TYPE_NOT_ONLINE = "{name} visits are booked by the clinic: please call."
TYPE_FIELD_UNKNOWN = "A visit type has no such field."
SERIES_CONFLICTS = "{count} visit(s) of the series cannot be booked; nothing was booked."
NOT_IN_SERIES = "This appointment is not part of a series."
TYPE_FIELDS = (
    "name",
    "duration_minutes",
    "buffer_before_minutes",
    "buffer_after_minutes",
    "color",
    "bookable_online",
    "active",
)
CANCELLED_IS_FINAL = "This appointment is cancelled; a cancelled appointment cannot be changed."
ALREADY_CONFIRMED = "This appointment is already confirmed."
STATUS_MOVE = "An appointment cannot move from {old} to {new}."
PATIENT_CUTOFF = (
    "Appointments cannot be changed online within {hours} hours of their start or after it; please call the clinic."
)
ALREADY_STARTED = "This appointment has already begun; it can no longer be cancelled or moved."
COMPLETED_IS_FINAL = "This visit is completed; a completed visit cannot be changed."
NOT_RESCHEDULABLE = "Only pending and confirmed appointments can be moved; this one is {status}."
CHECK_IN_NOT_YET = "Check-in opens {minutes} minutes before the appointment."
CHECK_IN_OTHER_DAY = "A patient checks in on the day of their appointment, not on another day."
NO_SHOW_TOO_EARLY = "A patient can be marked as a no-show from {minutes} minutes after the start."
PATIENT_HAS_RECORD = (
    "This appointment has a medical record, which belongs to its patient: "
    "the patient cannot be changed. Book the other patient separately."
)
IDEMPOTENCY_KEY_TOO_LONG = "The Idempotency-Key header is at most 255 characters."
IDEMPOTENCY_IN_FLIGHT = "A request with this Idempotency-Key is still being processed; retry shortly."
IDEMPOTENCY_KEY_REUSED = (
    "This Idempotency-Key was already used with a different request; send a new key for a new booking."
)
IDEMPOTENCY_WINDOW = timedelta(hours=24)
# How far back the front desk's no-show count of a patient looks.
NO_SHOW_LOOKBACK = timedelta(days=365)
IDEMPOTENCY_KEY_MAX = 255


class BookingError(ValidationError):
    """A booking rule refused the request: HTTP 400."""

    status_code = 400

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message, code=code)


class SlotUnavailable(BookingError):
    """The doctor or the patient is already booked at that time: HTTP 409."""

    status_code = 409


class IdempotencyConflict(BookingError):
    """A booking with this key is still running (409), or the key came with another request (422)."""

    def __init__(self, message: str, *, code: str, status_code: int) -> None:
        super().__init__(message, code=code)
        self.status_code = status_code


def clinic_zone() -> ZoneInfo:
    return timezone.get_default_timezone()


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The instants a clinic-local day starts and ends: [its midnight, the next day's midnight)."""
    zone = clinic_zone()
    return datetime.combine(day, time.min, tzinfo=zone), datetime.combine(
        day + timedelta(days=1), time.min, tzinfo=zone
    )


@dataclass(frozen=True)
class BookingWindow:
    """The earliest and latest start a booking may have right now."""

    now: datetime
    earliest: datetime
    latest: datetime

    @classmethod
    def at(cls, now: datetime | None = None) -> BookingWindow:
        now = now or timezone.now()
        return cls(
            now=now,
            earliest=now + timedelta(minutes=settings.BOOKING_MIN_NOTICE_MINUTES),
            latest=now + timedelta(days=settings.BOOKING_HORIZON_DAYS),
        )


# --- The slot grid -----------------------------------------------------------------


def _local(day: date, at: time, zone: ZoneInfo) -> datetime | None:
    """The aware instant of wall-clock `at` on `day`, or None if that wall time does not exist (DST gap)."""
    candidate = datetime.combine(day, at, tzinfo=zone)
    round_trip = candidate.astimezone(UTC).astimezone(zone)
    if round_trip.replace(tzinfo=None) != candidate.replace(tzinfo=None):
        return None
    return candidate


@dataclass(frozen=True)
class Shape:
    """How long a visit lasts and the doctor's time it blocks around it."""

    length: timedelta
    before: timedelta = timedelta(0)
    after: timedelta = timedelta(0)

    @classmethod
    def of(cls, doctor: Doctor, appointment_type: AppointmentType | None = None) -> Shape:
        """A visit of `appointment_type` with `doctor`; without a type, one of the doctor's slots."""
        if appointment_type is None:
            return cls(length=timedelta(minutes=doctor.slot_minutes))
        return cls(
            length=appointment_type.length,
            before=appointment_type.buffer_before,
            after=appointment_type.buffer_after,
        )

    def blocked(self, start: datetime) -> tuple[datetime, datetime]:
        return start - self.before, start + self.length + self.after


def grid_starts(doctor: Doctor, day: date, *, length: timedelta | None = None) -> list[datetime]:
    """Every start of `doctor`'s grid on `day` (clinic-local date) at which a visit of `length`
    (by default a slot) fits inside their hours, booked or not, in UTC."""
    if day.weekday() not in doctor.working_days:
        return []
    zone = clinic_zone()
    step = timedelta(minutes=doctor.slot_minutes)
    length = length or step
    opening = datetime.combine(day, doctor.available_from)
    closing = datetime.combine(day, doctor.available_to)
    starts = []
    wall = opening
    while wall + length <= closing:
        instant = _local(day, wall.time(), zone)
        if instant is not None:
            starts.append(instant.astimezone(UTC))
        wall += step
    return starts


def slots_free(
    *, doctor: Doctor, day: date, appointment_type: AppointmentType | None = None, now: datetime | None = None
) -> list[datetime]:
    """The bookable starts of `doctor` on `day` for a visit of `appointment_type` (or a plain slot):
    on the grid, fitting inside the doctor's hours and the booking window, outside time off, and
    with its blocked range (buffers included) clear of every live appointment's. Two queries."""
    return slots_free_for(doctors=[doctor], day=day, appointment_type=appointment_type, now=now)[doctor.pk]


def slots_free_for(
    *,
    doctors: Iterable[Doctor],
    day: date,
    appointment_type: AppointmentType | None = None,
    now: datetime | None = None,
) -> dict[int, list[datetime]]:
    """`slots_free` of several doctors at once, by doctor id: two queries however many doctors."""
    return slots_free_on_days(doctors=doctors, days=[day], appointment_type=appointment_type, now=now)[day]


def slots_free_on_days(
    *,
    doctors: Iterable[Doctor],
    days: Iterable[date],
    appointment_type: AppointmentType | None = None,
    now: datetime | None = None,
) -> dict[date, dict[int, list[datetime]]]:
    """`slots_free` of several doctors on several days, by day and doctor id: two queries
    however many doctors and days (none when no day is open)."""
    window = BookingWindow.at(now)
    doctors = list(doctors)
    days = list(days)
    shapes = {doctor.pk: Shape.of(doctor, appointment_type) for doctor in doctors}
    # A day clearly outside the window has no slots (and may lie at the calendar's edge).
    first_day, last_day = (window.earliest - timedelta(days=1)).date(), (window.latest + timedelta(days=1)).date()
    starts = {
        day: {
            doctor.pk: [
                s
                for s in grid_starts(doctor, day, length=shapes[doctor.pk].length)
                if window.earliest <= s <= window.latest
            ]
            if first_day <= day <= last_day
            else []
            for doctor in doctors
        }
        for day in days
    }
    free: dict[date, dict[int, list[datetime]]] = {day: {doctor.pk: [] for doctor in doctors} for day in days}
    spans = [
        shapes[pk].blocked(s)
        for on_day in starts.values()
        for pk, doctor_starts in on_day.items()
        for s in doctor_starts[:1] + doctor_starts[-1:]
    ]
    if not spans:
        return free
    open_doctors = sorted({pk for on_day in starts.values() for pk, doctor_starts in on_day.items() if doctor_starts})
    first, last_end = min(begin for begin, _ in spans), max(end for _, end in spans)
    taken: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
    away: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
    appointments = (
        Appointment.objects.live()
        .filter(doctor_id__in=open_doctors)
        .overlapping(first, last_end, fields=BLOCKED_RANGE)
        .values_list("doctor_id", *BLOCKED_RANGE)
    )
    for doctor_id, busy_from, busy_to in appointments:
        taken[doctor_id].append((busy_from, busy_to))
    time_off = TimeOff.objects.filter(
        doctor_id__in=open_doctors, starts_at__lt=last_end, ends_at__gt=first
    ).values_list("doctor_id", "starts_at", "ends_at")
    for doctor_id, busy_from, busy_to in time_off:
        away[doctor_id].append((busy_from, busy_to))
    for day, on_day in starts.items():
        for pk, doctor_starts in on_day.items():
            shape = shapes[pk]
            free[day][pk] = [
                s
                for s in doctor_starts
                if not _overlaps(shape.blocked(s), taken[pk]) and not _overlaps((s, s + shape.length), away[pk])
            ]
    return free


# Days searched per round of `next_free_day`: two queries each.
NEXT_FREE_DAYS_PER_ROUND = 7


def next_free_day(
    *,
    doctors: Iterable[Doctor],
    from_day: date,
    appointment_type: AppointmentType | None = None,
    now: datetime | None = None,
) -> date | None:
    """The first day from `from_day` on which one of `doctors` has a free slot for a visit of
    `appointment_type`, within the booking window; None when there is none. Two queries per
    `NEXT_FREE_DAYS_PER_ROUND` days searched, whatever the number of appointments."""
    doctors = list(doctors)
    window = BookingWindow.at(now)
    day, last = max(from_day, timezone.localdate(window.earliest)), timezone.localdate(window.latest)
    while doctors and day <= last:
        days = [day + timedelta(days=n) for n in range(min(NEXT_FREE_DAYS_PER_ROUND, (last - day).days + 1))]
        free = slots_free_on_days(doctors=doctors, days=days, appointment_type=appointment_type, now=window.now)
        found = next((d for d in days if any(free[d].values())), None)
        if found is not None:
            return found
        day = days[-1] + timedelta(days=1)
    return None


def _overlaps(span: tuple[datetime, datetime], busy: list[tuple[datetime, datetime]]) -> bool:
    begin, end = span
    return any(b_from < end and b_to > begin for b_from, b_to in busy)


def check_bookable(
    doctor: Doctor, start: datetime, *, appointment_type: AppointmentType | None = None, now: datetime | None = None
) -> None:
    """Raise BookingError unless `start` is a valid, open start of `doctor` for a visit of
    `appointment_type` (or a slot): overlaps aside, which the database and `_save` decide."""
    window = BookingWindow.at(now)
    if start <= window.now:
        raise BookingError(IN_PAST, code="in_past")
    if start < window.earliest:
        raise BookingError(TOO_SOON.format(minutes=settings.BOOKING_MIN_NOTICE_MINUTES), code="too_soon")
    if start > window.latest:
        raise BookingError(TOO_FAR.format(days=settings.BOOKING_HORIZON_DAYS), code="too_far")

    zone = clinic_zone()
    local = start.astimezone(zone)
    if local.weekday() not in doctor.working_days:
        raise BookingError(NOT_WORKING_DAY.format(weekday=WEEKDAY_NAMES[local.weekday()]), code="not_working_day")
    shape = Shape.of(doctor, appointment_type)
    wall = local.replace(tzinfo=None)
    opening = datetime.combine(local.date(), doctor.available_from)
    closing = datetime.combine(local.date(), doctor.available_to)
    hours = {"start": f"{doctor.available_from:%H:%M}", "end": f"{doctor.available_to:%H:%M}"}
    if wall < opening or wall >= closing:
        raise BookingError(OUTSIDE_HOURS.format(**hours), code="outside_hours")
    if wall + shape.length > closing:
        if appointment_type is None:
            raise BookingError(OUTSIDE_HOURS.format(**hours), code="outside_hours")
        raise BookingError(
            TYPE_PAST_CLOSING.format(name=appointment_type.name, minutes=appointment_type.duration_minutes, **hours),
            code="past_closing",
        )
    if start not in grid_starts(doctor, local.date(), length=shape.length):
        raise BookingError(
            OFF_GRID.format(minutes=doctor.slot_minutes, start=f"{doctor.available_from:%H:%M}"), code="off_grid"
        )
    if TimeOff.objects.filter(doctor=doctor, starts_at__lt=start + shape.length, ends_at__gt=start).exists():
        raise BookingError(IN_TIME_OFF, code="time_off")


def check_type(
    *, actor: User, doctor: Doctor, appointment_type: AppointmentType | None, field: str = "appointment_type"
) -> None:
    """A visit type is one the doctor offers, still in use, and for a patient booking online,
    one patients may pick: else a ValidationError on `field` (400)."""
    if appointment_type is None:
        return
    if not appointment_type.active:
        message = TYPE_INACTIVE.format(name=appointment_type.name)
    elif access.is_patient_acting(actor) and not appointment_type.bookable_online:
        message = TYPE_NOT_ONLINE.format(name=appointment_type.name)
    elif not doctor.appointment_types.filter(pk=appointment_type.pk).exists():
        message = TYPE_NOT_OFFERED.format(name=appointment_type.name, doctor=doctor)
    else:
        return
    raise ValidationError({field: [message]}, code="appointment_type")


# --- Services ----------------------------------------------------------------------


@transaction.atomic
def appointment_book(
    *,
    actor: User,
    patient: Patient,
    doctor: Doctor,
    start: datetime,
    reason: str = "",
    appointment_type: AppointmentType | None = None,
    confirm: bool = False,
    now: datetime | None = None,
) -> Appointment:
    """Book `patient` with `doctor` at `start` for a visit of `appointment_type` (without one, a
    slot of the doctor's length, no buffers). The appointment starts `pending`, or `confirmed`
    when `confirm` asks and the actor may confirm it (the front desk booking at the desk). The
    patient gets one email: the request received, or the confirmation."""
    if not access.can_book_for(actor, patient):
        raise PermissionDenied(NOT_ALLOWED)
    check_type(actor=actor, doctor=doctor, appointment_type=appointment_type)
    appointment = _book_visit(
        actor=actor,
        patient=patient,
        doctor=doctor,
        start=start,
        reason=reason,
        appointment_type=appointment_type,
        confirm=confirm,
        now=now,
    )
    _queue_email(appointment, "confirmed" if confirm else "booked")
    return appointment


def _book_visit(
    *,
    actor: User,
    patient: Patient,
    doctor: Doctor,
    start: datetime,
    reason: str,
    appointment_type: AppointmentType | None,
    confirm: bool = False,
    series: AppointmentSeries | None = None,
    now: datetime | None = None,
) -> Appointment:
    """One visit booked under the rules (who may book for whom and the type are the caller's to
    check), without its notice: `appointment_book` and `series_book` send their own."""
    check_bookable(doctor, start, appointment_type=appointment_type, now=now)
    appointment = Appointment(
        patient=patient,
        doctor=doctor,
        appointment_type=appointment_type,
        series=series,
        status=Status.PENDING,
        reason=reason or "",
    )
    _place(appointment, start)
    if confirm:
        if not access.can_confirm_appointment(actor, appointment):
            raise PermissionDenied(NOT_ALLOWED)
        appointment.status = Status.CONFIRMED
    _save(appointment, actor)
    webhooks.emit(webhooks.Event.APPOINTMENT_BOOKED, appointment=appointment)
    transaction.on_commit(metrics.booked)
    _waitlist_fulfilled(appointment)
    return appointment


@transaction.atomic
def appointment_reschedule(
    *,
    actor: User,
    appointment: Appointment,
    start: datetime,
    doctor: Doctor | None = None,
    now: datetime | None = None,
) -> Appointment:
    """Move an appointment to a new start (and, for staff, to another doctor)."""
    appointment = _locked(appointment)
    if not access.can_reschedule_appointment(actor, appointment):
        raise PermissionDenied(NOT_ALLOWED)
    if (
        doctor is not None
        and doctor.pk != appointment.doctor_id
        and not access.can_edit_appointment_details(actor, appointment)
    ):
        raise PermissionDenied(NOT_ALLOWED)
    refusal = reschedule_refusal(actor, appointment, now=now)
    if refusal is not None:
        raise refusal
    doctor = doctor or appointment.doctor
    if start == appointment.appointment_time and doctor.pk == appointment.doctor_id:
        return appointment
    if doctor.pk != appointment.doctor_id:
        check_type(actor=actor, doctor=doctor, appointment_type=appointment.appointment_type)
    check_bookable(doctor, start, appointment_type=appointment.appointment_type, now=now)
    freed = (appointment.doctor, appointment.blocked_from, appointment.blocked_until)
    appointment.doctor = doctor
    _place(appointment, start)
    appointment.sequence += 1
    _save(appointment, actor)
    webhooks.emit(webhooks.Event.APPOINTMENT_RESCHEDULED, appointment=appointment)
    _queue_email(appointment, "rescheduled")
    _waitlist_offer_freed(*freed, now=now, patient_id=appointment.patient_id)
    return appointment


# --- Status moves ------------------------------------------------------------------
#
# pending → confirmed; pending | confirmed → cancelled (before the start);
# pending | confirmed → arrived (on the day, from CHECK_IN_OPENS_MINUTES before the start);
# arrived → in_progress → completed, arrived → completed;
# pending | confirmed → no_show (from NO_SHOW_GRACE_MINUTES after the start), no_show → arrived
# the same day. completed and cancelled are final. Each move stamps its time.

MOVES_FROM: dict[str, frozenset[str]] = {
    Status.CONFIRMED: frozenset({Status.PENDING}),
    Status.CANCELLED: frozenset({Status.PENDING, Status.CONFIRMED}),
    Status.ARRIVED: frozenset({Status.PENDING, Status.CONFIRMED, Status.NO_SHOW}),
    Status.IN_PROGRESS: frozenset({Status.ARRIVED}),
    Status.COMPLETED: frozenset({Status.ARRIVED, Status.IN_PROGRESS}),
    Status.NO_SHOW: frozenset({Status.PENDING, Status.CONFIRMED}),
}
# The order in which a page offers the moves.
MOVES_OFFERED = (
    Status.CONFIRMED,
    Status.ARRIVED,
    Status.IN_PROGRESS,
    Status.COMPLETED,
    Status.NO_SHOW,
    Status.CANCELLED,
)
# The time each move stamps.
STAMPS = {Status.ARRIVED: "arrived_at", Status.IN_PROGRESS: "started_at", Status.COMPLETED: "completed_at"}
# The patient's notice of a move; the visit's own moves send none.
NOTICES = {Status.CONFIRMED: "confirmed", Status.CANCELLED: "cancelled"}


def may_move(actor: User, appointment: Appointment, status: str) -> bool:
    """Whether `actor`'s role lets them make this move on this appointment at all (else 403)."""
    if status == Status.CONFIRMED:
        return access.can_confirm_appointment(actor, appointment)
    if status == Status.CANCELLED:
        return access.can_cancel_appointment(actor, appointment)
    return access.can_move_visit(actor, appointment)


def move_refusal(
    actor: User, appointment: Appointment, status: str, *, now: datetime | None = None
) -> BookingError | None:
    """Why the move of `appointment` to `status` is refused now (a 400), or None if it may be made."""
    refusal = _move_refusal(actor, appointment, status, now=now or timezone.now())
    return None if refusal is None else BookingError(refusal[0], code=refusal[1])


def _move_refusal(actor: User, appointment: Appointment, status: str, *, now: datetime) -> tuple[str, str] | None:
    """`move_refusal` as (message, code): cheap enough to ask of every block of a busy calendar."""
    current = appointment.status
    if current == Status.CANCELLED:
        return CANCELLED_IS_FINAL, "cancelled_final"
    if current == Status.COMPLETED:
        return COMPLETED_IS_FINAL, "completed_final"
    if status == current == Status.CONFIRMED:
        return ALREADY_CONFIRMED, "already_confirmed"
    if current not in MOVES_FROM.get(status, ()):
        return STATUS_MOVE.format(old=current, new=status), "status_move"
    if status == Status.CANCELLED and (refusal := _change_refusal(actor, appointment, now=now)):
        return refusal
    if status == Status.ARRIVED:
        if timezone.localdate(appointment.appointment_time) != timezone.localdate(now):
            return CHECK_IN_OTHER_DAY, "check_in_other_day"
        opens = appointment.appointment_time - timedelta(minutes=settings.CHECK_IN_OPENS_MINUTES)
        if now < opens:
            return CHECK_IN_NOT_YET.format(minutes=settings.CHECK_IN_OPENS_MINUTES), "too_early"
    if status == Status.NO_SHOW:
        grace = timedelta(minutes=settings.NO_SHOW_GRACE_MINUTES)
        if now < appointment.appointment_time + grace:
            return NO_SHOW_TOO_EARLY.format(minutes=settings.NO_SHOW_GRACE_MINUTES), "too_early"
    return None


def moves_allowed(*, actor: User, appointment: Appointment, now: datetime | None = None) -> list[str]:
    """The statuses `actor` may move `appointment` to now, in the order a page offers them."""
    now = now or timezone.now()
    return [
        status
        for status in MOVES_OFFERED
        if may_move(actor, appointment, status) and _move_refusal(actor, appointment, status, now=now) is None
    ]


@transaction.atomic
def appointment_move(*, actor: User, appointment: Appointment, status: str, now: datetime | None = None) -> Appointment:
    """Move an appointment to `status` under the rules above: PermissionDenied (403) for a role
    that may not, BookingError (400) for a move outside its window; nothing changes then."""
    appointment = _locked(appointment)
    if status not in MOVES_FROM or not may_move(actor, appointment, status):
        if status in MOVES_FROM or access.is_patient_acting(actor):
            raise PermissionDenied(NOT_ALLOWED)
        raise BookingError(STATUS_MOVE.format(old=appointment.status, new=status), code="status_move")
    now = now or timezone.now()
    refusal = move_refusal(actor, appointment, status, now=now)
    if refusal is not None:
        raise refusal
    transaction.on_commit(lambda old=appointment.status: metrics.status_moved(old, status))
    appointment.status = status
    if status in STAMPS:
        setattr(appointment, STAMPS[status], now)
    if status == Status.CANCELLED:
        appointment.sequence += 1
    _save(appointment, actor)
    webhooks.emit_status(appointment)
    if status in NOTICES:
        _queue_email(appointment, NOTICES[status])
    if status == Status.CANCELLED:
        _waitlist_offer_freed(
            appointment.doctor,
            appointment.blocked_from,
            appointment.blocked_until,
            now=now,
            patient_id=appointment.patient_id,
        )
    return appointment


def appointment_confirm(*, actor: User, appointment: Appointment, now: datetime | None = None) -> Appointment:
    """pending → confirmed, by the appointment's doctor or staff; the patient is emailed."""
    return appointment_move(actor=actor, appointment=appointment, status=Status.CONFIRMED, now=now)


def appointment_cancel(*, actor: User, appointment: Appointment, now: datetime | None = None) -> Appointment:
    """pending or confirmed → cancelled, before the start. Cancelled is final and frees the slot."""
    return appointment_move(actor=actor, appointment=appointment, status=Status.CANCELLED, now=now)


def appointment_check_in(*, actor: User, appointment: Appointment, now: datetime | None = None) -> Appointment:
    """The patient has arrived (pending, confirmed, or a no-show who came late the same day)."""
    return appointment_move(actor=actor, appointment=appointment, status=Status.ARRIVED, now=now)


def appointment_start(*, actor: User, appointment: Appointment, now: datetime | None = None) -> Appointment:
    """An arrived patient is with the doctor."""
    return appointment_move(actor=actor, appointment=appointment, status=Status.IN_PROGRESS, now=now)


def appointment_complete(*, actor: User, appointment: Appointment, now: datetime | None = None) -> Appointment:
    """The visit is over (from arrived or in progress); final."""
    return appointment_move(actor=actor, appointment=appointment, status=Status.COMPLETED, now=now)


def appointment_no_show(*, actor: User, appointment: Appointment, now: datetime | None = None) -> Appointment:
    """The patient did not come: from NO_SHOW_GRACE_MINUTES after the start."""
    return appointment_move(actor=actor, appointment=appointment, status=Status.NO_SHOW, now=now)


def no_shows_by_patient(patient_ids: Iterable[int], *, now: datetime | None = None) -> dict[int, int]:
    """Each patient's no-shows in the last 12 months (only those with any): one query."""
    since = (now or timezone.now()) - NO_SHOW_LOOKBACK
    rows = (
        Appointment.objects.filter(patient_id__in=list(patient_ids), status=Status.NO_SHOW, appointment_time__gte=since)
        .order_by()
        .values("patient_id")
        .annotate(n=Count("id"))
        .values_list("patient_id", "n")
    )
    return dict(rows)


@transaction.atomic
def appointment_change(
    *,
    actor: User,
    appointment: Appointment,
    doctor: Doctor | None = None,
    start: datetime | None = None,
    patient: Patient | None = None,
    status: str | None = None,
    reason: str | None = None,
    now: datetime | None = None,
) -> Appointment:
    """Apply an edit (API PUT/PATCH, admin form) through the services above.

    A new time or doctor reschedules; a new status confirms or cancels; a new
    patient or reason is front-desk work. Unchanged values are ignored, so a
    full PUT of the current state is a no-op.
    """
    appointment = _locked(appointment)
    if patient is not None and patient.pk != appointment.patient_id:
        if not access.can_edit_appointment_details(actor, appointment):
            raise PermissionDenied(NOT_ALLOWED)
        _refuse_if_cancelled(appointment)
        if MedicalRecord.objects.filter(appointment_id=appointment.pk).exists():
            raise BookingError(PATIENT_HAS_RECORD, code="has_record")
        appointment.patient = patient
        _save(appointment, actor)
    if reason is not None and reason != appointment.reason:
        if not (
            access.can_edit_appointment_details(actor, appointment)
            or access.can_reschedule_appointment(actor, appointment)
        ):
            raise PermissionDenied(NOT_ALLOWED)
        _refuse_if_cancelled(appointment)
        appointment.reason = reason
        _save(appointment, actor)
    moved = (start is not None and start != appointment.appointment_time) or (
        doctor is not None and doctor.pk != appointment.doctor_id
    )
    if moved:
        appointment = appointment_reschedule(
            actor=actor, appointment=appointment, start=start or appointment.appointment_time, doctor=doctor, now=now
        )
    if status is not None and status != appointment.status:
        appointment = appointment_move(actor=actor, appointment=appointment, status=status, now=now)
    return appointment


# --- Series of visits --------------------------------------------------------------------


class SeriesConflict(SlotUnavailable):
    """Some visits of a series cannot be booked: HTTP 409 naming their times; nothing is booked."""

    def __init__(self, conflicts: list[tuple[datetime, str]]) -> None:
        super().__init__(SERIES_CONFLICTS.format(count=len(conflicts)), code="series_conflict")
        self.conflicts = conflicts


@dataclass(frozen=True)
class SeriesBooked:
    series: AppointmentSeries
    appointments: list[Appointment]
    # The times not booked (with `skip_conflicts`), each with the rule that refused it.
    skipped: list[tuple[datetime, str]]


def series_starts(start: datetime, *, every_weeks: int, count: int) -> list[datetime]:
    """The starts of a series: `count` of them, every `every_weeks` weeks at `start`'s clinic
    wall-clock time, whatever daylight-saving change lies between (UTC instants)."""
    zone = clinic_zone()
    local = start.astimezone(zone)
    starts = []
    for index in range(count):
        day = local.date() + timedelta(weeks=every_weeks * index)
        instant = _local(day, local.time(), zone)
        # A wall time that does not exist that day (the clock jumps over it) is left as it would
        # read an hour later; the grid check then refuses it like any other time off the grid.
        starts.append((instant or datetime.combine(day, local.time(), tzinfo=zone)).astimezone(UTC))
    return starts


@transaction.atomic
def series_book(
    *,
    actor: User,
    patient: Patient,
    doctor: Doctor,
    start: datetime,
    every_weeks: int,
    count: int,
    appointment_type: AppointmentType | None = None,
    reason: str = "",
    skip_conflicts: bool = False,
    now: datetime | None = None,
) -> SeriesBooked:
    """Book a course of visits at the same wall-clock time: all of them or none (SeriesConflict,
    409, naming each time that cannot be booked), or with `skip_conflicts` the ones that can.
    The patient gets one email listing every visit, with an invite holding them all."""
    if not access.can_book_series(actor):
        raise PermissionDenied(NOT_ALLOWED)
    check_type(actor=actor, doctor=doctor, appointment_type=appointment_type)
    series = AppointmentSeries(
        patient=patient,
        doctor=doctor,
        appointment_type=appointment_type,
        every_weeks=every_weeks,
        count=count,
        created_by=actor,
    )
    series.full_clean()
    series.save()
    booked, refused = [], []
    for visit_start in series_starts(start, every_weeks=every_weeks, count=count):
        try:
            with transaction.atomic():
                booked.append(
                    _book_visit(
                        actor=actor,
                        patient=patient,
                        doctor=doctor,
                        start=visit_start,
                        reason=reason,
                        appointment_type=appointment_type,
                        series=series,
                        now=now,
                    )
                )
        except BookingError as exc:
            refused.append((visit_start, exc.messages[0]))
    if refused and (not skip_conflicts or not booked):
        raise SeriesConflict(refused)
    _queue_email(booked[0], "series")
    return SeriesBooked(series=series, appointments=booked, skipped=refused)


@transaction.atomic
def series_cancel_from(*, actor: User, appointment: Appointment, now: datetime | None = None) -> list[Appointment]:
    """Cancel `appointment` and the later live visits of its series, each under the usual rules
    (a patient's cut-off included): if one of them may not be cancelled, none is."""
    if appointment.series_id is None:
        raise BookingError(NOT_IN_SERIES, code="not_in_series")
    later = (
        Appointment.objects.filter(
            series_id=appointment.series_id,
            appointment_time__gte=appointment.appointment_time,
            status__in=(Status.PENDING, Status.CONFIRMED),
        )
        .select_related("patient__user", "doctor__user")
        .order_by("appointment_time", "id")
    )
    return [appointment_cancel(actor=actor, appointment=visit, now=now) for visit in later]


# --- Time off --------------------------------------------------------------------------


@transaction.atomic
def time_off_save(*, actor: User, time_off: TimeOff) -> TimeOff:
    """Record or change a doctor's time off (the doctor their own, staff anyone's). The time a
    change no longer covers is offered to the waitlist."""
    if not access.can_manage_time_off(actor, time_off.doctor):
        raise PermissionDenied(NOT_ALLOWED)
    before = TimeOff.objects.filter(pk=time_off.pk).select_related("doctor").first() if time_off.pk else None
    time_off.full_clean()
    time_off.save()
    if before is not None:
        _waitlist_offer_freed(before.doctor, before.starts_at, before.ends_at)
    return time_off


@transaction.atomic
def time_off_delete(*, actor: User, time_off: TimeOff) -> None:
    """Remove a doctor's time off; the time it covered is offered to the waitlist."""
    if not access.can_manage_time_off(actor, time_off.doctor):
        raise PermissionDenied(NOT_ALLOWED)
    doctor, begin, end = time_off.doctor, time_off.starts_at, time_off.ends_at
    time_off.delete()
    _waitlist_offer_freed(doctor, begin, end)


# --- Visit types ------------------------------------------------------------------------


@transaction.atomic
def appointment_type_save(
    *,
    actor: User,
    appointment_type: AppointmentType | None = None,
    doctors: Iterable[Doctor] | None = None,
    **fields: Any,
) -> AppointmentType:
    """Create a visit type, or change `appointment_type`: its fields (name, duration, buffers,
    colour, bookable_online, active) and, when given, the doctors who offer it. Appointments
    already booked keep their times; the new length and buffers hold for later bookings."""
    if not access.can_manage_appointment_types(actor):
        raise PermissionDenied(NOT_ALLOWED)
    unknown = set(fields) - set(TYPE_FIELDS)
    if unknown:
        raise ValidationError({name: [TYPE_FIELD_UNKNOWN] for name in sorted(unknown)})
    saved = appointment_type or AppointmentType()
    for name, value in fields.items():
        setattr(saved, name, value)
    saved.full_clean()
    saved._history_user = actor
    saved.save()
    if doctors is not None:
        saved.doctors.set(doctors)
    return saved


@transaction.atomic
def appointment_type_delete(*, actor: User, appointment_type: AppointmentType) -> None:
    """Delete a visit type no appointment uses (ProtectedError otherwise: retire it with `active`)."""
    if not access.can_manage_appointment_types(actor):
        raise PermissionDenied(NOT_ALLOWED)
    appointment_type._history_user = actor
    appointment_type.delete()


# --- Idempotent booking (the Idempotency-Key header) --------------------------------


@dataclass(frozen=True)
class StoredAnswer:
    """The answer first given to a booking made with an idempotency key."""

    status: int
    body: dict[str, Any]


def request_fingerprint(data: Any) -> str:
    """A digest of a booking request's parsed body: the same request always gives the same one."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def booking_replay(*, actor: User, key: str, fingerprint: str, now: datetime | None = None) -> StoredAnswer | None:
    """The stored answer to `actor`'s booking with `key` in the last 24 hours, if any.

    The same key with a different request is refused (422): answering it with the first
    booking would silently drop what the client asked for now.
    """
    if len(key) > IDEMPOTENCY_KEY_MAX:
        raise BookingError(IDEMPOTENCY_KEY_TOO_LONG, code="idempotency_key_too_long")
    now = now or timezone.now()
    stored = (
        IdempotencyKey.objects.filter(
            user=actor, key=key, created_at__gte=now - IDEMPOTENCY_WINDOW, response_status__isnull=False
        )
        .only("fingerprint", "response_status", "response_body")
        .first()
    )
    if stored is None:
        return None
    if stored.fingerprint and stored.fingerprint != fingerprint:
        raise IdempotencyConflict(IDEMPOTENCY_KEY_REUSED, code="idempotency_key_reused", status_code=422)
    return StoredAnswer(status=stored.response_status, body=stored.response_body)


def appointment_book_once(
    *,
    actor: User,
    key: str,
    fingerprint: str,
    render: Callable[[Appointment], dict[str, Any]],
    patient: Patient,
    doctor: Doctor,
    start: datetime,
    reason: str = "",
    appointment_type: AppointmentType | None = None,
    now: datetime | None = None,
) -> StoredAnswer:
    """`appointment_book` under an idempotency key: the first request with the key books, and
    every repeat of it within 24 hours gets the same answer (`render` of the appointment).

    The key is claimed inside the booking's transaction: a concurrent request with the same
    key waits on the claim and then answers with the first one's result.
    """
    replay = booking_replay(actor=actor, key=key, fingerprint=fingerprint, now=now)
    if replay is not None:
        return replay
    with transaction.atomic():
        IdempotencyKey.objects.filter(
            user=actor, key=key, created_at__lt=(now or timezone.now()) - IDEMPOTENCY_WINDOW
        ).delete()
        try:
            with transaction.atomic():
                claim = IdempotencyKey.objects.create(user=actor, key=key, fingerprint=fingerprint)
        except IntegrityError:
            # Another request holds the key: it has committed by now (the insert waited for it).
            replay = booking_replay(actor=actor, key=key, fingerprint=fingerprint, now=now)
            if replay is None:
                raise IdempotencyConflict(IDEMPOTENCY_IN_FLIGHT, code="idempotency_in_flight", status_code=409)
            return replay
        appointment = appointment_book(
            actor=actor,
            patient=patient,
            doctor=doctor,
            start=start,
            reason=reason,
            appointment_type=appointment_type,
            now=now,
        )
        claim.response_status, claim.response_body = 201, render(appointment)
        claim.save(update_fields=["response_status", "response_body"])
    return StoredAnswer(status=claim.response_status, body=claim.response_body)


def idempotency_keys_purge(*, now: datetime | None = None) -> int:
    """Forget idempotency keys older than 24 hours (the worker's schedule runs this); returns how many."""
    cutoff = (now or timezone.now()) - IDEMPOTENCY_WINDOW
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted


# --- Internals ---------------------------------------------------------------------


def _place(appointment: Appointment, start: datetime) -> None:
    """Set the appointment's times from its doctor and type: its own range and the doctor's time it blocks."""
    shape = Shape.of(appointment.doctor, appointment.appointment_type)
    appointment.place(start, shape.length, before=shape.before, after=shape.after)


def _locked(appointment: Appointment) -> Appointment:
    """Re-read the appointment under a row lock, keeping the joins already loaded."""
    fresh = (
        Appointment.objects.select_for_update(of=("self",)).select_related("appointment_type").get(pk=appointment.pk)
    )
    for relation in ("patient", "doctor"):
        if Appointment._meta.get_field(relation).is_cached(appointment):
            cached = getattr(appointment, relation)
            if cached.pk == getattr(fresh, f"{relation}_id"):
                setattr(fresh, relation, cached)
    return fresh


def reschedule_refusal(actor: User, appointment: Appointment, *, now: datetime | None = None) -> BookingError | None:
    """Why `actor` may not move `appointment` to another time now (a 400), or None if they may
    pick a new slot: only pending and confirmed visits move, before their start, and patients
    not within their cut-off. Who may reschedule at all is `access.can_reschedule_appointment`."""
    now = now or timezone.now()
    if appointment.status == Status.CANCELLED:
        return BookingError(CANCELLED_IS_FINAL, code="cancelled_final")
    if appointment.status not in (Status.PENDING, Status.CONFIRMED):
        return BookingError(
            NOT_RESCHEDULABLE.format(status=appointment.get_status_display().lower()), code="status_move"
        )
    refusal = _change_refusal(actor, appointment, now=now)
    return None if refusal is None else BookingError(refusal[0], code=refusal[1])


def _change_refusal(actor: User, appointment: Appointment, *, now: datetime) -> tuple[str, str] | None:
    """What stops a cancel or a reschedule alike: a patient within their cut-off, and for
    everyone a visit that has begun (it is completed or missed, never cancelled or moved)."""
    if access.is_patient_acting(actor) and not patient_may_change(appointment, now=now):
        return PATIENT_CUTOFF.format(hours=settings.PATIENT_CHANGE_CUTOFF_HOURS), "cutoff"
    if appointment.appointment_time <= now:
        return ALREADY_STARTED, "already_started"
    return None


def _refuse_if_cancelled(appointment: Appointment) -> None:
    if appointment.status == Status.CANCELLED:
        raise BookingError(CANCELLED_IS_FINAL, code="cancelled_final")


def patient_may_change(appointment: Appointment, *, now: datetime | None = None) -> bool:
    """Whether the patient may still reschedule or cancel online: not within
    PATIENT_CHANGE_CUTOFF_HOURS of the start, nor after it."""
    return changeable_online(appointment.appointment_time, now=now)


def changeable_online(start: datetime, *, now: datetime | None = None) -> bool:
    """Whether a visit starting at `start` is still outside the patient's cut-off now (a booking
    inside it cannot be changed online afterwards)."""
    return start - (now or timezone.now()) >= timedelta(hours=settings.PATIENT_CHANGE_CUTOFF_HOURS)


def _lock_parties(appointment: Appointment) -> None:
    """Lock the patient's row, then the doctor's, until the transaction ends.

    Two writes for the same patient (or doctor) then queue here, always in this
    order, instead of waiting on each other inside the two overlap constraints,
    where PostgreSQL would break the cycle with a deadlock error. SQLite needs
    none of this: its write transactions already run one at a time.
    """
    if not connection.features.has_select_for_update:
        return
    list(Patient.objects.select_for_update().filter(pk=appointment.patient_id).values_list("pk"))
    list(Doctor.objects.select_for_update().filter(pk=appointment.doctor_id).values_list("pk"))


def _save(appointment: Appointment, actor: User) -> None:
    """Validate and write; overlaps become SlotUnavailable whether Python or the database sees them first."""
    try:
        appointment.full_clean()
    except ValidationError as exc:
        for errors in exc.error_dict.values():
            for error in errors:
                if error.code == "overlap":
                    code = OVERLAP_CODES["patient" if error.message == PATIENT_OVERLAP else "doctor"]
                    metrics.slot_taken(code)
                    raise SlotUnavailable(error.message, code=code) from exc
        raise BookingError(exc.messages[0], code="invalid") from exc
    appointment._history_user = actor if getattr(actor, "is_authenticated", False) else None
    _lock_parties(appointment)
    try:
        with transaction.atomic():
            appointment.save()
    except IntegrityError as exc:
        # A concurrent booking got past the Python check: only the two overlap constraints
        # mean "taken"; anything else the database refuses is not a slot question.
        for constraint in Appointment._meta.constraints:
            if isinstance(constraint, NoOverlapConstraint) and constraint.violated_by(exc):
                metrics.slot_taken(OVERLAP_CODES[constraint.field])
                raise SlotUnavailable(constraint.violation_error_message, code=OVERLAP_CODES[constraint.field]) from exc
        raise


OVERLAP_CODES = {"doctor": "slot_taken", "patient": "patient_busy"}


def _queue_email(appointment: Appointment, kind: str) -> None:
    """Record the patient's notice in the outbox and queue it once the transaction commits.

    The outbox row is written in this transaction, so a rollback leaves neither a row
    nor an email. The worker sends each (appointment, kind, sequence) once. Should the
    broker refuse the task after the commit, the change still stands and the worker's
    schedule sends the pending row later (clinic/tasks.py).
    """
    from clinic.models import EmailOutbox
    from clinic.tasks import email_enqueue

    outbox, _ = EmailOutbox.objects.get_or_create(appointment=appointment, kind=kind, sequence=appointment.sequence)
    if outbox.status == EmailOutbox.Status.PENDING:
        transaction.on_commit(lambda: email_enqueue(outbox), robust=True)


# --- The waitlist ------------------------------------------------------------------
#
# A patient waits for a time with one doctor, or any doctor of a specialization, between two
# clinic-local dates, optionally for a visit type and a part of the day. An entry is done when
# its patient books anything that fits it, and expires after its last day.

WAITLIST_DOCTOR_OR_SPECIALIZATION = "Name a doctor or a specialization, not both."
WAITLIST_RANGE_ORDER = "The last day comes before the first one."
WAITLIST_IN_PAST = "The range has to start today or later."
WAITLIST_TOO_FAR = "Bookings open {days} days ahead: the range has to end by {last}."
WAITLIST_NO_SUCH_SPECIALIZATION = "No doctor of the clinic has this specialization."
WAITLIST_TYPE_NOT_OFFERED = "No {specialization} doctor offers {name} visits."
WAITLIST_NOT_OPEN = "This waitlist entry is {status}; only a waiting entry can be withdrawn."
# Where the afternoon starts, clinic-local.
NOON = time(12, 0)


def part_of_day_of(start: datetime) -> str:
    """ "morning" or "afternoon": the part of the clinic-local day `start` falls in."""
    return PartOfDay.MORNING if timezone.localtime(start).time() < NOON else PartOfDay.AFTERNOON


@transaction.atomic
def waitlist_join(
    *,
    actor: User,
    patient: Patient,
    date_from: date,
    date_to: date,
    doctor: Doctor | None = None,
    specialization: str = "",
    appointment_type: AppointmentType | None = None,
    part_of_day: str = PartOfDay.ANY,
    now: datetime | None = None,
) -> WaitlistEntry:
    """Put `patient` on the waitlist (patients themselves; the front desk for anyone). A bad
    range, both or neither of a doctor and a specialization, or a type the doctor does not offer
    is a ValidationError on its field (400); nothing is written then."""
    if not access.can_join_waitlist(actor, patient):
        raise PermissionDenied(NOT_ALLOWED)
    specialization = (specialization or "").strip()
    if (doctor is None) == (not specialization):
        raise ValidationError({"doctor": [WAITLIST_DOCTOR_OR_SPECIALIZATION]}, code="doctor_or_specialization")
    if specialization and not Doctor.objects.filter(specialization=specialization).exists():
        raise ValidationError({"specialization": [WAITLIST_NO_SUCH_SPECIALIZATION]}, code="specialization")
    window = BookingWindow.at(now)
    today, last = timezone.localdate(window.now), timezone.localdate(window.latest)
    if date_to < date_from:
        raise ValidationError({"date_to": [WAITLIST_RANGE_ORDER]}, code="range_order")
    if date_from < today:
        raise ValidationError({"date_from": [WAITLIST_IN_PAST]}, code="in_past")
    if date_to > last:
        message = WAITLIST_TOO_FAR.format(days=settings.BOOKING_HORIZON_DAYS, last=last.isoformat())
        raise ValidationError({"date_to": [message]}, code="too_far")
    if doctor is not None:
        check_type(actor=actor, doctor=doctor, appointment_type=appointment_type)
    elif appointment_type is not None:
        offering = Doctor.objects.filter(specialization=specialization, appointment_types=appointment_type).first()
        if offering is None:
            message = WAITLIST_TYPE_NOT_OFFERED.format(specialization=specialization, name=appointment_type.name)
            raise ValidationError({"appointment_type": [message]}, code="appointment_type")
        check_type(actor=actor, doctor=offering, appointment_type=appointment_type)
    if part_of_day not in PartOfDay.values:
        raise ValidationError({"part_of_day": [f"Choose one of {', '.join(PartOfDay.values)}."]}, code="part_of_day")
    entry = WaitlistEntry(
        patient=patient,
        doctor=doctor,
        specialization=specialization,
        appointment_type=appointment_type,
        date_from=date_from,
        date_to=date_to,
        part_of_day=part_of_day,
        created_by=actor if actor.is_authenticated else None,
    )
    entry.full_clean()
    entry.save()
    return entry


@transaction.atomic
def waitlist_withdraw(*, actor: User, entry: WaitlistEntry) -> WaitlistEntry:
    """The patient (or the front desk) takes an open entry off the waitlist."""
    entry = WaitlistEntry.objects.select_for_update().get(pk=entry.pk)
    if not access.can_join_waitlist(actor, entry.patient):
        raise PermissionDenied(NOT_ALLOWED)
    if entry.status not in WaitlistEntry.OPEN:
        raise BookingError(WAITLIST_NOT_OPEN.format(status=entry.get_status_display().lower()), code="not_open")
    entry.status = WaitlistEntry.Status.WITHDRAWN
    entry.save(update_fields=["status", "updated_at"])
    return entry


def waitlist_fitting(appointment: Appointment) -> Q:
    """The open entries an appointment fits: for its doctor or their specialization, its type
    or none, its day and its part of the day."""
    day = timezone.localdate(appointment.appointment_time)
    return (
        (Q(doctor_id=appointment.doctor_id) | Q(doctor__isnull=True, specialization=appointment.doctor.specialization))
        & (Q(appointment_type__isnull=True) | Q(appointment_type_id=appointment.appointment_type_id))
        & Q(date_from__lte=day, date_to__gte=day)
        & Q(part_of_day__in=[PartOfDay.ANY, part_of_day_of(appointment.appointment_time)])
        & Q(status__in=WaitlistEntry.OPEN)
    )


def _waitlist_fulfilled(appointment: Appointment) -> int:
    """A booking that fits its patient's open entries ends them (one UPDATE)."""
    return WaitlistEntry.objects.filter(waitlist_fitting(appointment), patient_id=appointment.patient_id).update(
        status=WaitlistEntry.Status.BOOKED, updated_at=timezone.now()
    )


def waitlist_expire(*, now: datetime | None = None) -> int:
    """Open entries whose last day has passed expire (the hourly schedule of migration 0011)."""
    today = timezone.localdate(now or timezone.now())
    return WaitlistEntry.objects.filter(status__in=WaitlistEntry.OPEN, date_to__lt=today).update(
        status=WaitlistEntry.Status.EXPIRED, updated_at=timezone.now()
    )


# --- Offers of freed times ------------------------------------------------------------
#
# When a live time frees (a cancellation, a reschedule away, time off removed), each start it
# freed is offered to the first WAITLIST_OFFERS_PER_TIME waiting entries it fits, in joining
# order. An entry holds one live offer at a time, and each (entry, doctor, start) is offered
# once. The offers are written in the transaction that freed the time; the worker emails them.

WAITLIST_OFFERS_PER_TIME = 3
WAITLIST_OFFER_VALID = timedelta(hours=2)
OFFER_ENDED = "This waitlist place has ended: it is {status}."
OFFER_EXPIRED = "This offer has run out."
OFFER_TAKEN = "Someone was quicker: that time is booked."
OFFER_NOT_IN_RANGE = "That time is not one this waitlist place asked for."


def _live_offers(now: datetime) -> Q:
    return Q(outcome=WaitlistOffer.Outcome.OPEN, valid_until__gt=now)


def waitlist_waiting(now: datetime | None = None) -> Q:
    """Entries a freed time may be offered to: waiting, or offered with every offer ended."""
    now = now or timezone.now()
    holding = WaitlistOffer.objects.filter(_live_offers(now), entry_id=OuterRef("pk"))
    return Q(status=WaitlistEntry.Status.WAITING) | (Q(status=WaitlistEntry.Status.OFFERED) & ~Exists(holding))


def _entry_wants(entry: WaitlistEntry, doctor: Doctor, start: datetime) -> bool:
    """Whether a time with `doctor` at `start` is one `entry` asked for (its type aside)."""
    day = timezone.localdate(start)
    return (
        (entry.doctor_id == doctor.pk if entry.doctor_id else entry.specialization == doctor.specialization)
        and entry.date_from <= day <= entry.date_to
        and entry.part_of_day in (PartOfDay.ANY, part_of_day_of(start))
    )


def _waitlist_offer_freed(
    doctor: Doctor, begin: datetime, end: datetime, *, now: datetime | None = None, patient_id: int | None = None
) -> list[WaitlistOffer]:
    """Offer the starts of `doctor` in [begin, end) that are free now to the waitlist (one query
    when no entry waits for them). The patient who freed the time is not offered it back."""
    window = BookingWindow.at(now)
    begin, end = max(begin, window.earliest), min(end, window.latest)
    if begin >= end:
        return []
    first_day, last_day = timezone.localdate(begin), timezone.localdate(end - timedelta(microseconds=1))
    entries = list(
        WaitlistEntry.objects.filter(
            waitlist_waiting(window.now),
            Q(doctor_id=doctor.pk) | Q(doctor__isnull=True, specialization=doctor.specialization),
            Q(appointment_type__isnull=True) | Q(appointment_type__in=doctor.appointment_types.all()),
            date_from__lte=last_day,
            date_to__gte=first_day,
        )
        .exclude(patient_id=patient_id)
        .select_related("appointment_type")
        .order_by("created_at", "id")
    )
    if not entries:
        return []
    days = [first_day + timedelta(days=n) for n in range((last_day - first_day).days + 1)]
    free_for: dict[int | None, set[datetime]] = {}
    for kind in {entry.appointment_type for entry in entries}:
        free = slots_free_on_days(doctors=[doctor], days=days, appointment_type=kind, now=window.now)
        free_for[kind.pk if kind else None] = {s for on_day in free.values() for s in on_day[doctor.pk]}
    starts = sorted(s for free in free_for.values() for s in free if begin <= s < end)
    offered_before = set(
        WaitlistOffer.objects.filter(entry__in=entries, doctor=doctor, start__in=starts).values_list(
            "entry_id", "start"
        )
    )
    offers: list[WaitlistOffer] = []
    holding: set[int] = set()
    for start in dict.fromkeys(starts):
        takers = [
            entry
            for entry in entries
            if entry.pk not in holding
            and (entry.pk, start) not in offered_before
            and start in free_for[entry.appointment_type_id]
            and _entry_wants(entry, doctor, start)
        ][:WAITLIST_OFFERS_PER_TIME]
        valid_until = min(window.now + WAITLIST_OFFER_VALID, start - (window.earliest - window.now))
        for entry in takers:
            holding.add(entry.pk)
            offers.append(WaitlistOffer(entry=entry, doctor=doctor, start=start, valid_until=valid_until))
    if not offers:
        return []
    try:
        with transaction.atomic():
            offers = WaitlistOffer.objects.bulk_create(offers)
    except IntegrityError:
        # A concurrent change offered one of these first: that offer stands, and the change too.
        return []
    WaitlistEntry.objects.filter(pk__in=holding).update(status=WaitlistEntry.Status.OFFERED, updated_at=window.now)
    from clinic.tasks import offer_enqueue

    for offer in offers:
        transaction.on_commit(lambda offer=offer: offer_enqueue(offer), robust=True)
    return offers


def waitlist_free_times(entry: WaitlistEntry, *, now: datetime | None = None, limit: int = 12) -> list[tuple]:
    """The first `limit` free (doctor, start) pairs an entry asked for, from today to its last day,
    in time order: what a claim that came too late offers instead. Two queries, three with a
    specialization."""
    window = BookingWindow.at(now)
    if entry.doctor_id:
        doctors = [entry.doctor]
    else:
        doctors = Doctor.objects.filter(specialization=entry.specialization).select_related("user")
        if entry.appointment_type_id:
            doctors = doctors.filter(appointment_types=entry.appointment_type_id)
        doctors = list(doctors)
    first_day = max(entry.date_from, timezone.localdate(window.earliest))
    days = [first_day + timedelta(days=n) for n in range((entry.date_to - first_day).days + 1)]
    if not doctors or not days:
        return []
    free = slots_free_on_days(doctors=doctors, days=days, appointment_type=entry.appointment_type, now=window.now)
    by_id = {doctor.pk: doctor for doctor in doctors}
    times = sorted(
        (start, by_id[pk])
        for on_day in free.values()
        for pk, starts in on_day.items()
        for start in starts
        if _entry_wants(entry, by_id[pk], start)
    )
    return [(doctor, start) for start, doctor in times[:limit]]


def _offer_ended(offer: WaitlistOffer, now: datetime) -> SlotUnavailable | None:
    """Why an offer no longer books its own time, from the offer alone (no query)."""
    if offer.outcome == WaitlistOffer.Outcome.TAKEN:
        return SlotUnavailable(OFFER_TAKEN, code="slot_taken")
    if not offer.is_live(now):
        return SlotUnavailable(OFFER_EXPIRED, code="offer_expired")
    return None


def offer_refusal(offer: WaitlistOffer, *, now: datetime | None = None) -> SlotUnavailable | None:
    """Why a claim of the offer's own time would not book it now (409), or None when it would:
    what its page says before the click. Two queries while the offer is live."""
    now = now or timezone.now()
    ended = _offer_ended(offer, now)
    if ended is not None:
        return ended
    day = timezone.localdate(offer.start)
    if offer.start not in slots_free(
        doctor=offer.doctor, day=day, appointment_type=offer.entry.appointment_type, now=now
    ):
        return SlotUnavailable(OFFER_TAKEN, code="slot_taken")
    return None


@transaction.atomic
def waitlist_claim(
    *,
    offer: WaitlistOffer,
    doctor: Doctor | None = None,
    start: datetime | None = None,
    now: datetime | None = None,
) -> Appointment:
    """Book an offer's time for its entry's patient, as the patient (the claim link is their
    credential), or, with `doctor` and `start`, another free time the entry asked for. The first
    claim books; a later one raises SlotUnavailable ("someone was quicker", 409). Claiming an
    offer again answers the booking it made.

    Nothing is locked before the booking: claims of one time wait on each other in the booking's
    own locks (patient, then doctor), and the database's overlap constraints decide who books.
    """
    now = now or timezone.now()
    offer = WaitlistOffer.objects.select_related("doctor", "appointment").get(pk=offer.pk)
    entry = WaitlistEntry.objects.select_related("patient__user", "appointment_type", "doctor").get(pk=offer.entry_id)
    if offer.appointment is not None:
        return offer.appointment
    if entry.status not in WaitlistEntry.OPEN:
        raise BookingError(OFFER_ENDED.format(status=entry.get_status_display().lower()), code="offer_ended")
    own_time = start is None
    if own_time:
        doctor, start = offer.doctor, offer.start
        ended = _offer_ended(offer, now)
        if ended is not None:
            raise ended
    elif doctor is None or not _entry_wants(entry, doctor, start):
        raise BookingError(OFFER_NOT_IN_RANGE, code="not_in_range")
    try:
        appointment = appointment_book(
            actor=entry.patient.user,
            patient=entry.patient,
            doctor=doctor,
            start=start,
            appointment_type=entry.appointment_type,
            now=now,
        )
    except SlotUnavailable as exc:
        # The same link claimed twice at once: the other request booked it.
        claimed = WaitlistOffer.objects.filter(pk=offer.pk, appointment__isnull=False).select_related("appointment")
        if own_time and (twin := claimed.first()) is not None:
            return twin.appointment
        if exc.code != "slot_taken":
            raise
        raise SlotUnavailable(OFFER_TAKEN, code="slot_taken") from exc
    if own_time:
        WaitlistOffer.objects.filter(pk=offer.pk).update(outcome=WaitlistOffer.Outcome.BOOKED, appointment=appointment)
    _waitlist_time_taken(doctor, start, now=now)
    return appointment


def _waitlist_time_taken(doctor: Doctor, start: datetime, *, now: datetime) -> None:
    """The other open offers of a time just booked end, and their entries wait again."""
    others = WaitlistOffer.objects.filter(doctor=doctor, start=start, outcome=WaitlistOffer.Outcome.OPEN)
    entry_ids = list(others.values_list("entry_id", flat=True))
    if entry_ids:
        others.update(outcome=WaitlistOffer.Outcome.TAKEN)
        waitlist_offers_ended(now=now, entry_ids=entry_ids)


def waitlist_offers_ended(*, now: datetime | None = None, entry_ids: Iterable[int] | None = None) -> int:
    """Offered entries whose offers have all ended wait again (the worker's frequent schedule)."""
    now = now or timezone.now()
    entries = WaitlistEntry.objects.filter(status=WaitlistEntry.Status.OFFERED).filter(waitlist_waiting(now))
    if entry_ids is not None:
        entries = entries.filter(pk__in=list(entry_ids))
    return entries.update(status=WaitlistEntry.Status.WAITING, updated_at=now)
