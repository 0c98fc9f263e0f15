"""The booking pages: `/book/` and `/my/appointments/`.

Each page is one template with named partials. A plain request gets the full page;
an htmx request gets the partial it swaps in, so links and reloads always work.
Writes go through `clinic.booking`, reads through `clinic.access`: an appointment
outside the user's view is a 404, and a refused booking is a message in place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from clinic import access, booking
from clinic.access import Role
from clinic.forms import (
    BookingForm,
    DayForm,
    OfferClaimForm,
    RescheduleForm,
    SlotFinderForm,
    WaitlistForm,
    first_bookable_day,
)
from clinic.models import Appointment, WaitlistEntry

if TYPE_CHECKING:
    from clinic.models import User

BOOK_TEMPLATE = "clinic/book.html"
APPOINTMENTS_TEMPLATE = "clinic/my_appointments.html"
PAST_SHOWN = 20

# Messages: tests assert on these.
BOOKING_CLOSED = "Booking here is for patients and the front desk. Doctors see their day under My appointments."
BOOKED = "Your appointment is booked. We have emailed the details."
BOOKED_FOR = "The appointment is booked; the patient has been emailed the details."
SLOT_GONE = "Sorry, that slot has just been taken. Here are the free slots now."
CANCELLED = "The appointment is cancelled."
CANCELLED_FOLLOWING = "{count} appointment(s) of the series are cancelled: this one and the later ones."
CONFIRMED = "The appointment is confirmed."
RESCHEDULED = "The appointment has moved to {when}."
MOVED = "The visit is now: {status}."

# Fields of the slot finder carried from step to step of a booking.
CARRIED_FIELDS = ("appointment_type", "specialization", "doctor_q", "date", "patient")


def _htmx_partial(request: HttpRequest) -> bool:
    """True when the request wants a fragment rather than the page."""
    return bool(request.htmx) and not request.htmx.history_restore_request


def _render(
    request: HttpRequest, template: str, partial: str, context: dict[str, Any], status: int = 200
) -> HttpResponse:
    name = f"{template}#{partial}" if _htmx_partial(request) else template
    response = render(request, name, context, status=status)
    patch_vary_headers(response, ("HX-Request",))
    return response


def _error_message(exc: Exception) -> str:
    if isinstance(exc, PermissionDenied):
        return str(exc) or access.NOT_ALLOWED
    return exc.messages[0]


# --- /book/ ------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@login_required
def book(request: HttpRequest) -> HttpResponse:
    """Find a free slot and book it: specialization or doctor, day, slot, confirm."""
    user = request.user
    if not access.can_book(user):
        return render(request, BOOK_TEMPLATE, {"closed": BOOKING_CLOSED}, status=403)
    if request.method == "POST":
        return _book_submit(request, user)

    finder = SlotFinderForm(request.GET or None, user=user)
    if request.htmx and request.htmx.target == "patient-results":
        return _render(request, BOOK_TEMPLATE, "patients", {"finder": finder})
    if finder.is_bound and finder.is_valid() and finder.cleaned_data["slot"]:
        doctor, start = finder.cleaned_data["slot"]
        return _book_step(
            request,
            finder,
            "confirm",
            doctor=doctor,
            start=start,
            patient=finder.chosen_patient(),
            form=BookingForm(user=user),
        )
    return _book_step(request, finder, "slots")


def _book_submit(request: HttpRequest, user: User) -> HttpResponse:
    form = BookingForm(request.POST, user=user)
    finder = SlotFinderForm(request.POST, user=user)
    if not form.is_valid():
        if form.has_error("slot"):
            return _book_step(request, finder, "slots", error=form.errors["slot"][0])
        doctor, start = form.cleaned_data["slot"]
        return _book_step(
            request, finder, "confirm", doctor=doctor, start=start, patient=form.chosen_patient(), form=form
        )
    doctor, start = form.cleaned_data["slot"]
    try:
        appointment = booking.appointment_book(
            actor=user,
            patient=form.chosen_patient(),
            doctor=doctor,
            start=start,
            reason=form.cleaned_data["reason"],
            appointment_type=form.chosen_type(),
        )
    except booking.SlotUnavailable as exc:
        return _book_step(request, finder, "slots", error=f"{SLOT_GONE} ({_error_message(exc)})")
    except (ValidationError, PermissionDenied) as exc:
        return _book_step(request, finder, "slots", error=_error_message(exc))

    notice = BOOKED_FOR if form.books_for_others else BOOKED
    if not _htmx_partial(request):
        messages.success(request, notice)
        day = timezone.localdate(appointment.appointment_time)
        url = reverse("clinic:my-appointments")
        return redirect(f"{url}?date={day.isoformat()}" if form.books_for_others else url)
    appointment = access.appointments_visible_to(user).get(pk=appointment.pk)
    response = _book_step(request, finder, "booked", appointment=appointment, notice=notice)
    # The address bar no longer points at the slot just booked.
    response["HX-Replace-Url"] = reverse("clinic:book")
    return response


def _book_step(request: HttpRequest, finder: SlotFinderForm, step: str, **extra: Any) -> HttpResponse:
    """The page at one step of booking; an htmx request gets just that step's partial."""
    context: dict[str, Any] = {"finder": finder, "step": step, **extra}
    if step == "slots":
        context["day"] = finder.day()
        context["free_slots"] = finder.free_slots()
    if step == "confirm":
        context["carried"] = {name: finder.data.get(name, "") for name in CARRIED_FIELDS}
        context["slot_value"] = f"{extra['doctor'].pk}@{extra['start'].isoformat()}"
        # Booked inside the patient's cut-off, a visit cannot be changed online afterwards: say so first.
        context["changeable_online"] = booking.changeable_online(extra["start"])
        context["cutoff_hours"] = settings.PATIENT_CHANGE_CUTOFF_HOURS
    response = _render(request, BOOK_TEMPLATE, step, context)
    if step == "slots" and request.method == "POST":
        # After a refused booking the address is the day's slots, not the slot that was refused.
        carried = {name: finder.data.get(name, "") for name in CARRIED_FIELDS if finder.data.get(name)}
        url = reverse("clinic:book")
        response["HX-Replace-Url"] = f"{url}?{urlencode(carried)}" if carried else url
    return response


