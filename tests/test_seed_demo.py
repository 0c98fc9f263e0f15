"""`seed_demo`: the logins the README lists work, and the day it runs has every doctor's schedule."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from itertools import combinations
from pathlib import Path

import pytest
import time_machine
from django.apps import apps
from django.core.management import call_command
from django.test import Client, override_settings
from django.utils import timezone

from clinic.booking import day_bounds, grid_starts
from clinic.models import Appointment, Doctor, User
from tests.signin import admin_sign_in

pytestmark = pytest.mark.django_db

README = Path(__file__).resolve().parent.parent / "README.md"
WEDNESDAY_MORNING = datetime(2031, 3, 5, 11, 10, tzinfo=UTC)  # TIME_ZONE is UTC in the tests
SATURDAY_MORNING = datetime(2031, 3, 8, 11, 10, tzinfo=UTC)
SUNDAY_MORNING = datetime(2031, 3, 9, 11, 10, tzinfo=UTC)


def _seed() -> None:
    call_command("seed_demo", stdout=io.StringIO())


def _readme_doctor_logins() -> tuple[list[str], str]:
    """The doctors' usernames and password from the README's table of demo logins."""
    row = re.search(r"^\| doctors \| (?P<names>.+?) \| `(?P<password>[^`]+)` \|$", README.read_text(), re.MULTILINE)
    assert row, "README.md lists the demo doctors' logins"
    return re.findall(r"`([^`]+)`", row["names"]), row["password"]


def _todays(doctor: Doctor) -> list[Appointment]:
    start, end = day_bounds(timezone.localdate())
    return list(doctor.appointments.filter(appointment_time__gte=start, appointment_time__lt=end))


def _row_counts() -> dict[str, int]:
    """Rows of every table the project has, history and task tables included."""
    return {model._meta.label: model._default_manager.count() for model in apps.get_models()}


@time_machine.travel(WEDNESDAY_MORNING, tick=False)
def test_each_demo_doctor_signs_in_to_the_admin_and_sees_their_own_day():
    _seed()
    usernames, password = _readme_doctor_logins()
    assert sorted(usernames) == sorted(Doctor.objects.values_list("user__username", flat=True))
    for username in usernames:
        client = Client()
        response = admin_sign_in(client, username, password, follow=True)
        assert response.status_code == 200
        assert response.redirect_chain == [("/admin/", 302)], f"{username} could not sign in"
        assert response.context["show_dashboard"] is True
        # A doctor's dashboard shows their own day, and nobody else's.
        doctor = Doctor.objects.get(user__username=username)
        assert [day.doctor for day in response.context["schedule"]] == [doctor]
        assert [a.pk for a in response.context["schedule"][0].appointments] == [a.pk for a in _todays(doctor)]
        assert 'id="clinic-today"' in response.content.decode()


@time_machine.travel(WEDNESDAY_MORNING, tick=False)
def test_every_doctor_has_a_day_of_visits_before_and_after_now_on_their_grid():
    _seed()
    now = timezone.now()
    statuses = set()
    for doctor in Doctor.objects.select_related("user"):
        todays = _todays(doctor)
        grid = grid_starts(doctor, timezone.localdate())
        assert len(todays) >= 3, doctor
        assert any(a.appointment_time < now for a in todays), f"{doctor} has nothing earlier today"
        assert any(a.appointment_time > now for a in todays), f"{doctor} has nothing later today"
        for appointment in todays:
            assert appointment.appointment_time in grid
            assert appointment.ends_at == appointment.appointment_time + timedelta(minutes=doctor.slot_minutes)
            assert appointment.reason
        statuses |= {a.status for a in todays}
    Status = Appointment.Status
    assert {Status.PENDING, Status.CONFIRMED, Status.COMPLETED} <= statuses
    assert statuses <= {Status.PENDING, Status.CONFIRMED, Status.ARRIVED, Status.IN_PROGRESS}.union(
        {Status.COMPLETED, Status.NO_SHOW}
    )
    for appointment in Appointment.objects.filter(status=Status.COMPLETED):
        assert appointment.arrived_at < appointment.started_at < appointment.completed_at


@time_machine.travel(WEDNESDAY_MORNING, tick=False)
def test_no_doctor_and_no_patient_has_two_appointments_at_once():
    _seed()
    live = list(Appointment.objects.live())
    for first, second in combinations(live, 2):
        if first.doctor_id == second.doctor_id or first.patient_id == second.patient_id:
            overlap = first.appointment_time < second.ends_at and second.appointment_time < first.ends_at
            assert not overlap, (first, second)


@pytest.mark.parametrize("moment", [SATURDAY_MORNING, SUNDAY_MORNING], ids=["saturday", "sunday"])
def test_every_doctor_has_appointments_today_at_the_weekend_too(moment):
    with time_machine.travel(moment, tick=False):
        _seed()
        for doctor in Doctor.objects.select_related("user"):
            assert _todays(doctor), f"{doctor} has no appointments on {timezone.localdate():%A}"


@override_settings(TIME_ZONE="Pacific/Auckland")
@time_machine.travel(datetime(2031, 3, 5, 20, 0, tzinfo=UTC), tick=False)  # Thursday 09:00 in Auckland
def test_today_is_the_clinic_local_date():
    _seed()
    assert timezone.localdate().isoformat() == "2031-03-06"
    for doctor in Doctor.objects.select_related("user"):
        assert _todays(doctor), doctor
    wednesday_start, wednesday_end = day_bounds(timezone.localdate() - timedelta(days=1))
    assert not Appointment.objects.filter(appointment_time__gte=wednesday_start, appointment_time__lt=wednesday_end)


def test_a_second_run_creates_no_rows_even_hours_later():
    with time_machine.travel(WEDNESDAY_MORNING, tick=False):
        _seed()
    counts = _row_counts()
    with time_machine.travel(WEDNESDAY_MORNING + timedelta(hours=3, minutes=25), tick=False):
        _seed()
    assert _row_counts() == counts


def test_a_run_on_a_later_day_fills_that_day_in_once():
    with time_machine.travel(WEDNESDAY_MORNING, tick=False):
        _seed()
    with time_machine.travel(WEDNESDAY_MORNING + timedelta(days=1), tick=False):
        _seed()
        for doctor in Doctor.objects.select_related("user"):
            assert len(_todays(doctor)) >= 3, doctor
        counts = _row_counts()
        _seed()
        assert _row_counts() == counts


@time_machine.travel(WEDNESDAY_MORNING, tick=False)
def test_a_demo_doctor_from_an_older_demo_database_gets_staff_access():
    _seed()
    User.objects.filter(username="dr.grey").update(is_staff=False)
    _seed()
    assert User.objects.get(username="dr.grey").is_staff
