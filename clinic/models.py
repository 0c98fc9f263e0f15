"""The clinic's data: users, patients, doctors, time off, appointments, medical records.

What must never be wrong is enforced by the database, not only by Python:
unique emails in any case, sane doctor hours, valid statuses, and no two live
appointments of one doctor (or one patient) overlapping in time.
"""

from __future__ import annotations

from datetime import time, timedelta

from django.contrib.auth.models import AbstractUser, UserManager
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import DateTimeRangeField, RangeOperators
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import DEFAULT_DB_ALIAS, models
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.utils import timezone
from simple_history.models import HistoricalRecords

WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
DEFAULT_WORKING_DAYS = (0, 1, 2, 3, 4)
MAX_SLOT_MINUTES = 480
MIN_DURATION_MINUTES, MAX_DURATION_MINUTES = 5, 480
MAX_BUFFER_MINUTES = 120
# Longer than any appointment's blocked range can be (at most 480 minutes and two buffers of
# 120): bounds overlap searches.
MAX_APPOINTMENT_LENGTH = timedelta(days=1)
# The fields of the doctor's blocked range of an appointment, for `AppointmentQuerySet.overlapping`.
BLOCKED_RANGE = ("blocked_from", "blocked_until")

# The sign-in fields of a patient's or doctor's user, edited together with the profile.
ACCOUNT_FIELDS = ("username", "email", "first_name", "last_name")

EMAIL_TAKEN = "A user with this email already exists."
HOURS_ORDER = "The end of the working day must be after its start."
WORKING_DAYS_INVALID = "Working days are weekday numbers from 0 (Monday) to 6 (Sunday), each at most once."
TIME_OFF_ORDER = "Time off must end after it starts."
ENDS_BEFORE_START = "An appointment must end after it starts."
DOCTOR_OVERLAP = "The doctor already has an appointment at that time."
PATIENT_OVERLAP = "The patient already has an appointment at that time."
BLOCKED_AROUND_APPOINTMENT = "The doctor's blocked time must include the appointment itself."
COLOR_INVALID = "A colour is written #rrggbb, e.g. #1f7a6d."
RECORD_PATIENT_MISMATCH = "The medical record's patient must be the patient of its appointment."
RECORD_ACCESS_APPEND_ONLY = "The record access log is append-only: its rows cannot be changed or deleted."


class ClinicUserManager(UserManager):
    def get_by_natural_key(self, username: str) -> User:
        # Usernames are matched without regard to case, like emails.
        return self.get(**{f"{self.model.USERNAME_FIELD}__iexact": username})


class User(AbstractUser):
    """A person who signs in: patient, doctor, reception or clinic admin."""

    objects = ClinicUserManager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                Lower("email"),
                condition=~Q(email=""),
                name="user_email_ci_unique",
                violation_error_message=EMAIL_TAKEN,
            ),
            models.UniqueConstraint(Lower("username"), name="user_username_ci_unique"),
        ]

    def __str__(self) -> str:
        return self.get_full_name() or self.username


class Patient(models.Model):
    #: The profile's own fields (beside its user's ACCOUNT_FIELDS).
    PROFILE_FIELDS = ("phone", "insurance_number")

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="patient")
    phone = models.CharField(max_length=32, blank=True)
    insurance_number = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["user__last_name", "user__first_name", "id"]
        indexes = [models.Index(fields=["insurance_number"], name="patient_insurance_idx")]

    def __str__(self) -> str:
        return str(self.user)


