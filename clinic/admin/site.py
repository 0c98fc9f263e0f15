"""The clinic's AdminSite: its own title and header, and an index that is the day's dashboard."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.views.autocomplete import AutocompleteJsonView
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.http import HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme

from clinic import access, booking
from clinic.models import Appointment

if TYPE_CHECKING:
    from django.http import HttpRequest

    from clinic.models import Doctor, User

Status = Appointment.Status

# How much the dashboard shows at most: the day's schedule and the pending list stay a page long.
SCHEDULE_LIMIT = 300
PENDING_LIMIT = 10
CHART_DAYS = 14
WAITING_LIMIT = 50
NO_SHOW_RATE_DAYS = 30
TERM_INVALID = "The search term contains a character that cannot be searched for (NUL)."

# Geometry of the appointments-per-day chart (SVG user units).
CHART_WIDTH = 560
CHART_HEIGHT = 160
CHART_LABEL_SPACE = 28


@dataclass(frozen=True)
class ChartBar:
    day: date
    count: int
    x: float
    y: float
    width: float
    height: float
    label_x: float
    count_y: float


@dataclass(frozen=True)
class DoctorDay:
    doctor: Doctor
    appointments: list[Appointment]


@dataclass(frozen=True)
class Waiting:
    """A patient checked in and not yet with the doctor."""

    appointment: Appointment
    minutes: int


@dataclass(frozen=True)
class NoShowRate:
    doctor_id: int
    doctor: str
    due: int
    no_shows: int

    @property
    def percent(self) -> int:
        return round(100 * self.no_shows / self.due) if self.due else 0


def dashboard_for(user: User, *, now: datetime | None = None) -> dict[str, Any]:
    """What the admin index shows `user`: only appointments `user` may see (access.py).

    Eight queries: today's schedule, today's arrivals and no-shows, who is waiting, the pending
    count, the pending list, the coming week's counts by status, each doctor's no-show rate
    over 30 days (the doctors' names joined in), and the per-day counts of the chart.
    """
    now = now or timezone.now()
    visible = access.appointments_visible_to(user)
    today = timezone.localdate(now)
    start_of_today, end_of_today = booking.day_bounds(today)

    todays = list(
        visible.filter(appointment_time__gte=start_of_today, appointment_time__lt=end_of_today).order_by(
            "doctor__user__last_name", "doctor_id", "appointment_time"
        )[:SCHEDULE_LIMIT]
    )
    schedule: list[DoctorDay] = []
    for appointment in todays:
        if not schedule or schedule[-1].doctor.pk != appointment.doctor_id:
            schedule.append(DoctorDay(doctor=appointment.doctor, appointments=[]))
        schedule[-1].appointments.append(appointment)

    today_qs = visible.filter(appointment_time__gte=start_of_today, appointment_time__lt=end_of_today)
    today_counts = today_qs.aggregate(
        arrivals=Count("id", filter=Q(arrived_at__isnull=False)),
        no_shows=Count("id", filter=Q(status=Status.NO_SHOW)),
    )
    waiting = [
        Waiting(appointment=appointment, minutes=int((now - appointment.arrived_at).total_seconds() // 60))
        for appointment in today_qs.filter(status=Status.ARRIVED).order_by("arrived_at", "id")[:WAITING_LIMIT]
    ]

    pending = visible.filter(status=Status.PENDING, appointment_time__gte=now)
    pending_count = pending.count()
    pending_list = list(pending.order_by("appointment_time", "id")[:PENDING_LIMIT])

    week = visible.filter(
        appointment_time__gte=now, appointment_time__lt=booking.day_bounds(today + timedelta(days=7))[1]
    )
    week_counts = week.aggregate(
        total=Count("id", filter=~Q(status=Status.CANCELLED)),
        pending=Count("id", filter=Q(status=Status.PENDING)),
        confirmed=Count("id", filter=Q(status=Status.CONFIRMED)),
        cancelled=Count("id", filter=Q(status=Status.CANCELLED)),
    )

    changelist = reverse("admin:clinic_appointment_changelist")
    pending_filter = {"status__exact": Status.PENDING, "appointment_time__gte": now.isoformat()}
    return {
        "schedule": schedule,
        "schedule_truncated": len(todays) == SCHEDULE_LIMIT,
        "today": today,
        "pending_count": pending_count,
        "pending_list": pending_list,
        "pending_url": f"{changelist}?{urlencode(pending_filter)}",
        "week_counts": week_counts,
        "today_counts": today_counts,
        "waiting": waiting,
        "no_show_rates": _no_show_rates(visible, now),
        "chart": _chart(visible, today),
        "chart_width": CHART_WIDTH,
        "chart_height": CHART_HEIGHT + CHART_LABEL_SPACE,
        "chart_baseline": CHART_HEIGHT,
    }


def _no_show_rates(visible, now: datetime) -> list[NoShowRate]:
    """Each doctor's no-shows among the visits due in the last NO_SHOW_RATE_DAYS (not cancelled,
    starting before now), highest rate first: one query, the doctors' names joined in."""
    rows = (
        visible.live()
        .filter(appointment_time__gte=now - timedelta(days=NO_SHOW_RATE_DAYS), appointment_time__lt=now)
        .order_by()
        .values("doctor_id", "doctor__user__first_name", "doctor__user__last_name", "doctor__user__username")
        .annotate(due=Count("id"), no_shows=Count("id", filter=Q(status=Status.NO_SHOW)))
    )
    rates = []
    for row in rows:
        name = " ".join(filter(None, (row["doctor__user__first_name"], row["doctor__user__last_name"])))
        rates.append(
            NoShowRate(
                doctor_id=row["doctor_id"],
                doctor=f"Dr {name or row['doctor__user__username']}",
                due=row["due"],
                no_shows=row["no_shows"],
            )
        )
    return sorted(rates, key=lambda rate: (-rate.no_shows / rate.due, rate.doctor))