# --- /my/appointments/ ---------------------------------------------------------------


VISIT_MOVE_LABELS = {
    Appointment.Status.ARRIVED: "Check in",
    Appointment.Status.IN_PROGRESS: "Start the visit",
    Appointment.Status.COMPLETED: "Complete",
    Appointment.Status.NO_SHOW: "No-show",
}


@dataclass
class Row:
    """One appointment as the list shows it, with what the viewer may do to it now."""

    appointment: Appointment
    can_cancel: bool
    can_confirm: bool
    can_reschedule: bool
    show_patient: bool
    fixed_because: str = ""
    # The visit's moves the viewer may make now: (status, button label).
    visit_moves: list[tuple[str, str]] = field(default_factory=list)
    # Part of a series: cancelling it can take the later visits with it.
    can_cancel_following: bool = False
    # "", "cancel" or "cancel_following" (asking to confirm), "reschedule" (picking a new slot)
    mode: str = ""
    day: date | None = None
    slots: list[datetime] = field(default_factory=list)
    error: str = ""
    notice: str = ""


def _row(user: User, appointment: Appointment, now: datetime, **extra: Any) -> Row:
    moves = booking.moves_allowed(actor=user, appointment=appointment, now=now)
    refusal = booking.reschedule_refusal(user, appointment, now=now)
    return Row(
        appointment=appointment,
        can_cancel=Appointment.Status.CANCELLED in moves,
        can_confirm=Appointment.Status.CONFIRMED in moves,
        can_reschedule=refusal is None and access.can_reschedule_appointment(user, appointment),
        # An upcoming visit the patient can no longer change online: the page says why.
        fixed_because=refusal.messages[0] if refusal is not None and refusal.code == "cutoff" else "",
        show_patient=access.role_of(user) is not Role.PATIENT,
        visit_moves=[(status, label) for status, label in VISIT_MOVE_LABELS.items() if status in moves],
        can_cancel_following=appointment.series_id is not None and Appointment.Status.CANCELLED in moves,
        **extra,
    )