class AppointmentType(models.Model):
    """A kind of visit with its own length and the time the doctor needs before and after it
    (room preparation, notes): a 45-minute consultation, a 15-minute follow-up."""

    name = models.CharField(max_length=100, unique=True)
    duration_minutes = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(MIN_DURATION_MINUTES), MaxValueValidator(MAX_DURATION_MINUTES)]
    )
    buffer_before_minutes = models.PositiveSmallIntegerField(
        default=0, validators=[MaxValueValidator(MAX_BUFFER_MINUTES)]
    )
    buffer_after_minutes = models.PositiveSmallIntegerField(
        default=0, validators=[MaxValueValidator(MAX_BUFFER_MINUTES)]
    )
    color = models.CharField(
        max_length=7,
        default="#1f7a6d",
        validators=[RegexValidator(r"^#[0-9a-fA-F]{6}$", COLOR_INVALID)],
        help_text="How the calendar shows it: #rrggbb.",
    )
    # Patients may pick it themselves (on /book/ and through the API).
    bookable_online = models.BooleanField(default=True)
    active = models.BooleanField(default=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(duration_minutes__gte=MIN_DURATION_MINUTES, duration_minutes__lte=MAX_DURATION_MINUTES),
                name="appointment_type_duration_range",
            ),
            models.CheckConstraint(
                condition=Q(
                    buffer_before_minutes__lte=MAX_BUFFER_MINUTES, buffer_after_minutes__lte=MAX_BUFFER_MINUTES
                ),
                name="appointment_type_buffers_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.duration_minutes} min)"

    @property
    def length(self) -> timedelta:
        return timedelta(minutes=self.duration_minutes)

    @property
    def buffer_before(self) -> timedelta:
        return timedelta(minutes=self.buffer_before_minutes)

    @property
    def buffer_after(self) -> timedelta:
        return timedelta(minutes=self.buffer_after_minutes)


def validate_working_days(value: object) -> None:
    if not isinstance(value, list) or any(
        isinstance(day, bool) or not isinstance(day, int) or not 0 <= day <= 6 for day in value
    ):
        raise ValidationError(WORKING_DAYS_INVALID, code="working_days")
    if len(set(value)) != len(value):
        raise ValidationError(WORKING_DAYS_INVALID, code="working_days")


def default_working_days() -> list[int]:
    return list(DEFAULT_WORKING_DAYS)


# Callables, not time values: Django's check of fixed defaults (fields.W161) compares a time
# default with the clock, and would warn whenever `check --deploy` runs within seconds of 09:00.
def default_day_start() -> time:
    return time(9, 0)


def default_day_end() -> time:
    return time(17, 0)


class Doctor(models.Model):
    #: The profile's own fields (beside its user's ACCOUNT_FIELDS): the API, the admin and `access` read them here.
    PROFILE_FIELDS = ("specialization", "available_from", "available_to", "slot_minutes", "working_days")

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="doctor")
    specialization = models.CharField(max_length=100, db_index=True)
    # Times of day in the clinic's zone (settings.TIME_ZONE).
    available_from = models.TimeField(default=default_day_start)
    available_to = models.TimeField(default=default_day_end)
    slot_minutes = models.PositiveSmallIntegerField(
        default=30, validators=[MinValueValidator(5), MaxValueValidator(MAX_SLOT_MINUTES)]
    )
    # Weekday numbers as datetime.weekday() gives them: Monday = 0 ... Sunday = 6.
    working_days = models.JSONField(default=default_working_days, validators=[validate_working_days])
    appointment_types = models.ManyToManyField(AppointmentType, related_name="doctors", blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["user__last_name", "user__first_name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(available_from__lt=F("available_to")),
                name="doctor_hours_ordered",
                violation_error_message=HOURS_ORDER,
            ),
            models.CheckConstraint(condition=Q(slot_minutes__gt=0), name="doctor_slot_positive"),
        ]

    def __str__(self) -> str:
        name = self.user.get_full_name() or self.user.username
        return f"Dr {name} ({self.specialization})"


class TimeOff(models.Model):
    """A holiday or absence: no slot inside it is offered or bookable."""

    doctor = models.ForeignKey(Doctor, on_delete=models.CASCADE, related_name="time_off")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["starts_at"]
        verbose_name_plural = "time off"
        indexes = [models.Index(fields=["doctor", "starts_at", "ends_at"], name="timeoff_doctor_time_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")),
                name="timeoff_ends_after_start",
                violation_error_message=TIME_OFF_ORDER,
            )
        ]

    def __str__(self) -> str:
        return f"{self.doctor}: {self.starts_at:%Y-%m-%d %H:%M} – {self.ends_at:%Y-%m-%d %H:%M}"


class TsTzRange(models.Func):
    function = "TSTZRANGE"
    output_field = DateTimeRangeField()