def _chart(visible, today: date) -> dict[str, Any]:
    """Live appointments per clinic-local day for the next CHART_DAYS days, as SVG bars."""
    zone = timezone.get_current_timezone()
    rows = (
        visible.live()
        .filter(
            appointment_time__gte=booking.day_bounds(today)[0],
            appointment_time__lt=booking.day_bounds(today + timedelta(days=CHART_DAYS))[0],
        )
        .annotate(day=TruncDate("appointment_time", tzinfo=zone))
        .order_by()
        .values("day")
        .annotate(n=Count("id"))
        .values_list("day", "n")
    )
    per_day = dict(rows)
    days = [today + timedelta(days=i) for i in range(CHART_DAYS)]
    peak = max([per_day.get(day, 0) for day in days] + [1])
    slot = CHART_WIDTH / CHART_DAYS
    bars = []
    for index, day in enumerate(days):
        count = per_day.get(day, 0)
        height = round(count / peak * (CHART_HEIGHT - 20), 1)
        bars.append(
            ChartBar(
                day=day,
                count=count,
                x=round(index * slot + 4, 1),
                y=round(CHART_HEIGHT - height, 1),
                width=round(slot - 8, 1),
                height=height,
                label_x=round(index * slot + slot / 2, 1),
                count_y=round(CHART_HEIGHT - height - 4, 1),
            )
        )
    return {"bars": bars, "peak": peak, "total": sum(bar.count for bar in bars)}


class ClinicAutocompleteJsonView(AutocompleteJsonView):
    """Autocomplete answers only for a form the user may fill in (no lookups from a records form for
    reception); a term no stored text can contain is a 400 with a JSON message."""

    def get(self, request, *args, **kwargs):
        if "\x00" in request.GET.get("term", ""):
            return JsonResponse({"error": TERM_INVALID}, status=400)
        return super().get(request, *args, **kwargs)

    def process_request(self, request):
        term, model_admin, source_field, to_field_name = super().process_request(request)
        source_admin = self.admin_site._registry.get(source_field.model)
        if source_admin is None or not (
            source_admin.has_add_permission(request) or source_admin.has_change_permission(request)
        ):
            raise PermissionDenied
        return term, model_admin, source_field, to_field_name


class ClinicAdminSite(admin.AdminSite):
    site_title = "Clinic staff"
    index_title = "Today at the clinic"
    index_template = "admin/clinic_index.html"

    @property
    def site_header(self) -> str:  # type: ignore[override]
        return f"{settings.CLINIC_NAME} — staff"

    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None):
        """One sign-in for everyone: allauth's page, where the second factor and the lockout apply.

        Staff already signed in go on to `next`; someone signed in without access to the admin is
        told so (with a way to sign out); anyone else is handed to the sign-in page with `next`.
        """
        wanted = request.GET.get(REDIRECT_FIELD_NAME) or request.POST.get(REDIRECT_FIELD_NAME) or ""
        if not url_has_allowed_host_and_scheme(
            wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            wanted = ""
        wanted = wanted or reverse("admin:index", current_app=self.name)
        if request.user.is_authenticated:
            if self.has_permission(request):
                return HttpResponseRedirect(wanted)
            context = {**self.each_context(request), "title": "No access to the staff admin", "next": wanted}
            return TemplateResponse(request, "admin/not_staff.html", context)
        return HttpResponseRedirect(f"{reverse('account_login')}?{urlencode({REDIRECT_FIELD_NAME: wanted})}")

    def password_change(self, request: HttpRequest, extra_context: dict[str, Any] | None = None):
        """One password change for everyone: allauth's page, which signs the user out elsewhere."""
        return HttpResponseRedirect(reverse("account_change_password"))

    def autocomplete_view(self, request: HttpRequest):
        return ClinicAutocompleteJsonView.as_view(admin_site=self)(request)

    def get_urls(self):
        from clinic.admin.calendar import calendar_urls

        # The calendar's URLs (admin:calendar, admin:calendar-events, …) before the admin's catch-all.
        return calendar_urls(self) + super().get_urls()

    def each_context(self, request: HttpRequest) -> dict[str, Any]:
        context = super().each_context(request)
        # The navigation's link to the calendar, for the roles that may open it.
        context["calendar_url"] = (
            reverse("admin:calendar", current_app=self.name) if access.can_open_calendar(request.user) else None
        )
        # The user's second factor and signed-in sessions (allauth's pages).
        context["security_url"] = reverse("mfa_index") if request.user.is_authenticated else None
        return context

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None):
        appointment_admin = self._registry.get(Appointment)
        context: dict[str, Any] = {"show_dashboard": False}
        if appointment_admin is not None and appointment_admin.has_view_permission(request):
            context = {"show_dashboard": True, **dashboard_for(request.user)}
        return super().index(request, {**context, **(extra_context or {})})