def _appointments_context(user: User, *, day: date | None, focus: Row | None = None) -> dict[str, Any]:
    """Patients: upcoming and past. Doctors and the front desk: one day."""
    now = timezone.now()
    visible = access.appointments_visible_to(user)

    def rows(appointments) -> list[Row]:
        return [focus if focus and a.pk == focus.appointment.pk else _row(user, a, now) for a in appointments]

    role = access.role_of(user)
    if role is Role.PATIENT:
        return {
            "view": "patient",
            "upcoming": rows(visible.filter(appointment_time__gte=now)),
            "past": rows(visible.filter(appointment_time__lt=now).order_by("-appointment_time", "-id")[:PAST_SHOWN]),
        }
    day = day or timezone.localdate()
    start, end = booking.day_bounds(day)
    return {
        "view": "day",
        "role": role,
        "day": day,
        "previous_day": day - timedelta(days=1),
        "next_day": day + timedelta(days=1),
        "day_form": DayForm(initial={"date": day}),
        "rows": rows(visible.filter(appointment_time__gte=start, appointment_time__lt=end)),
    }


@require_GET
@login_required
def my_appointments(request: HttpRequest) -> HttpResponse:
    """A patient's upcoming and past appointments; a doctor's or the front desk's day."""
    day_form = DayForm(request.GET)
    day = day_form.cleaned_data["date"] if day_form.is_valid() else None
    context = _appointments_context(request.user, day=day)
    return _render(request, APPOINTMENTS_TEMPLATE, "appointments", context)