class NoOverlapConstraint(models.BaseConstraint):
    """Live (non-cancelled) appointments sharing `field` never overlap in time: their ranges
    [`start`, `end`) are disjoint (for a doctor the blocked range, buffers included; for a
    patient the appointment itself).

    On PostgreSQL this is an exclusion constraint over the range, which holds under any
    concurrency. Other databases get a unique index on (field, start) among live rows; the
    booking service re-checks overlaps inside a write-locked transaction (SQLite's BEGIN
    IMMEDIATE) there. `validate()` runs the same overlap test in Python, so `full_clean()`
    reports a clear error before the database has to refuse.
    """

    def __init__(
        self,
        *,
        field: str,
        name: str,
        start: str = "appointment_time",
        end: str = "ends_at",
        violation_error_message: str | None = None,
    ) -> None:
        self.field, self.start, self.end = field, start, end
        super().__init__(name=name, violation_error_message=violation_error_message)

    def _backend_constraint(self, connection) -> models.BaseConstraint:
        live = ~Q(status=Appointment.Status.CANCELLED)
        if connection.vendor == "postgresql":
            return ExclusionConstraint(
                name=self.name,
                expressions=[
                    (TsTzRange(self.start, self.end), RangeOperators.OVERLAPS),
                    (self.field, RangeOperators.EQUAL),
                ],
                condition=live,
            )
        return models.UniqueConstraint(fields=[self.field, self.start], condition=live, name=self.name)

    def constraint_sql(self, model, schema_editor):
        return self._backend_constraint(schema_editor.connection).constraint_sql(model, schema_editor)

    def create_sql(self, model, schema_editor):
        return self._backend_constraint(schema_editor.connection).create_sql(model, schema_editor)

    def remove_sql(self, model, schema_editor):
        return self._backend_constraint(schema_editor.connection).remove_sql(model, schema_editor)

    def validate(self, model, instance, exclude=None, using=DEFAULT_DB_ALIAS) -> None:
        exclude = exclude or set()
        if {self.field, self.start, self.end, "status"} & set(exclude):
            return
        owner_id = getattr(instance, f"{self.field}_id")
        start, end = getattr(instance, self.start), getattr(instance, self.end)
        if instance.status == Appointment.Status.CANCELLED or None in (owner_id, start, end):
            return
        clashes = (
            model._default_manager.using(using)
            .filter(**{f"{self.field}_id": owner_id})
            .overlapping(start, end, fields=(self.start, self.end))
            .exclude(status=Appointment.Status.CANCELLED)
        )
        if not instance._state.adding:
            clashes = clashes.exclude(pk=instance.pk)
        if clashes.exists():
            raise ValidationError(self.get_violation_error_message(), code="overlap")

    def violated_by(self, error: Exception) -> bool:
        """Whether a database error is this constraint refusing a write.

        PostgreSQL names the exclusion constraint; SQLite names the columns of the unique index.
        """
        diagnostics = getattr(error.__cause__, "diag", None)
        constraint = getattr(diagnostics, "constraint_name", None)
        if constraint is not None:
            return constraint == self.name
        table = Appointment._meta.db_table
        return f"{table}.{self.field}_id, {table}.{self.start}" in str(error)

    def deconstruct(self):
        path, args, kwargs = super().deconstruct()
        kwargs["field"] = self.field
        if (self.start, self.end) != ("appointment_time", "ends_at"):
            kwargs["start"], kwargs["end"] = self.start, self.end
        return path, args, kwargs

    def _identity(self) -> tuple:
        return (self.name, self.field, self.start, self.end, self.violation_error_message)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, NoOverlapConstraint):
            return self._identity() == other._identity()
        return super().__eq__(other)

    def __hash__(self) -> int:
        return hash(self._identity())


class AppointmentQuerySet(models.QuerySet):
    def live(self) -> AppointmentQuerySet:
        return self.exclude(status=Appointment.Status.CANCELLED)

    def overlapping(
        self, start, end, *, fields: tuple[str, str] = ("appointment_time", "ends_at")
    ) -> AppointmentQuerySet:
        """Appointments whose range (by default the appointment itself; `BLOCKED_RANGE` for the
        doctor's time it takes, buffers included) shares some of [start, end).

        The lower bound on the start is implied (no range is longer than
        MAX_APPOINTMENT_LENGTH) but lets the (doctor|patient, start) indexes read a day's rows
        instead of everyone's whole history.
        """
        first, last = fields
        return self.filter(
            **{f"{first}__lt": end, f"{first}__gt": start - MAX_APPOINTMENT_LENGTH, f"{last}__gt": start}
        )


MIN_SERIES_COUNT, MAX_SERIES_COUNT = 2, 26
MAX_SERIES_EVERY_WEEKS = 4


