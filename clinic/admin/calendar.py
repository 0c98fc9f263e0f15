"""The front desk's calendar at /admin/calendar/: a day with one column per doctor, or a week of one doctor.

The page renders the filters and the calendar's data; EventCalendar (vendored under
static/vendor/) draws it from static/clinic/admin/calendar.js. The calendar reads its
appointments, time off and closed hours from the events endpoint, and every change goes
through clinic/booking.py: booking a free time, dragging a block to another time or
doctor, and the status moves of the side panel. Who sees which doctors and appointments
comes from clinic/access.py; an appointment, patient or doctor outside it is a 404, a
refused action a 400, 403 or 409 JSON `{"detail": message}` with the rule's message.

The views are wired into the admin site (clinic/admin/site.py) behind its staff check
and CSRF protection.
"""

from __future__ import annotations

import json
import math
import re
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from django import forms
from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied
from django.db.models import QuerySet
from django.http import JsonResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from clinic import access, booking
from clinic.access import NOT_ALLOWED, Role
from clinic.middleware import STAFF_IDLE_SECONDS
from clinic.models import Appointment, Doctor, Patient
from clinic.search import SEARCH_HELP, clean_term, patients_for_front_desk

if TYPE_CHECKING:
    from django.contrib.admin import AdminSite
    from django.http import HttpRequest, HttpResponse

    from clinic.models import User

Status = Appointment.Status

TEMPLATE = "admin/calendar.html"
# The longest date range one events request may cover, and the most doctors it may name.
MAX_RANGE_DAYS = 31
MAX_DOCTORS = 100
# The front desk's patient search: at most this many answers, from this many characters typed.
PATIENT_RESULTS = 10
PATIENT_TERM_MIN = 2
PATIENT_TERM_MAX = 100
# Dates the calendar can show at all (their clinic-local midnights convert to UTC and back).
EARLIEST_DAY = date(1900, 1, 1)
LATEST_DAY = date(9998, 12, 31)
# How often an open calendar fetches its events again, so two desks see each other's work.
REFRESH_SECONDS = 30
# The grid shown when no doctor is chosen.
DEFAULT_HOURS = (time(8, 0), time(18, 0))

# What the side panel's buttons say, per status move (the moves come from booking.moves_allowed).
MOVE_LABELS = {
    Status.CONFIRMED: "Confirm",
    Status.ARRIVED: "Check in",
    Status.IN_PROGRESS: "Start the visit",
    Status.COMPLETED: "Complete",
    Status.NO_SHOW: "Mark as no-show",
    Status.CANCELLED: "Cancel…",
}

# Messages: tests assert on these.
RANGE_ORDER = "The end date must come after the start date."
RANGE_TOO_LONG = "The calendar asks for at most {days} days at once."
DAY_OUT_OF_RANGE = "The calendar shows dates from {earliest} to {latest}."
DOCTORS_REQUIRED = "Choose at least one doctor."
DOCTORS_INVALID = "Doctors are given as comma-separated ids, e.g. 3,7,12."
TOO_MANY_DOCTORS = "The calendar shows at most {count} doctors at once."
DOCTORS_UNKNOWN = "No such doctor: {ids}."
NOT_FOUND = "Not found."
BOOKED = "Booked {patient} with {doctor} on {when}."
BOOKED_CONFIRMED = "Booked and confirmed {patient} with {doctor} on {when}."
MOVED = "{patient} is now with {doctor} on {when}."
STATUS_CHANGED = "{patient}: {status}."
NO_DOCTORS = "There is no doctor to show."

_ID = re.compile(r"^[0-9]{1,18}$")


# --- Who sees which doctors ------------------------------------------------------------


def calendar_doctors(user: User) -> QuerySet[Doctor]:
    """The doctors whose columns `user` may open (clinic/access.py); PermissionDenied for a role
    without the calendar."""
    if not access.can_open_calendar(user):
        raise PermissionDenied(NOT_ALLOWED)
    return access.calendar_doctors_visible_to(user)


# --- Forms: query and POST input -----------------------------------------------------------


