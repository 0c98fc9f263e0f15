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


def test_the_front_desk_sees_arrivals_who_is_waiting_and_no_shows_today(clinic_admin, staff_doctor):
    waiting_long = factories.AppointmentFactory(
        doctor=staff_doctor, appointment_time=_at(8), status=Status.ARRIVED, arrived_at=NOW - timedelta(minutes=25)
    )
    waiting_short = factories.AppointmentFactory(
        appointment_time=_at(8.5), status=Status.ARRIVED, arrived_at=NOW - timedelta(minutes=5)
    )
    factories.AppointmentFactory(
        appointment_time=_at(7), status=Status.COMPLETED, arrived_at=_at(6.9), completed_at=_at(7.4)
    )
    factories.AppointmentFactory(appointment_time=_at(7.5), status=Status.NO_SHOW)
    factories.AppointmentFactory(appointment_time=_at(7, days=-1), status=Status.NO_SHOW)  # yesterday's
    dashboard = dashboard_for(clinic_admin, now=NOW)
    assert dashboard["today_counts"] == {"arrivals": 3, "no_shows": 1}
    assert [(row.appointment.pk, row.minutes) for row in dashboard["waiting"]] == [
        (waiting_long.pk, 25),
        (waiting_short.pk, 5),
    ]


def test_each_doctors_no_show_rate_covers_the_visits_due_in_thirty_days(clinic_admin):
    often = factories.DoctorFactory(user__first_name="Often", user__last_name="Missed")
    never = factories.DoctorFactory(user__first_name="Never", user__last_name="Missed")
    for days, status in ((-1, Status.NO_SHOW), (-2, Status.COMPLETED), (-3, Status.NO_SHOW), (-4, Status.COMPLETED)):
        factories.AppointmentFactory(doctor=often, appointment_time=_at(9, days=days), status=status)
    factories.AppointmentFactory(doctor=often, appointment_time=_at(9, days=-5), status=Status.CANCELLED)
    factories.AppointmentFactory(doctor=often, appointment_time=_at(9, days=-31), status=Status.NO_SHOW)
    factories.AppointmentFactory(doctor=never, appointment_time=_at(9, days=-1), status=Status.COMPLETED)
    factories.AppointmentFactory(doctor=never, appointment_time=_at(9, days=2), status=Status.NO_SHOW)  # not due yet
    rates = dashboard_for(clinic_admin, now=NOW)["no_show_rates"]
    assert [(rate.doctor, rate.no_shows, rate.due, rate.percent) for rate in rates] == [
        ("Dr Often Missed", 2, 4, 50),
        ("Dr Never Missed", 0, 1, 0),
    ]


def test_the_index_shows_the_front_desk_figures_and_links_the_calendar(clinic_admin):
    with time_machine.travel(NOW, tick=False):
        factories.AppointmentFactory(appointment_time=_at(7.5), status=Status.ARRIVED, arrived_at=_at(7.4))
        client = Client()
        client.force_login(clinic_admin)
        page = client.get(reverse("admin:index")).content.decode()
    assert 'id="clinic-waiting"' in page and "36 min" in page
    assert reverse("admin:calendar") in page


@pytest.mark.parametrize("appointments", [1, 40])
def test_the_dashboard_runs_eight_queries_however_busy_the_day(clinic_admin, django_assert_num_queries, appointments):
    doctors = factories.DoctorFactory.create_batch(4)
    for i in range(appointments):
        factories.AppointmentFactory(
            doctor=doctors[i % 4], appointment_time=_at(7 + i // 4 * 0.5), status=Status.ARRIVED, arrived_at=_at(7)
        )
    # Today's schedule; today's arrivals and no-shows; who is waiting; the pending count and list;
    # the week's counts; the no-show rates with the doctors' names; the chart's per-day counts.
    # (The user's role was read when they signed in.)
    with django_assert_num_queries(8):
        dashboard_for(clinic_admin, now=NOW)
