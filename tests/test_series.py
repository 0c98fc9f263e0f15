"""Series of visits (clinic/booking.py): the same wall-clock time across a daylight-saving
change, all or none, skip_conflicts, cancelling from one visit on, and the one email."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest
import time_machine
from django.core import mail
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from clinic import booking
from clinic.models import DOCTOR_OVERLAP, Appointment, AppointmentSeries, EmailOutbox
from tests.factories import AppointmentFactory, DoctorFactory, PatientFactory, ReceptionFactory

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")
Status = Appointment.Status


@pytest.fixture
def desk(db):
    return ReceptionFactory()


@pytest.fixture
def doctor(db):
    return DoctorFactory(available_from=time(8, 0), available_to=time(18, 0))


def weekly(desk, patient, doctor, start, **kwargs):
    return booking.series_book(
        actor=desk, patient=patient, doctor=doctor, start=start, every_weeks=kwargs.pop("every_weeks", 1), **kwargs
    )


def test_a_weekly_series_keeps_its_wall_clock_time_across_the_daylight_saving_change(settings, desk, doctor):
    settings.TIME_ZONE = "Europe/Berlin"
    # Clocks go forward on Sunday 30 March 2031: 10:00 in Berlin is 09:00 UTC before, 08:00 after.
    with time_machine.travel(datetime(2031, 3, 10, 12, 0, tzinfo=BERLIN), tick=False):
        booked = weekly(desk, PatientFactory(), doctor, datetime(2031, 3, 17, 10, 0, tzinfo=BERLIN), count=4)
    starts = [appointment.appointment_time for appointment in booked.appointments]
    assert [timezone.localtime(start, BERLIN).strftime("%a %d %b %H:%M") for start in starts] == [
        "Mon 17 Mar 10:00",
        "Mon 24 Mar 10:00",
        "Mon 31 Mar 10:00",
        "Mon 07 Apr 10:00",
    ]
    assert [start.astimezone(ZoneInfo("UTC")).hour for start in starts] == [9, 9, 8, 8]
    assert booked.series.appointments.count() == 4 and booked.skipped == []


def test_a_series_books_all_its_visits_or_none_and_names_the_times_that_conflict(desk, doctor, next_monday_10):
    taken = AppointmentFactory(doctor=doctor, appointment_time=next_monday_10 + timedelta(weeks=2))
    patient = PatientFactory()
    with pytest.raises(booking.SeriesConflict) as conflict:
        weekly(desk, patient, doctor, next_monday_10, count=4)
    assert conflict.value.status_code == 409
    assert conflict.value.conflicts == [(taken.appointment_time, DOCTOR_OVERLAP)]
    assert not Appointment.objects.filter(patient=patient).exists()
    assert not AppointmentSeries.objects.exists() and not EmailOutbox.objects.exists()


def test_skip_conflicts_books_the_rest_and_lists_the_skipped(desk, doctor, next_monday_10):
    taken = AppointmentFactory(doctor=doctor, appointment_time=next_monday_10 + timedelta(weeks=1))
    booked = weekly(desk, PatientFactory(), doctor, next_monday_10, count=3, skip_conflicts=True)
    assert [a.appointment_time for a in booked.appointments] == [next_monday_10, next_monday_10 + timedelta(weeks=2)]
    assert booked.skipped == [(taken.appointment_time, DOCTOR_OVERLAP)]


def test_every_two_weeks_and_the_booking_horizon_is_a_conflict_like_any_other(desk, doctor, next_monday_10):
    booked = weekly(desk, PatientFactory(), doctor, next_monday_10, every_weeks=2, count=3)
    assert [a.appointment_time for a in booked.appointments] == [
        next_monday_10 + timedelta(weeks=2 * i) for i in range(3)
    ]
    with pytest.raises(booking.SeriesConflict) as too_far:
        weekly(desk, PatientFactory(), doctor, next_monday_10 + timedelta(hours=1), every_weeks=4, count=26)
    assert {message for _, message in too_far.value.conflicts} == {booking.TOO_FAR.format(days=90)}


def test_only_the_front_desk_books_a_series(doctor, next_monday_10):
    patient = PatientFactory()
    for actor in (patient.user, doctor.user):
        with pytest.raises(PermissionDenied):
            weekly(actor, patient, doctor, next_monday_10, count=2)
    assert not Appointment.objects.exists()


def test_cancelling_from_one_visit_cancels_it_and_the_later_ones(desk, doctor, next_monday_10):
    booked = weekly(desk, PatientFactory(), doctor, next_monday_10, count=4)
    first, second, *_ = booked.appointments
    cancelled = booking.series_cancel_from(actor=desk, appointment=second)
    assert [a.pk for a in cancelled] == [a.pk for a in booked.appointments[1:]]
    statuses = list(booked.series.appointments.order_by("appointment_time").values_list("status", flat=True))
    assert statuses == [Status.PENDING, Status.CANCELLED, Status.CANCELLED, Status.CANCELLED]
    assert first.pk not in {a.pk for a in cancelled}


def test_a_patient_cancels_the_following_only_outside_the_cut_off(desk, doctor, next_monday_10):
    patient = PatientFactory()
    booked = weekly(desk, patient, doctor, next_monday_10, count=3)
    with time_machine.travel(next_monday_10 - timedelta(hours=2), tick=False):
        with pytest.raises(booking.BookingError) as refused:
            booking.series_cancel_from(actor=patient.user, appointment=booked.appointments[0])
        assert refused.value.code == "cutoff"
        assert not Appointment.objects.filter(status=Status.CANCELLED).exists()  # none of them
        cancelled = booking.series_cancel_from(actor=patient.user, appointment=booked.appointments[1])
    assert len(cancelled) == 2


def test_the_patient_gets_one_email_listing_every_visit_with_one_event_each(
    desk, doctor, next_monday_10, django_capture_on_commit_callbacks
):
    patient = PatientFactory()
    with django_capture_on_commit_callbacks(execute=True):
        booked = weekly(desk, patient, doctor, next_monday_10, count=3, reason="Physiotherapy")
    assert list(EmailOutbox.objects.values_list("kind", flat=True)) == ["series"]
    (message,) = mail.outbox
    assert message.to == [patient.user.email]
    assert "course of 3 appointments" in message.body
    for appointment in booked.appointments:
        assert f"{timezone.localtime(appointment.appointment_time):%A %-d %B %Y, %H:%M}" in message.body
    (invite,) = [part for part in message.message().walk() if part.get_content_type() == "text/calendar"]
    calendar = icalendar.Calendar.from_ical(invite.get_payload(decode=True))
    events = list(calendar.walk("VEVENT"))
    assert len(events) == 3
    assert len({str(event["UID"]) for event in events}) == 3
    assert [event.decoded("DTSTART") for event in events] == [a.appointment_time for a in booked.appointments]
    assert str(calendar["METHOD"]) == "REQUEST"