class AppointmentSeries(models.Model):
    """A course of visits: `count` appointments every `every_weeks` weeks at the same
    clinic wall-clock time (six weekly physiotherapy sessions, say)."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="series")
    doctor = models.ForeignKey(Doctor, on_delete=models.PROTECT, related_name="series")
    appointment_type = models.ForeignKey(
        AppointmentType, on_delete=models.PROTECT, null=True, blank=True, related_name="series"
    )
    every_weeks = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(MAX_SERIES_EVERY_WEEKS)]
    )
    count = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(MIN_SERIES_COUNT), MaxValueValidator(MAX_SERIES_COUNT)]
    )
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "appointment series"
        constraints = [
            models.CheckConstraint(
                condition=Q(every_weeks__gte=1, every_weeks__lte=MAX_SERIES_EVERY_WEEKS),
                name="series_every_weeks_range",
            ),
            models.CheckConstraint(
                condition=Q(count__gte=MIN_SERIES_COUNT, count__lte=MAX_SERIES_COUNT), name="series_count_range"
            ),
        ]

    def __str__(self) -> str:
        weeks = "week" if self.every_weeks == 1 else f"{self.every_weeks} weeks"
        return f"{self.count} visits every {weeks}: {self.patient} with {self.doctor}"


class AppointmentStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    CONFIRMED = "confirmed", "Confirmed"
    ARRIVED = "arrived", "Checked in"
    IN_PROGRESS = "in_progress", "With the doctor"
    COMPLETED = "completed", "Completed"
    NO_SHOW = "no_show", "No-show"
    CANCELLED = "cancelled", "Cancelled"


class Appointment(models.Model):
    Status = AppointmentStatus

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="appointments", db_index=False)
    doctor = models.ForeignKey(Doctor, on_delete=models.PROTECT, related_name="appointments", db_index=False)
    appointment_time = models.DateTimeField()
    ends_at = models.DateTimeField()
    appointment_type = models.ForeignKey(
        AppointmentType, on_delete=models.PROTECT, null=True, blank=True, related_name="appointments"
    )
    series = models.ForeignKey(
        AppointmentSeries, on_delete=models.PROTECT, null=True, blank=True, related_name="appointments"
    )
    # The doctor's time the appointment takes: itself and its type's buffers around it.
    blocked_from = models.DateTimeField(editable=False)
    blocked_until = models.DateTimeField(editable=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    reason = models.CharField(max_length=500, blank=True)
    # Rises on every reschedule and on cancellation: the SEQUENCE of the calendar invite.
    sequence = models.PositiveIntegerField(default=0, editable=False)
    # Stamped by the visit's moves (clinic/booking.py).
    arrived_at = models.DateTimeField(null=True, blank=True, editable=False)
    started_at = models.DateTimeField(null=True, blank=True, editable=False)
    completed_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AppointmentQuerySet.as_manager()
    history = HistoricalRecords(excluded_fields=["updated_at"])

    class Meta:
        ordering = ["appointment_time", "id"]
        indexes = [
            models.Index(fields=["doctor", "appointment_time"], name="appt_doctor_time_idx"),
            models.Index(fields=["doctor", "blocked_from"], name="appt_doctor_blocked_idx"),
            models.Index(fields=["patient", "appointment_time"], name="appt_patient_time_idx"),
            models.Index(fields=["status", "appointment_time"], name="appt_status_time_idx"),
            models.Index(fields=["appointment_time", "id"], name="appt_time_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=AppointmentStatus.values), name="appointment_status_valid"),
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("appointment_time")),
                name="appointment_ends_after_start",
                violation_error_message=ENDS_BEFORE_START,
            ),
            models.CheckConstraint(
                condition=Q(blocked_from__lte=F("appointment_time"), blocked_until__gte=F("ends_at")),
                name="appointment_blocked_around",
                violation_error_message=BLOCKED_AROUND_APPOINTMENT,
            ),
            NoOverlapConstraint(
                field="doctor",
                start="blocked_from",
                end="blocked_until",
                name="appointment_doctor_no_overlap",
                violation_error_message=DOCTOR_OVERLAP,
            ),
            NoOverlapConstraint(
                field="patient", name="appointment_patient_no_overlap", violation_error_message=PATIENT_OVERLAP
            ),
        ]

    def __str__(self) -> str:
        return f"{self.appointment_time:%Y-%m-%d %H:%M} {self.patient} with {self.doctor} ({self.status})"

    @property
    def is_live(self) -> bool:
        return self.status != self.Status.CANCELLED

    def place(self, start, length: timedelta, *, before: timedelta = timedelta(0), after: timedelta = timedelta(0)):
        """Set the appointment's range [start, start + length) and the doctor's blocked range
        around it, `before` earlier and `after` later."""
        self.appointment_time, self.ends_at = start, start + length
        self.blocked_from, self.blocked_until = start - before, self.ends_at + after


class WaitlistStatus(models.TextChoices):
    WAITING = "waiting", "Waiting"
    OFFERED = "offered", "Offered a time"
    BOOKED = "booked", "Booked"
    EXPIRED = "expired", "Expired"
    WITHDRAWN = "withdrawn", "Withdrawn"


class PartOfDay(models.TextChoices):
    ANY = "any", "Any time"
    MORNING = "morning", "Morning (before noon)"
    AFTERNOON = "afternoon", "Afternoon (from noon)"


class WaitlistEntry(models.Model):
    """A patient waiting for a time to free up: with one doctor or any of a specialization,
    between two clinic-local dates, optionally for a visit type and a part of the day."""

    Status = WaitlistStatus
    PartOfDay = PartOfDay

    # Still looking: a freed time may be offered to it, and a booking that fits ends it.
    OPEN = (WaitlistStatus.WAITING, WaitlistStatus.OFFERED)
    # What a request to join names, besides the patient.
    REQUEST_FIELDS = ("doctor", "specialization", "appointment_type", "date_from", "date_to", "part_of_day")

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="waitlist_entries")
    doctor = models.ForeignKey(Doctor, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    specialization = models.CharField(max_length=100, blank=True)
    appointment_type = models.ForeignKey(
        AppointmentType, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    date_from = models.DateField()
    date_to = models.DateField()
    part_of_day = models.CharField(max_length=16, choices=PartOfDay.choices, default=PartOfDay.ANY)
    status = models.CharField(max_length=16, choices=WaitlistStatus.choices, default=WaitlistStatus.WAITING)
    created_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name_plural = "waitlist entries"
        indexes = [
            models.Index(fields=["status", "date_from", "date_to"], name="waitlist_open_range_idx"),
            models.Index(fields=["patient", "status"], name="waitlist_patient_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(Q(doctor__isnull=False) & Q(specialization=""))
                | (Q(doctor__isnull=True) & ~Q(specialization="")),
                name="waitlist_doctor_or_specialization",
            ),
            models.CheckConstraint(condition=Q(date_to__gte=F("date_from")), name="waitlist_range_ordered"),
            models.CheckConstraint(condition=Q(status__in=WaitlistStatus.values), name="waitlist_status_valid"),
            models.CheckConstraint(condition=Q(part_of_day__in=PartOfDay.values), name="waitlist_part_of_day_valid"),
        ]

    def __str__(self) -> str:
        who = self.doctor or self.specialization
        return f"{self.patient} waiting for {who}, {self.date_from:%Y-%m-%d} – {self.date_to:%Y-%m-%d}"


class MedicalRecord(models.Model):
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="medical_records", db_index=False)
    appointment = models.ForeignKey(Appointment, on_delete=models.PROTECT, related_name="medical_records")
    notes = models.TextField()
    author = models.ForeignKey(User, on_delete=models.PROTECT, related_name="authored_records")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(excluded_fields=["updated_at"])

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["patient", "created_at"], name="record_patient_created_idx")]

    def __str__(self) -> str:
        return f"Record #{self.pk} for {self.patient}"

    def clean(self) -> None:
        # The database refuses a mismatch too (trigger in migration 0002).
        if self.appointment_id and self.patient_id and self.appointment.patient_id != self.patient_id:
            raise ValidationError({"patient": RECORD_PATIENT_MISMATCH}, code="record_patient_mismatch")


class IdempotencyKey(models.Model):
    """The first answer to a booking made with an `Idempotency-Key` header, kept 24 hours.

    `fingerprint` is a digest of the request the key came with: the same key with another
    request is refused rather than answered with this booking (clinic/booking.py). Keys
    stored before fingerprints were kept have none and answer any request, as they did.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, blank=True)
    response_status = models.PositiveSmallIntegerField(null=True)
    response_body = models.JSONField(null=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_user_key_unique")]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.key}"


class EmailKind(models.TextChoices):
    BOOKED = "booked", "Request received"
    CONFIRMED = "confirmed", "Confirmed"
    RESCHEDULED = "rescheduled", "Rescheduled"
    CANCELLED = "cancelled", "Cancelled"
    REMINDER = "reminder", "Reminder"
    # Every visit of a series, in one email (kept on the series' first appointment).
    SERIES = "series", "Series booked"


class EmailStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    # Not sent on purpose: a reminder out of date (appointment since moved or cancelled),
    # or a patient without an email address.
    SKIPPED = "skipped", "Skipped"
    FAILED = "failed", "Failed"


class OutboxRow(models.Model):
    """An email waiting to be sent once by the worker (clinic/tasks.py claims, sends and marks it)."""

    Status = EmailStatus

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    recipient = models.EmailField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # A worker sending this row holds it until then; a worker killed mid-send frees it by expiry.
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    message_id = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True


class EmailOutbox(OutboxRow):
    """One notice to a patient about one version of an appointment: queued, then sent once.

    A row per (appointment, kind, sequence) is written in the transaction that
    changed the appointment, so a rolled-back change leaves none. The worker claims
    the row under a row lock before sending and marks it sent afterwards; a task
    that runs again for the same row (retry, worker restart, duplicate enqueue)
    finds it sent and sends nothing.
    """

    Kind = EmailKind

    appointment = models.ForeignKey(Appointment, on_delete=models.CASCADE, related_name="emails")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # The appointment's sequence when the notice was queued (the invite's SEQUENCE).
    sequence = models.PositiveIntegerField()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "email"
        verbose_name_plural = "email outbox"
        indexes = [models.Index(fields=["status", "created_at"], name="outbox_status_created_idx")]
        constraints = [
            models.UniqueConstraint(fields=["appointment", "kind", "sequence"], name="outbox_one_per_version"),
            models.CheckConstraint(condition=Q(kind__in=EmailKind.values), name="outbox_kind_valid"),
            models.CheckConstraint(condition=Q(status__in=EmailStatus.values), name="outbox_status_valid"),
        ]

    def __str__(self) -> str:
        to = self.recipient or "the patient"
        what = f"{self.get_kind_display()} email (v{self.sequence})"
        return f"{what} for appointment #{self.appointment_id} to {to}: {self.get_status_display().lower()}"


class OfferOutcome(models.TextChoices):
    OPEN = "open", "Open"
    BOOKED = "booked", "Booked through it"
    # Another entry's claim, or another booking, took the time first.
    TAKEN = "taken", "Taken by someone else"


class WaitlistOffer(OutboxRow):
    """A freed time offered to one waitlist entry, by an email with a claim link.

    Written in the transaction that freed the time, the row is also that email's outbox:
    the worker claims it under a row lock, sends it once, and marks it sent (clinic/tasks.py,
    as for `EmailOutbox`). Each (entry, doctor, start) is offered once, whatever happens.
    """

    Outcome = OfferOutcome

    entry = models.ForeignKey(WaitlistEntry, on_delete=models.CASCADE, related_name="offers")
    doctor = models.ForeignKey(Doctor, on_delete=models.PROTECT, related_name="+")
    start = models.DateTimeField()
    # The claim link works until then: the time stops being bookable, and two hours at most.
    valid_until = models.DateTimeField()
    outcome = models.CharField(max_length=16, choices=OfferOutcome.choices, default=OfferOutcome.OPEN)
    # The booking its claim made.
    appointment = models.ForeignKey(Appointment, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["doctor", "start"], name="offer_slot_idx"),
            models.Index(fields=["status", "created_at"], name="offer_status_created_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["entry", "doctor", "start"], name="offer_once_per_entry_and_time"),
            models.CheckConstraint(condition=Q(outcome__in=OfferOutcome.values), name="offer_outcome_valid"),
            models.CheckConstraint(condition=Q(status__in=EmailStatus.values), name="offer_status_valid"),
        ]

    def __str__(self) -> str:
        return f"{timezone.localtime(self.start):%Y-%m-%d %H:%M} with {self.doctor} offered to {self.entry.patient}"

    def is_live(self, now) -> bool:
        """The claim link still books this time (if it is still free)."""
        return self.outcome == OfferOutcome.OPEN and self.valid_until > now


class RecordAccessQuerySet(models.QuerySet):
    """No bulk change or removal of access-log rows either."""

    def update(self, **kwargs):
        raise PermissionDenied(RECORD_ACCESS_APPEND_ONLY)

    def delete(self):
        raise PermissionDenied(RECORD_ACCESS_APPEND_ONLY)

    update.queryset_only = True  # type: ignore[attr-defined]
    delete.queryset_only = True  # type: ignore[attr-defined]


class RecordAccessChannel(models.TextChoices):
    API = "api", "API"
    ADMIN = "admin", "Staff admin"


class RecordAccess(models.Model):
    """One request that showed medical records: who, when, how, and which records.

    Written by clinic.audit in one INSERT per request (the ids are a list in the row),
    never changed or deleted. The reader is kept by id and name even after their
    account is deleted: the link is not a database constraint and nothing cascades.
    """

    Channel = RecordAccessChannel

    user = models.ForeignKey(
        User, on_delete=models.DO_NOTHING, db_constraint=False, null=True, related_name="+", db_index=False
    )
    username = models.CharField(max_length=150)
    at = models.DateTimeField(default=timezone.now, db_index=True)
    channel = models.CharField(max_length=8, choices=Channel.choices)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=2000)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    record_ids = models.JSONField(default=list)

    objects = RecordAccessQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        verbose_name = "record access"
        verbose_name_plural = "record access log"
        indexes = [models.Index(fields=["user", "at"], name="record_access_user_at_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(channel__in=RecordAccessChannel.values), name="record_access_channel_valid"
            )
        ]

    def __str__(self) -> str:
        count = len(self.record_ids)
        return f"{self.username or 'anonymous'} read {count} record{'s' if count != 1 else ''} via {self.path}"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise PermissionDenied(RECORD_ACCESS_APPEND_ONLY)
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionDenied(RECORD_ACCESS_APPEND_ONLY)


