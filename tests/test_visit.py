"""The visit from check-in to done (clinic/booking.py): every status move, allowed and refused,
by role and by time, on a frozen clock."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from clinic import booking, records
from clinic.models import Appointment, EmailOutbox
from tests.factories import AppointmentFactory, DoctorFactory, PatientFactory, ReceptionFactory

pytestmark = pytest.mark.django_db

Status = Appointment.Status
# A Wednesday at 10:00 in the clinic's zone: the clock of every test here.
NOW = datetime(2031, 1, 15, 10, 0, tzinfo=timezone.get_default_timezone())


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def desk(db):
    return ReceptionFactory()


def visit(minutes_from_now: int, status: str = Status.CONFIRMED, **kwargs) -> Appointment:
    return AppointmentFactory(appointment_time=NOW + timedelta(minutes=minutes_from_now), status=status, **kwargs)


def refused(actor, appointment, status) -> booking.BookingError:
    with pytest.raises(booking.BookingError) as caught:
        booking.appointment_move(actor=actor, appointment=appointment, status=status)
    unchanged = Appointment.objects.get(pk=appointment.pk)
    assert (unchanged.status, unchanged.arrived_at, unchanged.completed_at) == (
        appointment.status,
        appointment.arrived_at,
        appointment.completed_at,
    )
    return caught.value


# --- Check-in -------------------------------------------------------------------------


def test_check_in_opens_two_hours_before_the_start_and_stamps_the_arrival(desk):
    appointment = visit(120)
    moved = booking.appointment_check_in(actor=desk, appointment=appointment)
    assert (moved.status, moved.arrived_at) == (Status.ARRIVED, NOW)
    assert Appointment.objects.get(pk=appointment.pk).arrived_at == NOW


def test_check_in_earlier_than_that_is_refused_with_the_rule(desk):
    error = refused(desk, visit(121), Status.ARRIVED)
    assert (error.code, error.messages) == ("too_early", [booking.CHECK_IN_NOT_YET.format(minutes=120)])


def test_check_in_is_on_the_appointments_day_only(desk):
    tomorrow_morning = datetime.combine(NOW.date() + timedelta(days=1), time(0, 30), tzinfo=NOW.tzinfo)
    appointment = AppointmentFactory(appointment_time=tomorrow_morning, status=Status.CONFIRMED)
    with time_machine.travel(tomorrow_morning - timedelta(hours=1), tick=False):  # 23:30, within two hours
        error = refused(desk, appointment, Status.ARRIVED)
    assert (error.code, error.messages) == ("check_in_other_day", [booking.CHECK_IN_OTHER_DAY])
    yesterday = visit(-24 * 60)
    assert refused(desk, yesterday, Status.ARRIVED).code == "check_in_other_day"


def test_a_pending_appointment_checks_in_too(desk):
    assert booking.appointment_check_in(actor=desk, appointment=visit(10, Status.PENDING)).status == Status.ARRIVED


# --- With the doctor, and done --------------------------------------------------------------


def test_arrived_then_in_progress_then_completed_each_stamps_its_time(desk):
    appointment = visit(30)
    booking.appointment_check_in(actor=desk, appointment=appointment)
    doctor_user = appointment.doctor.user
    with time_machine.travel(NOW + timedelta(minutes=35), tick=False):
        started = booking.appointment_start(actor=doctor_user, appointment=appointment)
    with time_machine.travel(NOW + timedelta(minutes=55), tick=False):
        done = booking.appointment_complete(actor=doctor_user, appointment=started)
    stored = Appointment.objects.get(pk=appointment.pk)
    assert (stored.status, stored.arrived_at, stored.started_at, stored.completed_at) == (
        Status.COMPLETED,
        NOW,
        NOW + timedelta(minutes=35),
        NOW + timedelta(minutes=55),
    )
    assert done.status == Status.COMPLETED


def test_an_arrived_visit_may_be_completed_without_being_started(desk):
    appointment = visit(-5, Status.ARRIVED)
    done = booking.appointment_complete(actor=desk, appointment=appointment)
    assert (done.status, done.started_at, done.completed_at) == (Status.COMPLETED, None, NOW)


@pytest.mark.parametrize("status", [Status.PENDING, Status.CONFIRMED, Status.NO_SHOW])
def test_only_an_arrived_patient_is_started_or_completed(desk, status):
    appointment = visit(-5, status)
    for target in (Status.IN_PROGRESS, Status.COMPLETED):
        error = refused(desk, appointment, target)
        assert (error.code, error.messages) == ("status_move", [booking.STATUS_MOVE.format(old=status, new=target)])


def test_a_completed_visit_is_final(desk):
    appointment = visit(-60, Status.COMPLETED)
    for target in (Status.CANCELLED, Status.ARRIVED, Status.NO_SHOW, Status.CONFIRMED, Status.IN_PROGRESS):
        error = refused(desk, appointment, target)
        assert (error.code, error.messages) == ("completed_final", [booking.COMPLETED_IS_FINAL])


@pytest.mark.parametrize("status", [Status.ARRIVED, Status.IN_PROGRESS])
def test_a_visit_that_has_begun_is_never_cancelled(desk, status):
    error = refused(desk, visit(-5, status), Status.CANCELLED)
    assert (error.code, error.messages) == ("status_move", [booking.STATUS_MOVE.format(old=status, new="cancelled")])


def test_a_visit_under_way_is_not_moved_to_another_time(desk):
    appointment = visit(5, Status.ARRIVED)
    with pytest.raises(booking.BookingError) as caught:
        booking.appointment_reschedule(actor=desk, appointment=appointment, start=NOW + timedelta(days=2))
    assert caught.value.messages == [booking.NOT_RESCHEDULABLE.format(status="checked in")]


# --- No-shows ---------------------------------------------------------------------------------


def test_a_no_show_is_marked_from_fifteen_minutes_after_the_start(desk):
    assert refused(desk, visit(-14), Status.NO_SHOW).messages == [booking.NO_SHOW_TOO_EARLY.format(minutes=15)]
    marked = booking.appointment_no_show(actor=desk, appointment=visit(-15))
    assert marked.status == Status.NO_SHOW


def test_a_no_show_who_comes_late_is_checked_in_the_same_day_only(desk):
    late = booking.appointment_no_show(actor=desk, appointment=visit(-40))
    arrived = booking.appointment_check_in(actor=desk, appointment=late)
    assert (arrived.status, arrived.arrived_at) == (Status.ARRIVED, NOW)
    yesterday = visit(-24 * 60, Status.NO_SHOW)
    assert refused(desk, yesterday, Status.ARRIVED).code == "check_in_other_day"


def test_the_settings_move_the_windows(desk, settings):
    settings.CHECK_IN_OPENS_MINUTES, settings.NO_SHOW_GRACE_MINUTES = 30, 5
    assert refused(desk, visit(31), Status.ARRIVED).messages == [booking.CHECK_IN_NOT_YET.format(minutes=30)]
    assert booking.appointment_no_show(actor=desk, appointment=visit(-5)).status == Status.NO_SHOW


def test_no_shows_are_counted_per_patient_over_twelve_months(desk):
    patient, other = PatientFactory(), PatientFactory()
    for days_ago in (10, 200, 364):
        visit(-days_ago * 24 * 60, Status.NO_SHOW, patient=patient)
    visit(-366 * 24 * 60, Status.NO_SHOW, patient=patient)  # longer ago than a year
    visit(-60, Status.COMPLETED, patient=other)
    assert booking.no_shows_by_patient([patient.pk, other.pk]) == {patient.pk: 3}


# --- Who moves a visit -------------------------------------------------------------------------


@pytest.mark.parametrize("target", [Status.ARRIVED, Status.NO_SHOW])
def test_a_patient_never_moves_their_visit_past_confirmed(target):
    appointment = visit(-20 if target == Status.NO_SHOW else 20)
    with pytest.raises(PermissionDenied):
        booking.appointment_move(actor=appointment.patient.user, appointment=appointment, status=target)
    assert Appointment.objects.get(pk=appointment.pk).status == Status.CONFIRMED


def test_a_doctor_moves_their_own_visits_only(desk):
    own = visit(20)
    booking.appointment_check_in(actor=own.doctor.user, appointment=own)
    other = visit(20, doctor=DoctorFactory())
    with pytest.raises(PermissionDenied):
        booking.appointment_check_in(actor=own.doctor.user, appointment=other)


def test_the_moves_offered_are_those_the_rules_allow_now(desk):
    patient = PatientFactory()
    assert booking.moves_allowed(actor=desk, appointment=visit(20, Status.PENDING)) == [
        Status.CONFIRMED,
        Status.ARRIVED,
        Status.CANCELLED,
    ]
    assert booking.moves_allowed(actor=desk, appointment=visit(-20)) == [Status.ARRIVED, Status.NO_SHOW]
    assert booking.moves_allowed(actor=desk, appointment=visit(-5, Status.ARRIVED)) == [
        Status.IN_PROGRESS,
        Status.COMPLETED,
    ]
    assert booking.moves_allowed(actor=desk, appointment=visit(-60, Status.COMPLETED)) == []
    mine = visit(3 * 24 * 60, patient=patient)
    assert booking.moves_allowed(actor=patient.user, appointment=mine) == [Status.CANCELLED]


# --- What the moves do besides ---------------------------------------------------------------


def test_the_visits_moves_send_the_patient_no_email(desk):
    appointment = visit(10)
    booking.appointment_check_in(actor=desk, appointment=appointment)
    booking.appointment_start(actor=desk, appointment=appointment)
    booking.appointment_complete(actor=desk, appointment=appointment)
    booking.appointment_no_show(actor=desk, appointment=visit(-30))
    assert not EmailOutbox.objects.exists()


def test_each_move_is_in_the_history_with_its_actor(desk):
    appointment = visit(10)
    booking.appointment_check_in(actor=desk, appointment=appointment)
    booking.appointment_complete(actor=appointment.doctor.user, appointment=appointment)
    rows = list(appointment.history.order_by("history_date").values_list("status", "history_user_id"))
    assert rows[-2:] == [(Status.ARRIVED, desk.pk), (Status.COMPLETED, appointment.doctor.user_id)]


@pytest.mark.parametrize("status", [Status.CANCELLED, Status.NO_SHOW])
def test_no_medical_record_is_written_for_a_missed_or_cancelled_appointment(status):
    appointment = visit(-60, status)
    with pytest.raises(ValidationError) as caught:
        records.medical_record_create(actor=appointment.doctor.user, appointment=appointment, notes="Seen")
    assert caught.value.message_dict == {"appointment": [records.NO_VISIT]}
    assert not appointment.medical_records.exists()