class DoctorIdsField(forms.CharField):
    """Doctor ids as a comma-separated list ("3,7,12"), each once, at most MAX_DOCTORS."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=MAX_DOCTORS * 20, **kwargs)

    def to_python(self, value: Any) -> list[int]:
        text = super().to_python(value)
        if not text:
            return []
        parts = [part.strip() for part in text.split(",")]
        if not all(_ID.match(part) for part in parts):
            raise forms.ValidationError(DOCTORS_INVALID, code="doctors_invalid")
        ids = list(dict.fromkeys(int(part) for part in parts))
        if len(ids) > MAX_DOCTORS:
            raise forms.ValidationError(TOO_MANY_DOCTORS.format(count=MAX_DOCTORS), code="too_many_doctors")
        return ids

    def validate(self, value: list[int]) -> None:
        if self.required and not value:
            raise forms.ValidationError(DOCTORS_REQUIRED, code="required")


class EventsForm(forms.Form):
    """An events request: clinic-local dates [start, end) and the doctors' columns."""

    start = forms.DateField(input_formats=["%Y-%m-%d"])
    end = forms.DateField(input_formats=["%Y-%m-%d"])
    doctors = DoctorIdsField()
    cancelled = forms.BooleanField(required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start is None or end is None:
            return data
        if not (EARLIEST_DAY <= start <= LATEST_DAY and EARLIEST_DAY <= end <= LATEST_DAY):
            raise forms.ValidationError(
                DAY_OUT_OF_RANGE.format(earliest=EARLIEST_DAY, latest=LATEST_DAY), code="out_of_range"
            )
        if end <= start:
            raise forms.ValidationError(RANGE_ORDER, code="range_order")
        if (end - start).days > MAX_RANGE_DAYS:
            raise forms.ValidationError(RANGE_TOO_LONG.format(days=MAX_RANGE_DAYS), code="range_too_long")
        return data


class PatientSearchForm(forms.Form):
    q = forms.CharField(required=False, max_length=PATIENT_TERM_MAX, strip=True)

    def clean_q(self) -> str:
        return clean_term(self.cleaned_data["q"]).strip()


class BookForm(forms.Form):
    """A free time booked from the calendar: the start is clinic-local wall-clock time."""

    patient = forms.IntegerField(min_value=1, max_value=2**62)
    doctor = forms.IntegerField(min_value=1, max_value=2**62)
    start = forms.DateTimeField()
    reason = forms.CharField(required=False, max_length=500)
    confirm = forms.BooleanField(required=False)


class MoveForm(forms.Form):
    """A block dragged (or moved from the side panel) to a new start, and maybe another doctor."""

    start = forms.DateTimeField()
    doctor = forms.IntegerField(required=False, min_value=1, max_value=2**62)


class StatusForm(forms.Form):
    status = forms.ChoiceField(choices=list(MOVE_LABELS.items()))


class CalendarPageForm(forms.Form):
    """The page's filters (a GET form): the view, the day, and the doctors to show."""

    view = forms.ChoiceField(
        choices=[("day", "Day: a column per doctor"), ("week", "Week of one doctor")],
        required=False,
        widget=forms.RadioSelect,
    )
    date = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    specialization = forms.ChoiceField(required=False)
    doctors = forms.TypedMultipleChoiceField(
        coerce=int, required=False, widget=forms.CheckboxSelectMultiple, label="Doctors (day view)"
    )
    doctor = forms.TypedChoiceField(coerce=int, required=False, empty_value=None, label="Doctor (week view)")
    cancelled = forms.BooleanField(required=False, label="Show cancelled appointments")

    def __init__(self, *args: Any, doctors: list[Doctor], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        specializations = sorted({doctor.specialization for doctor in doctors})
        self.fields["specialization"].choices = [("", "Every specialization")] + [(s, s) for s in specializations]
        choices = [(doctor.pk, _doctor_name(doctor)) for doctor in doctors]
        self.fields["doctors"].choices = choices
        self.fields["doctor"].choices = choices

    def value(self, name: str, default: Any = None) -> Any:
        """A filter's value, or `default` when it is missing or invalid (the page never refuses)."""
        if not self.is_bound:
            return default
        self.is_valid()
        value = self.cleaned_data.get(name)
        return default if value in (None, "", []) else value


# --- JSON answers ------------------------------------------------------------------------


def _detail(message: str, http_status: int, /, **extra: Any) -> JsonResponse:
    return JsonResponse({"detail": message, **extra}, status=http_status)


def _form_refusal(form: forms.Form) -> JsonResponse:
    """A 400 naming the first invalid input."""
    for field, errors in form.errors.items():
        message = errors[0]
        if field != NON_FIELD_ERRORS and field in form.fields:
            message = f"{form.fields[field].label or field.capitalize()}: {message}"
        return _detail(message, 400, errors=form.errors.get_json_data())
    return _detail("Invalid input.", 400)


def _service_refusal(exc: Exception) -> JsonResponse:
    """A refused service call as JSON: 403 for the role, else the rule's status (400 or 409)."""
    if isinstance(exc, booking.BookingError):
        return _detail(exc.messages[0], exc.status_code, code=exc.code)
    return _detail(str(exc) or NOT_ALLOWED, 403)


def _refused_role(request: HttpRequest) -> JsonResponse | None:
    if not access.can_open_calendar(request.user):
        return _detail(NOT_ALLOWED, 403)
    return None


# --- Events ------------------------------------------------------------------------------


def _wall(instant: datetime) -> str:
    """An instant as clinic-local wall-clock time without an offset (how the calendar places it)."""
    return timezone.localtime(instant, booking.clinic_zone()).replace(tzinfo=None).isoformat(timespec="seconds")


def _doctor_name(doctor: Doctor) -> str:
    return f"Dr {doctor.user.get_full_name() or doctor.user.username}"


def _patient_name(patient: Patient) -> str:
    return patient.user.get_full_name() or patient.user.username


def _closed_hours(doctors: list[Doctor], start_day: date, end_day: date) -> list[dict[str, Any]]:
    """Background events for each doctor's hours outside their working hours and days."""
    events = []
    day = start_day
    while day < end_day:
        midnight, next_midnight = f"{day.isoformat()}T00:00:00", f"{(day + timedelta(days=1)).isoformat()}T00:00:00"
        for doctor in doctors:
            if day.weekday() in doctor.working_days:
                spans = [
                    (midnight, f"{day.isoformat()}T{doctor.available_from.isoformat('seconds')}"),
                    (f"{day.isoformat()}T{doctor.available_to.isoformat('seconds')}", next_midnight),
                ]
                spans = [(begin, end) for begin, end in spans if begin < end]
            else:
                spans = [(midnight, next_midnight)]
            events.extend(
                {
                    "resourceIds": [str(doctor.pk)],
                    "start": begin,
                    "end": end,
                    "display": "background",
                    "classNames": ["clinic-closed"],
                    "extendedProps": {"kind": "closed"},
                }
                for begin, end in spans
            )
        day += timedelta(days=1)
    return events


# What the events read of an appointment and its patient.
APPOINTMENT_COLUMNS = (
    "patient_id",
    "doctor_id",
    "appointment_time",
    "ends_at",
    "status",
    "reason",
    "appointment_type__name",
    "patient__phone",
    "patient__user__first_name",
    "patient__user__last_name",
    "patient__user__username",
    "patient__user__email",
)


def calendar_events(
    user: User,
    *,
    doctors: list[Doctor],
    start_day: date,
    end_day: date,
    cancelled: bool = False,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """The events of `doctors` over the clinic-local days [start_day, end_day) that `user` sees:
    appointments (with the patient's contact, no-show count and the moves `user` may make now),
    time off, and the hours each doctor does not work. Three queries: appointments (their patients
    and the patients' users joined), time off, and the patients' no-show counts."""
    now = now or timezone.now()
    start, end = booking.day_bounds(start_day)[0], booking.day_bounds(end_day)[0]
    doctor_ids = [doctor.pk for doctor in doctors]
    shown = access.appointments_visible_to(user).filter(doctor_id__in=doctor_ids).overlapping(start, end)
    if not cancelled:
        shown = shown.live()
    # The doctors are at hand already: join only the patients and the visit types, and read only
    # the columns shown.
    appointments = list(
        shown.select_related(None)
        .select_related("patient__user", "appointment_type")
        .only(*APPOINTMENT_COLUMNS)
        .order_by("appointment_time", "id")
    )
    names = {doctor.pk: _doctor_name(doctor) for doctor in doctors}
    away = list(
        access.time_off_visible_to(user)
        .filter(doctor_id__in=doctor_ids, starts_at__lt=end, ends_at__gt=start)
        .order_by("starts_at", "id")
        .values_list("doctor_id", "starts_at", "ends_at", "reason")
    )
    no_shows = booking.no_shows_by_patient({appointment.patient_id for appointment in appointments}, now=now)

    events: list[dict[str, Any]] = []
    for appointment in appointments:
        patient = appointment.patient
        moves = booking.moves_allowed(actor=user, appointment=appointment, now=now)
        events.append(
            {
                "id": str(appointment.pk),
                "resourceIds": [str(appointment.doctor_id)],
                "start": _wall(appointment.appointment_time),
                "end": _wall(appointment.ends_at),
                "title": _patient_name(patient),
                "classNames": ["clinic-ev", f"clinic-ev--{appointment.status}"],
                # Dragged to another time or doctor by those who may reschedule; its length is the rules'.
                "startEditable": access.can_reschedule_appointment(user, appointment),
                "durationEditable": False,
                "extendedProps": {
                    "kind": "appointment",
                    "status": appointment.status,
                    "statusLabel": appointment.get_status_display(),
                    "doctor": str(appointment.doctor_id),
                    "doctorName": names[appointment.doctor_id],
                    "patient": patient.pk,
                    "patientName": _patient_name(patient),
                    "phone": patient.phone,
                    "email": patient.user.email,
                    "reason": appointment.reason,
                    "typeName": appointment.appointment_type.name if appointment.appointment_type_id else "",
                    "noShows": no_shows.get(patient.pk, 0),
                    "moves": [{"status": status, "label": MOVE_LABELS[status]} for status in moves],
                },
            }
        )
    for doctor_id, starts_at, ends_at, reason in away:
        events.append(
            {
                "resourceIds": [str(doctor_id)],
                "start": _wall(max(starts_at, start)),
                "end": _wall(min(ends_at, end)),
                "display": "background",
                "classNames": ["clinic-away"],
                "extendedProps": {"kind": "away", "reason": reason},
            }
        )
    events.extend(_closed_hours(doctors, start_day, end_day))
    return events


# --- Views -------------------------------------------------------------------------------


def _wall_minutes(moment: time) -> int:
    return moment.hour * 60 + moment.minute


def _grid(doctors: list[Doctor]) -> dict[str, str]:
    """The hours the grid spans (whole hours around every chosen doctor's working hours) and its
    step (a length every chosen doctor's slots start on)."""
    if not doctors:
        opening, closing, step = _wall_minutes(DEFAULT_HOURS[0]), _wall_minutes(DEFAULT_HOURS[1]), 30
    else:
        opening = min(_wall_minutes(doctor.available_from) for doctor in doctors) // 60 * 60
        closing = min(24 * 60, -(-max(_wall_minutes(doctor.available_to) for doctor in doctors) // 60) * 60)
        step = 0
        for doctor in doctors:
            step = math.gcd(step, doctor.slot_minutes, _wall_minutes(doctor.available_from))
        step = max(5, step or 30)
    return {
        "slot_min": f"{opening // 60:02d}:{opening % 60:02d}",
        "slot_max": f"{closing // 60:02d}:{closing % 60:02d}",
        "slot_minutes": str(step),
    }


def _utc_offset(now: datetime) -> str:
    """The clinic's offset from UTC now, as '+01:00': the calendar's time zone (its line at the
    current time)."""
    offset = timezone.localtime(now, booking.clinic_zone()).strftime("%z")
    return f"{offset[:3]}:{offset[3:5]}"


def calendar_page(request: HttpRequest, *, site: AdminSite) -> HttpResponse:
    """The calendar page: its filters, and the data the calendar script starts from."""
    user = request.user
    doctors = list(calendar_doctors(user).order_by("user__last_name", "user__first_name", "id"))
    form = CalendarPageForm(request.GET or None, doctors=doctors)
    now = timezone.now()
    view = form.value("view", "day")
    day = form.value("date", timezone.localdate(now))
    if not EARLIEST_DAY <= day <= LATEST_DAY:
        day = timezone.localdate(now)
    specialization = form.value("specialization", "")
    offered = [doctor for doctor in doctors if not specialization or doctor.specialization == specialization]
    if view == "week":
        wanted = form.value("doctor")
        chosen = [doctor for doctor in offered if doctor.pk == wanted][:1] or offered[:1]
    else:
        wanted_ids = set(form.value("doctors", []))
        chosen = [doctor for doctor in offered if doctor.pk in wanted_ids] or offered
    truncated = len(chosen) > MAX_DOCTORS
    chosen = chosen[:MAX_DOCTORS]

    resources = [
        {
            "id": str(doctor.pk),
            "title": _doctor_name(doctor),
            "extendedProps": {"specialization": doctor.specialization},
        }
        for doctor in chosen
    ]
    role = access.role_of(user)
    # The filters as shown: what the calendar shows now (invalid input falls back, with its error).
    shown = CalendarPageForm(
        doctors=doctors,
        initial={
            "view": view,
            "date": day,
            "specialization": specialization,
            "doctors": [doctor.pk for doctor in chosen] if view == "day" else [],
            "doctor": chosen[0].pk if chosen else None,
            "cancelled": form.value("cancelled", False),
        },
    )
    context = {
        **site.each_context(request),
        "title": "Calendar",
        "heading": f"Calendar: the week of {_doctor_name(chosen[0])}" if view == "week" and chosen else "Calendar",
        "form": shown,
        "filter_errors": form.errors if form.is_bound else {},
        "search_help": SEARCH_HELP,
        "view": view,
        "day": day,
        "chosen": chosen,
        "truncated": truncated,
        "max_doctors": MAX_DOCTORS,
        "is_doctor": role is Role.DOCTOR,
        "no_doctors": NO_DOCTORS,
        "calendar": {
            "view": view,
            "date": day.isoformat(),
            "time_zone": _utc_offset(now),
            "resources": json.dumps(resources),
            "cancelled": "true" if form.value("cancelled", False) else "false",
            "can_book": "true" if access.can_book(user) else "false",
            "refresh_seconds": str(REFRESH_SECONDS),
            "idle_seconds": str(getattr(settings, "STAFF_SESSION_IDLE_SECONDS", STAFF_IDLE_SECONDS)),
            "events_url": reverse("admin:calendar-events", current_app=site.name),
            "patients_url": reverse("admin:calendar-patients", current_app=site.name),
            "book_url": reverse("admin:calendar-book", current_app=site.name),
            "move_url": reverse("admin:calendar-move", args=[0], current_app=site.name),
            "status_url": reverse("admin:calendar-status", args=[0], current_app=site.name),
            "record_url": (
                reverse("admin:clinic_appointment_change", args=[0], current_app=site.name)
                if access.can_see_medical_records(user)
                else ""
            ),
            **_grid(chosen),
        },
    }
    return TemplateResponse(request, TEMPLATE, context)


def calendar_events_view(request: HttpRequest) -> JsonResponse:
    """GET `start`, `end` (clinic-local dates, end exclusive, at most MAX_RANGE_DAYS apart),
    `doctors` (comma-separated ids, each one the user may see) and `cancelled` → `{"events": [...]}`.

    Four queries beside the session's: the doctors, then those of `calendar_events`."""
    refused = _refused_role(request)
    if refused:
        return refused
    form = EventsForm(request.GET)
    if not form.is_valid():
        return _form_refusal(form)
    ids = form.cleaned_data["doctors"]
    doctors = list(calendar_doctors(request.user).filter(pk__in=ids))
    if len(doctors) != len(ids):
        missing = sorted(set(ids) - {doctor.pk for doctor in doctors})
        return _detail(DOCTORS_UNKNOWN.format(ids=", ".join(map(str, missing))), 400)
    events = calendar_events(
        request.user,
        doctors=doctors,
        start_day=form.cleaned_data["start"],
        end_day=form.cleaned_data["end"],
        cancelled=form.cleaned_data["cancelled"],
    )
    return JsonResponse({"events": events})


def calendar_patients_view(request: HttpRequest) -> JsonResponse:
    """GET `q` → `{"results": [{id, name, phone, email, noShows}]}`: at most PATIENT_RESULTS patients
    the user may book for whom the search names (clinic/search.py). Two queries beside the session's."""
    refused = _refused_role(request)
    if refused:
        return refused
    if not access.can_book(request.user):
        return _detail(NOT_ALLOWED, 403)
    form = PatientSearchForm(request.GET)
    if not form.is_valid():
        return _form_refusal(form)
    term = form.cleaned_data["q"]
    if len(term) < PATIENT_TERM_MIN:
        return JsonResponse({"results": []})
    results = [
        {
            "id": patient.pk,
            "name": _patient_name(patient),
            "phone": patient.phone,
            "email": patient.user.email,
            "noShows": patient.no_shows,
        }
        for patient in patients_for_front_desk(request.user, term, limit=PATIENT_RESULTS)
    ]
    return JsonResponse({"results": results})


def _when(instant: datetime) -> str:
    return f"{timezone.localtime(instant, booking.clinic_zone()):%a %d %b at %H:%M}"


def calendar_book_view(request: HttpRequest) -> JsonResponse:
    """POST `patient`, `doctor`, `start` (clinic-local), `reason`, `confirm` → 201 `{detail, id}`:
    booked through booking.appointment_book, then confirmed when asked."""
    refused = _refused_role(request)
    if refused:
        return refused
    if not access.can_book(request.user):
        return _detail(NOT_ALLOWED, 403)
    form = BookForm(request.POST)
    if not form.is_valid():
        return _form_refusal(form)
    data = form.cleaned_data
    patient = access.patients_visible_to(request.user).filter(pk=data["patient"]).first()
    doctor = calendar_doctors(request.user).filter(pk=data["doctor"]).first()
    if patient is None or doctor is None:
        return _detail(NOT_FOUND, 404)
    try:
        appointment = booking.appointment_book(
            actor=request.user,
            patient=patient,
            doctor=doctor,
            start=data["start"],
            reason=data["reason"],
            confirm=data["confirm"],
        )
    except (booking.BookingError, PermissionDenied) as exc:
        return _service_refusal(exc)
    message = BOOKED_CONFIRMED if data["confirm"] else BOOKED
    names = {"patient": _patient_name(patient), "doctor": _doctor_name(doctor)}
    return _detail(message.format(**names, when=_when(appointment.appointment_time)), 201, id=appointment.pk)


def _visible_appointment(request: HttpRequest, pk: int) -> Appointment | None:
    return access.appointments_visible_to(request.user).filter(pk=pk).first()


def calendar_move_view(request: HttpRequest, pk: int) -> JsonResponse:
    """POST `start` (clinic-local) and optionally `doctor` → `{detail}`: rescheduled through
    booking.appointment_reschedule (the patient is emailed)."""
    refused = _refused_role(request)
    if refused:
        return refused
    appointment = _visible_appointment(request, pk)
    if appointment is None:
        return _detail(NOT_FOUND, 404)
    form = MoveForm(request.POST)
    if not form.is_valid():
        return _form_refusal(form)
    doctor = None
    if form.cleaned_data["doctor"] is not None:
        doctor = calendar_doctors(request.user).filter(pk=form.cleaned_data["doctor"]).first()
        if doctor is None:
            return _detail(NOT_FOUND, 404)
    try:
        appointment = booking.appointment_reschedule(
            actor=request.user, appointment=appointment, start=form.cleaned_data["start"], doctor=doctor
        )
    except (booking.BookingError, PermissionDenied) as exc:
        return _service_refusal(exc)
    names = {"patient": _patient_name(appointment.patient), "doctor": _doctor_name(appointment.doctor)}
    return _detail(MOVED.format(**names, when=_when(appointment.appointment_time)), 200)


def calendar_status_view(request: HttpRequest, pk: int) -> JsonResponse:
    """POST `status` → `{detail, status}`: the move made through booking.appointment_move."""
    refused = _refused_role(request)
    if refused:
        return refused
    appointment = _visible_appointment(request, pk)
    if appointment is None:
        return _detail(NOT_FOUND, 404)
    form = StatusForm(request.POST)
    if not form.is_valid():
        return _form_refusal(form)
    try:
        appointment = booking.appointment_move(
            actor=request.user, appointment=appointment, status=form.cleaned_data["status"]
        )
    except (booking.BookingError, PermissionDenied) as exc:
        return _service_refusal(exc)
    message = STATUS_CHANGED.format(patient=_patient_name(appointment.patient), status=appointment.get_status_display())
    return _detail(message, 200, status=appointment.status)


def calendar_urls(site: AdminSite) -> list:
    """The calendar's URLs, each behind the admin's staff check and CSRF protection."""
    from django.urls import path

    def page(request: HttpRequest) -> HttpResponse:
        return calendar_page(request, site=site)

    page.__doc__ = calendar_page.__doc__
    return [
        path("calendar/", site.admin_view(require_GET(page)), name="calendar"),
        path("calendar/events/", site.admin_view(require_GET(calendar_events_view)), name="calendar-events"),
        path("calendar/patients/", site.admin_view(require_GET(calendar_patients_view)), name="calendar-patients"),
        path("calendar/book/", site.admin_view(require_POST(calendar_book_view)), name="calendar-book"),
        path(
            "calendar/appointments/<int:pk>/move/",
            site.admin_view(require_POST(calendar_move_view)),
            name="calendar-move",
        ),
        path(
            "calendar/appointments/<int:pk>/status/",
            site.admin_view(require_POST(calendar_status_view)),
            name="calendar-status",
        ),
    ]