# --- Webhooks ------------------------------------------------------------------------


class WebhookEvent(models.TextChoices):
    APPOINTMENT_BOOKED = "appointment.booked", "Appointment booked"
    APPOINTMENT_CONFIRMED = "appointment.confirmed", "Appointment confirmed"
    APPOINTMENT_RESCHEDULED = "appointment.rescheduled", "Appointment rescheduled"
    APPOINTMENT_CANCELLED = "appointment.cancelled", "Appointment cancelled"
    APPOINTMENT_ARRIVED = "appointment.arrived", "Patient arrived"
    APPOINTMENT_COMPLETED = "appointment.completed", "Visit completed"
    APPOINTMENT_NO_SHOW = "appointment.no_show", "No-show"
    PATIENT_CREATED = "patient.created", "Patient created"
    PATIENT_UPDATED = "patient.updated", "Patient updated"


class WebhookEndpoint(models.Model):
    """A receiver the clinic admin registered: the events it wants, and the secret its deliveries are signed with.

    An endpoint whose deliveries keep failing is switched off by the worker (`switched_off_at`
    and why); saving it active again in the admin switches it back on."""

    url = models.URLField(max_length=500)
    description = models.CharField(max_length=200, blank=True)
    events = models.JSONField(default=list)
    # Standard Webhooks' form, "whsec_" and the base64 of 32 random bytes; shown once, on creation.
    secret = models.CharField(max_length=100, editable=False)
    active = models.BooleanField(default=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    switched_off_at = models.DateTimeField(null=True, blank=True)
    switched_off_reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        verbose_name = "webhook endpoint"

    def __str__(self) -> str:
        return self.description or self.url


class WebhookDelivery(OutboxRow):
    """One event for one endpoint, written in the transaction of the change it tells of.

    `message_id` is the `webhook-id` header: the same on every attempt, so a receiver that
    dedupes by it sees the event once. `recipient` (an email outbox's field) stays empty."""

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=40, choices=WebhookEvent.choices)
    payload = models.JSONField()
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "webhook delivery"
        verbose_name_plural = "webhook deliveries"
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="webhook_status_due_idx")]
        constraints = [
            models.UniqueConstraint(fields=["message_id"], name="webhook_delivery_one_per_id"),
            models.CheckConstraint(condition=Q(event__in=WebhookEvent.values), name="webhook_event_valid"),
            models.CheckConstraint(condition=Q(status__in=EmailStatus.values), name="webhook_status_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.event} to {self.endpoint_id} ({self.message_id}): {self.get_status_display().lower()}"