@require_http_methods(["GET", "POST"])
@login_required
def appointment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One appointment in place: ask before cancelling, pick a new slot, confirm."""
    user = request.user
    visible = access.appointments_visible_to(user)
    appointment = get_object_or_404(visible, pk=pk)
    if request.method == "POST":
        return _appointment_action(request, user, appointment)
    action = request.GET.get("action", "")
    row = _row(user, appointment, timezone.now())
    if action == "cancel" and row.can_cancel:
        row.mode = "cancel"
    elif action == "cancel_following" and row.can_cancel_following:
        row.mode = "cancel_following"
    elif action == "reschedule" and row.can_reschedule:
        _offer_slots(row, request.GET)
    return _render_row(request, user, row)


def _appointment_action(request: HttpRequest, user: User, appointment: Appointment) -> HttpResponse:
    action = request.POST.get("action", "")
    error = notice = ""
    try:
        if action == "cancel":
            booking.appointment_cancel(actor=user, appointment=appointment)
            notice = CANCELLED
        elif action == "cancel_following":
            cancelled = booking.series_cancel_from(actor=user, appointment=appointment)
            notice = CANCELLED_FOLLOWING.format(count=len(cancelled))
        elif action == "confirm":
            booking.appointment_confirm(actor=user, appointment=appointment)
            notice = CONFIRMED
        elif action == "move" and request.POST.get("status") in VISIT_MOVE_LABELS:
            moved = booking.appointment_move(actor=user, appointment=appointment, status=request.POST["status"])
            notice = MOVED.format(status=moved.get_status_display())
        elif action == "reschedule":
            form = RescheduleForm(request.POST)
            if not form.is_valid():
                error = form.errors["slot"][0]
            else:
                moved = booking.appointment_reschedule(
                    actor=user, appointment=appointment, start=form.cleaned_data["slot"]
                )
                when = timezone.localtime(moved.appointment_time)
                notice = RESCHEDULED.format(when=f"{when:%A %d %B %Y, %H:%M}")
        else:
            error = "Unknown action."
    except (booking.BookingError, PermissionDenied) as exc:
        error = _error_message(exc)

    appointment = access.appointments_visible_to(user).get(pk=appointment.pk)
    if not _htmx_partial(request):
        messages.add_message(request, messages.ERROR if error else messages.SUCCESS, error or notice)
        url = reverse("clinic:my-appointments")
        if access.role_of(user) is not Role.PATIENT:
            url += f"?date={timezone.localdate(appointment.appointment_time).isoformat()}"
        return redirect(url)
    row = _row(user, appointment, timezone.now(), error=error, notice=notice)
    if error and action == "reschedule" and row.can_reschedule:
        _offer_slots(row, request.POST)
    return _render_row(request, user, row)


def _offer_slots(row: Row, data) -> None:
    """Put the row in reschedule mode with the free slots of the chosen (or first useful) day."""
    day_form = DayForm(data)
    day = day_form.cleaned_data["date"] if day_form.is_valid() else None
    if day is None:
        # From the visit's own day on, the first with a free slot of its doctor for its type.
        day = max(timezone.localdate(row.appointment.appointment_time), first_bookable_day())
        day = (
            booking.next_free_day(
                doctors=[row.appointment.doctor], from_day=day, appointment_type=row.appointment.appointment_type
            )
            or day
        )
    row.mode = "reschedule"
    row.day = day
    row.slots = booking.slots_free(
        doctor=row.appointment.doctor, day=day, appointment_type=row.appointment.appointment_type
    )


def _render_row(request: HttpRequest, user: User, row: Row) -> HttpResponse:
    if _htmx_partial(request):
        return _render(request, APPOINTMENTS_TEMPLATE, "appointment", {"row": row})
    day = timezone.localdate(row.appointment.appointment_time)
    context = _appointments_context(user, day=day, focus=row)
    return _render(request, APPOINTMENTS_TEMPLATE, "appointments", context)


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """Signed-in people start at their appointments; others at sign-in."""
    if request.user.is_authenticated:
        return redirect("clinic:my-appointments")
    return redirect("account_login")


# --- /a/<token>/: the manage link of a notice -------------------------------------------

MANAGE_TEMPLATE = "clinic/manage.html"
LINK_OUT_OF_DATE_TEMPLATE = "clinic/link_out_of_date.html"
MANAGE_CANCELLED = "Your appointment is cancelled. We have emailed you a confirmation."
MANAGE_RESCHEDULED = "Your appointment has moved to {when}. We have emailed you the new details and a new link."
MANAGE_THROTTLED = "Too many requests from your address. Please wait a little, or call the clinic."


class ManageLinkThrottle(SimpleRateThrottle):
    """Requests to manage links, per client address (REST_FRAMEWORK's "manage-links" rate)."""

    scope = "manage-links"

    def get_rate(self) -> str | None:
        # Read at each request, so that a changed setting applies without a restart.
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


def _follow_link(request: HttpRequest, token: str, lookup: Callable[[str], Any]) -> tuple[Any, HttpResponse | None]:
    """What a secret link's token opens, or the page refusing it: 429 when this address has
    opened too many links lately, the friendly 404 when the token opens nothing."""
    throttle = ManageLinkThrottle()
    if not throttle.allow_request(request, None):
        page = render(request, LINK_OUT_OF_DATE_TEMPLATE, {"throttled": MANAGE_THROTTLED}, status=429)
        page["Retry-After"] = str(max(1, int(throttle.wait() or 1)))
        return None, _private_link_page(page)
    found = lookup(token)
    if found is None:
        return None, _private_link_page(render(request, LINK_OUT_OF_DATE_TEMPLATE, status=404))
    return found, None


def _private_link_page(response: HttpResponse) -> HttpResponse:
    """A page reached by a secret link sends no Referer onwards and is not indexed (like every
    page, it is never stored: clinic.middleware.PrivateDataMiddleware)."""
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex"
    return response


# No CSRF token: the secret path is the credential, whoever is signed in, so a forged request
# needs the token it would steal. (Under "Referrer-Policy: no-referrer" browsers also send
# "Origin: null" with the page's own forms, which Django's CSRF check refuses.)
@csrf_exempt
@require_http_methods(["GET", "POST"])
def manage(request: HttpRequest, token: str) -> HttpResponse:
    """One appointment from the link in its notice, without signing in: cancel or reschedule it
    under the patient's own rules, as the patient. A stale, tampered or expired link shows the
    same friendly page and changes nothing."""
    appointment, refused = _follow_link(request, token, access.appointment_for_manage_token)
    if refused is not None:
        return refused
    patient = appointment.patient.user
    if request.method == "POST":
        return _private_link_page(_manage_action(request, token, patient, appointment))
    row = _row(patient, appointment, timezone.now())
    action = request.GET.get("action", "")
    if action == "cancel" and row.can_cancel:
        row.mode = "cancel"
    elif action == "reschedule" and row.can_reschedule:
        _offer_slots(row, request.GET)
    return _private_link_page(render(request, MANAGE_TEMPLATE, {"row": row, "token": token}))


def _manage_action(request: HttpRequest, token: str, patient: User, appointment: Appointment) -> HttpResponse:
    action = request.POST.get("action", "")
    try:
        if action == "cancel":
            booking.appointment_cancel(actor=patient, appointment=appointment)
            return render(request, MANAGE_TEMPLATE, {"done": MANAGE_CANCELLED, "appointment": appointment})
        if action != "reschedule":
            raise booking.BookingError("Unknown action.", code="invalid")
        form = RescheduleForm(request.POST)
        if not form.is_valid():
            raise booking.BookingError(form.errors["slot"][0], code="slot_invalid")
        moved = booking.appointment_reschedule(actor=patient, appointment=appointment, start=form.cleaned_data["slot"])
    except (booking.BookingError, PermissionDenied) as exc:
        # Read again: if the appointment changed meanwhile, this link is stale too.
        appointment = access.appointment_for_manage_token(token)
        if appointment is None:
            return render(request, LINK_OUT_OF_DATE_TEMPLATE, status=404)
        row = _row(patient, appointment, timezone.now(), error=_error_message(exc))
        if action == "reschedule" and row.can_reschedule:
            _offer_slots(row, request.POST)
        context = {"row": row, "token": token}
        return render(request, MANAGE_TEMPLATE, context, status=getattr(exc, "status_code", 403))
    when = timezone.localtime(moved.appointment_time)
    messages.success(request, MANAGE_RESCHEDULED.format(when=f"{when:%A %d %B %Y, %H:%M}"))
    # The link just used is stale now; the page carries on under the new one.
    return redirect("clinic:manage", token=access.manage_token(moved))


# --- /w/<token>/: a waitlist offer's claim link -----------------------------------------------

OFFER_TEMPLATE = "clinic/waitlist_offer.html"
OFFER_BOOKED = "Booked: {when} with {doctor}. We have emailed you the details."
OFFER_HEADINGS = {"slot_taken": "Someone was quicker", "offer_expired": "This offer has run out"}
OFFER_NOT_BOOKED = "That time could not be booked"


@csrf_exempt  # as the manage link: the secret path is the credential
@require_http_methods(["GET", "POST"])
def waitlist_offer(request: HttpRequest, token: str) -> HttpResponse:
    """A freed time offered from the waitlist, claimed from the link in its email without signing
    in. The first claim books it, as the patient; a later one sees that someone was quicker, and
    the other free times the entry asked for."""
    offer, refused = _follow_link(request, token, access.offer_for_token)
    if refused is not None:
        return refused
    now = timezone.now()
    if offer.appointment is not None:
        # Claimed already (a second click, a reload): its booking's page, while that link works.
        manage = access.manage_token(offer.appointment)
        if access.appointment_for_manage_token(manage, now=now) is not None:
            return _private_link_page(redirect("clinic:manage", token=manage))
    status, error, code = 200, "", ""
    if request.method == "POST" and offer.entry.status in WaitlistEntry.OPEN:
        form = OfferClaimForm(request.POST)
        try:
            if not form.is_valid():
                raise booking.BookingError(form.errors["slot"][0], code="slot_invalid")
            doctor, start = form.cleaned_data["slot"] or (None, None)
            appointment = booking.waitlist_claim(offer=offer, doctor=doctor, start=start, now=now)
        except (booking.BookingError, PermissionDenied) as exc:
            status, error, code = getattr(exc, "status_code", 403), _error_message(exc), getattr(exc, "code", "")
            offer.refresh_from_db()
            offer.entry.refresh_from_db()
        else:
            when = timezone.localtime(appointment.appointment_time)
            messages.success(request, OFFER_BOOKED.format(when=f"{when:%A %d %B %Y, %H:%M}", doctor=appointment.doctor))
            return _private_link_page(redirect("clinic:manage", token=access.manage_token(appointment)))
    context = {"offer": offer, "entry": offer.entry, "token": token, "error": error}
    if offer.entry.status not in WaitlistEntry.OPEN:
        context["ended"] = booking.OFFER_ENDED.format(status=offer.entry.get_status_display().lower())
    elif error or (refusal := booking.offer_refusal(offer, now=now)) is not None:
        if not error:
            error, code = refusal.messages[0], refusal.code
        context["gone"], context["gone_heading"] = error, OFFER_HEADINGS.get(code, OFFER_NOT_BOOKED)
        context["others"] = booking.waitlist_free_times(offer.entry, now=now)
    return _private_link_page(render(request, OFFER_TEMPLATE, context, status=status))


# --- /my/waitlist/ -------------------------------------------------------------------------

WAITLIST_TEMPLATE = "clinic/my_waitlist.html"
WAITLIST_JOINED = "You are on the waitlist. We will email you when a time that suits frees up."
WAITLIST_WITHDRAWN = "You are off the waitlist for that one."
WAITLIST_FOR_PATIENTS = "The waitlist here is for patients. The front desk keeps it in the admin."


@require_http_methods(["GET", "POST"])
@login_required
def my_waitlist(request: HttpRequest) -> HttpResponse:
    """A patient's waitlist entries, joining one (prefilled from /book/) and withdrawing one."""
    user = request.user
    patient = access.patient_of(user)
    if patient is None:
        return render(request, WAITLIST_TEMPLATE, {"closed": WAITLIST_FOR_PATIENTS}, status=403)
    form = WaitlistForm(user=user, initial={name: request.GET.get(name) for name in WaitlistEntry.REQUEST_FIELDS})
    if request.method == "POST":
        if request.POST.get("action") == "withdraw":
            entry_id = request.POST.get("entry", "")
            entry = get_object_or_404(access.waitlist_visible_to(user), pk=int(entry_id) if entry_id.isdigit() else 0)
            try:
                booking.waitlist_withdraw(actor=user, entry=entry)
                messages.success(request, WAITLIST_WITHDRAWN)
            except (booking.BookingError, PermissionDenied) as exc:
                messages.error(request, _error_message(exc))
            return redirect("clinic:my-waitlist")
        form = WaitlistForm(request.POST, user=user)
        if form.is_valid():
            data = form.cleaned_data
            try:
                booking.waitlist_join(
                    actor=user,
                    patient=patient,
                    doctor=data["doctor"],
                    specialization=data["specialization"],
                    appointment_type=data["appointment_type"],
                    date_from=data["date_from"],
                    date_to=data["date_to"],
                    part_of_day=data["part_of_day"],
                )
            except ValidationError as exc:
                form.add_service_errors(exc)
            else:
                messages.success(request, WAITLIST_JOINED)
                return redirect("clinic:my-waitlist")
    entries = access.waitlist_visible_to(user).order_by("-created_at", "-id")[:PAST_SHOWN]
    status = 400 if form.errors else 200
    return render(request, WAITLIST_TEMPLATE, {"form": form, "entries": entries}, status=status)
