"""The admin index is the clinic's day: today's schedule, pending requests, the week, a 14-day chart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.conf import settings
from django.test import Client
from django.urls import reverse

from clinic.admin.site import CHART_DAYS, dashboard_for
from clinic.models import Appointment
from tests import factories

pytestmark = pytest.mark.django_db

Status = Appointment.Status
NOW = datetime(2031, 3, 3, 8, 0, tzinfo=UTC)  # a Monday morning


def _at(hours: float, *, days: int = 0) -> datetime:
    return NOW.replace(hour=0) + timedelta(days=days, hours=hours)


@pytest.fixture
def day(staff_doctor):
    other = factories.DoctorFactory(user__last_name="Zimmer")
    return {
        "mine_today": factories.AppointmentFactory(doctor=staff_doctor, appointment_time=_at(9)),
        "mine_today_confirmed": factories.AppointmentFactory(
            doctor=staff_doctor, appointment_time=_at(10), status=Status.CONFIRMED
        ),
        "other_today": factories.AppointmentFactory(doctor=other, appointment_time=_at(9)),
        "other_tomorrow_cancelled": factories.AppointmentFactory(
            doctor=other, appointment_time=_at(9, days=1), status=Status.CANCELLED
        ),
        "mine_in_ten_days": factories.AppointmentFactory(doctor=staff_doctor, appointment_time=_at(11, days=10)),
        "mine_yesterday": factories.AppointmentFactory(doctor=staff_doctor, appointment_time=_at(9, days=-1)),
    }


def test_todays_schedule_is_grouped_per_doctor_in_time_order(clinic_admin, staff_doctor, day):
    dashboard = dashboard_for(clinic_admin, now=NOW)
    assert [(entry.doctor.pk, [a.pk for a in entry.appointments]) for entry in dashboard["schedule"]] == [
        (staff_doctor.pk, [day["mine_today"].pk, day["mine_today_confirmed"].pk]),
        (day["other_today"].doctor_id, [day["other_today"].pk]),
    ]


def test_pending_requests_and_the_coming_week_are_counted(clinic_admin, day):
    dashboard = dashboard_for(clinic_admin, now=NOW)
    assert dashboard["pending_count"] == 3  # today's two pending ones and the one in ten days
    # Soonest first; same time, older booking first.
    assert [a.pk for a in dashboard["pending_list"]] == [
        day["mine_today"].pk,
        day["other_today"].pk,
        day["mine_in_ten_days"].pk,
    ]
    assert dashboard["week_counts"] == {"total": 3, "pending": 2, "confirmed": 1, "cancelled": 1}


def test_the_chart_counts_live_appointments_per_day_for_fourteen_days(clinic_admin, day):
    chart = dashboard_for(clinic_admin, now=NOW)["chart"]
    assert len(chart["bars"]) == CHART_DAYS
    counts = {bar.day.isoformat(): bar.count for bar in chart["bars"] if bar.count}
    assert counts == {"2031-03-03": 3, "2031-03-13": 1}
    tallest = max(chart["bars"], key=lambda bar: bar.count)
    assert tallest.height > 0
    assert all(bar.height == 0 for bar in chart["bars"] if bar.count == 0)


def test_a_doctor_sees_only_their_own_day(staff_doctor, day):
    dashboard = dashboard_for(staff_doctor.user, now=NOW)
    assert [entry.doctor.pk for entry in dashboard["schedule"]] == [staff_doctor.pk]
    assert dashboard["pending_count"] == 2
    assert dashboard["chart"]["total"] == 3


def test_index_renders_the_dashboard_with_an_inline_svg_chart(clinic_admin, day):
    with time_machine.travel(NOW, tick=False):
        client = Client()
        client.force_login(clinic_admin)
        response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    page = response.content.decode()
    assert f"{settings.CLINIC_NAME} — staff" in page
    assert page.count('class="clinic-chart__bar') == CHART_DAYS
    assert '<svg viewBox="0 0' in page
    assert 'data-day="2031-03-03" data-count="3"' in page
    assert "Waiting for confirmation (3)" in page
    assert 'id="clinic-pending-link"' in page
    assert reverse("admin:clinic_appointment_change", args=[day["mine_today"].pk]) in page
    assert "https://" not in page.split("<body")[0]  # nothing loaded from a CDN


def test_index_without_appointment_access_shows_no_dashboard(db):
    bystander = factories.UserFactory(is_staff=True)
    client = Client()
    client.force_login(bystander)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    assert response.context["show_dashboard"] is False
    assert "clinic-chart" not in response.content.decode()


def test_days_are_the_clinics_local_days(clinic_admin, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    # 23:30 UTC on Monday is 00:30 on Tuesday in Berlin.
    factories.AppointmentFactory(appointment_time=_at(23.5))
    dashboard = dashboard_for(clinic_admin, now=NOW)
    counts = {bar.day.isoformat(): bar.count for bar in dashboard["chart"]["bars"] if bar.count}
    assert counts == {"2031-03-04": 1}
    assert dashboard["schedule"] == []
