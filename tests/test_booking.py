"""The booking rules of clinic/booking.py, called as services (no HTTP)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from django.core.exceptions import PermissionDenied

from clinic import booking
from clinic.models import DOCTOR_OVERLAP, PATIENT_OVERLAP, Appointment
from tests.factories import (
    AppointmentFactory,
    DoctorFactory,
    MedicalRecordFactory,
    PatientFactory,
    ReceptionFactory,
    TimeOffFactory,
)

pytestmark = pytest.mark.django_db


def _book(patient, doctor, start, **kwargs):
    return booking.appointment_book(actor=patient.user, patient=patient, doctor=doctor, start=start, **kwargs)


def _refused(code, patient, doctor, start, **kwargs):
    with pytest.raises(booking.BookingError) as caught:
        _book(patient, doctor, start, **kwargs)
    assert caught.value.code == code, caught.value.messages
    assert not Appointment.objects.filter(doctor=doctor, appointment_time=start).exists()
    return caught.value


def test_a_valid_slot_is_booked_pending(patient, doctor, next_monday_10):
    appointment = _book(patient, doctor, next_monday_10, reason="Cough")
    assert appointment.status == Appointment.Status.PENDING
    assert appointment.ends_at == next_monday_10 + timedelta(minutes=30)


def test_booking_in_the_past_is_refused(patient, doctor):
    now = datetime.now(UTC)
    start = (now - timedelta(days=1)).replace(hour=10, minute=0, second=0, microsecond=0)
    error = _refused("in_past", patient, doctor, start)
    assert error.messages == [booking.IN_PAST]
    assert error.status_code == 400


def test_booking_inside_the_minimum_notice_is_refused(patient, doctor, next_monday_10):
    _refused("too_soon", patient, doctor, next_monday_10, now=next_monday_10 - timedelta(minutes=59))
    _book(patient, doctor, next_monday_10, now=next_monday_10 - timedelta(minutes=60))


def test_booking_beyond_the_horizon_is_refused(patient, doctor, next_monday_10):
    _refused("too_far", patient, doctor, next_monday_10, now=next_monday_10 - timedelta(days=90, minutes=1))


def test_booking_on_a_day_off_is_refused(patient, next_monday_10):
    doctor = DoctorFactory(working_days=[1, 2, 3, 4])  # not Mondays
    error = _refused("not_working_day", patient, doctor, next_monday_10)
    assert "Mondays" in error.messages[0]


def test_booking_inside_time_off_is_refused(patient, doctor, next_monday_10):
    TimeOffFactory(
        doctor=doctor, starts_at=next_monday_10 - timedelta(hours=1), ends_at=next_monday_10 + timedelta(minutes=1)
    )
    error = _refused("time_off", patient, doctor, next_monday_10)
    assert error.messages == [booking.IN_TIME_OFF]
    assert next_monday_10 not in booking.slots_free(doctor=doctor, day=next_monday_10.date())


def test_booking_before_hours_is_refused(patient, doctor, next_monday_10):
    _refused("outside_hours", patient, doctor, next_monday_10.replace(hour=8, minute=30))


def test_booking_ending_after_hours_is_refused(patient, next_monday_10):
    doctor = DoctorFactory(available_from=time(9, 0), available_to=time(16, 45), slot_minutes=30)
    # 16:30 is on the grid but would end at 17:00, after 16:45.
    _refused("outside_hours", patient, doctor, next_monday_10.replace(hour=16, minute=30))
    _book(patient, doctor, next_monday_10.replace(hour=16, minute=0))


def test_booking_off_the_grid_is_refused(patient, doctor, next_monday_10):
    _refused("off_grid", patient, doctor, next_monday_10 + timedelta(minutes=15))


def test_a_doctor_cannot_be_booked_twice_at_once(doctor, next_monday_10):
    _book(PatientFactory(), doctor, next_monday_10)
    with pytest.raises(booking.SlotUnavailable) as caught:
        _book(PatientFactory(), doctor, next_monday_10)
    assert caught.value.status_code == 409
    assert Appointment.objects.filter(doctor=doctor).count() == 1


def test_a_patient_cannot_see_two_doctors_at_once(patient, next_monday_10):
    _book(patient, DoctorFactory(), next_monday_10)
    with pytest.raises(booking.SlotUnavailable):
        _book(patient, DoctorFactory(), next_monday_10)
    assert Appointment.objects.filter(patient=patient).count() == 1


def test_a_cancelled_slot_can_be_booked_again(doctor, next_monday_10):
    first = _book(PatientFactory(), doctor, next_monday_10)
    booking.appointment_cancel(actor=first.patient.user, appointment=first)
    assert next_monday_10 in booking.slots_free(doctor=doctor, day=next_monday_10.date())
    again = _book(PatientFactory(), doctor, next_monday_10)
    assert again.pk != first.pk


def test_a_patient_cannot_change_within_the_cutoff(patient, doctor, next_monday_10):
    appointment = _book(patient, doctor, next_monday_10)
    late = next_monday_10 - timedelta(hours=23)
    with pytest.raises(booking.BookingError) as caught:
        booking.appointment_cancel(actor=patient.user, appointment=appointment, now=late)
    assert caught.value.code == "cutoff"
    with pytest.raises(booking.BookingError):
        booking.appointment_reschedule(
            actor=patient.user, appointment=appointment, start=next_monday_10 + timedelta(hours=1), now=late
        )
    # Reception is not bound by the cut-off.
    booking.appointment_cancel(actor=ReceptionFactory(), appointment=appointment, now=late)
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.CANCELLED


def test_a_patient_cannot_confirm(patient, doctor, next_monday_10):
    appointment = _book(patient, doctor, next_monday_10)
    with pytest.raises(PermissionDenied):
        booking.appointment_confirm(actor=patient.user, appointment=appointment)
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.PENDING


def test_status_moves_follow_the_lifecycle(patient, doctor, next_monday_10):
    appointment = _book(patient, doctor, next_monday_10)
    appointment = booking.appointment_change(actor=doctor.user, appointment=appointment, status="confirmed")
    assert appointment.status == "confirmed"
    with pytest.raises(booking.BookingError) as caught:
        booking.appointment_change(actor=doctor.user, appointment=appointment, status="pending")
    assert caught.value.code == "status_move"
    appointment = booking.appointment_change(actor=doctor.user, appointment=appointment, status="cancelled")
    for status in ("pending", "confirmed"):
        with pytest.raises(booking.BookingError) as caught:
            booking.appointment_change(actor=ReceptionFactory(), appointment=appointment, status=status)
        assert caught.value.code in {"cancelled_final", "status_move"}
    appointment.refresh_from_db()
    assert appointment.status == "cancelled"


def test_a_doctor_cannot_reschedule(patient, doctor, next_monday_10):
    appointment = _book(patient, doctor, next_monday_10)
    with pytest.raises(PermissionDenied):
        booking.appointment_reschedule(
            actor=doctor.user, appointment=appointment, start=next_monday_10 + timedelta(hours=1)
        )


def test_rescheduling_onto_a_taken_slot_answers_409(doctor, next_monday_10):
    AppointmentFactory(doctor=doctor, appointment_time=next_monday_10 + timedelta(hours=1))
    patient = PatientFactory()
    appointment = _book(patient, doctor, next_monday_10)
    with pytest.raises(booking.SlotUnavailable):
        booking.appointment_reschedule(
            actor=patient.user, appointment=appointment, start=next_monday_10 + timedelta(hours=1)
        )


def test_slots_skip_the_missing_hour_when_clocks_spring_forward(settings, patient):
    settings.TIME_ZONE = "Europe/Berlin"
    # 2027-03-28, Sunday: at 02:00 local the clocks jump to 03:00.
    day = datetime(2027, 3, 28).date()
    doctor = DoctorFactory(available_from=time(1, 0), available_to=time(4, 0), slot_minutes=30)
    now = datetime(2027, 3, 20, 12, 0, tzinfo=UTC)
    slots = booking.slots_free(doctor=doctor, day=day, now=now)
    assert slots == [
        datetime(2027, 3, 28, 0, 0, tzinfo=UTC),  # 01:00 CET
        datetime(2027, 3, 28, 0, 30, tzinfo=UTC),  # 01:30 CET
        datetime(2027, 3, 28, 1, 0, tzinfo=UTC),  # 03:00 CEST
        datetime(2027, 3, 28, 1, 30, tzinfo=UTC),  # 03:30 CEST
    ]
    appointment = _book(patient, doctor, slots[2], now=now)
    assert appointment.appointment_time == slots[2]
    # The hour before the change is bookable in local time, a UTC-grid start one hour off is not.
    _refused("outside_hours", PatientFactory(), doctor, datetime(2027, 3, 28, 3, 0, tzinfo=UTC), now=now)


def test_slots_follow_local_hours_after_clocks_fall_back(settings):
    settings.TIME_ZONE = "Europe/Berlin"
    doctor = DoctorFactory(available_from=time(9, 0), available_to=time(10, 0), slot_minutes=30)
    now = datetime(2027, 10, 25, 12, 0, tzinfo=UTC)
    # 2027-10-31 is a Sunday: the clinic opens at 09:00 CET = 08:00 UTC, a day after 07:00 UTC.
    assert booking.slots_free(doctor=doctor, day=datetime(2027, 10, 30).date(), now=now)[0] == datetime(
        2027, 10, 30, 7, 0, tzinfo=UTC
    )
    assert booking.slots_free(doctor=doctor, day=datetime(2027, 10, 31).date(), now=now) == [
        datetime(2027, 10, 31, 8, 0, tzinfo=UTC),
        datetime(2027, 10, 31, 8, 30, tzinfo=UTC),
    ]


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Pacific/Pago_Pago"])
def test_days_at_the_ends_of_the_calendar_have_no_slots(settings, doctor, zone):
    settings.TIME_ZONE = zone
    assert booking.slots_free(doctor=doctor, day=date.min) == []
    assert booking.slots_free(doctor=doctor, day=date.max) == []


def test_free_slots_of_several_doctors_take_two_queries_and_match_each_doctors_own(
    next_monday_10, django_assert_num_queries
):
    day = next_monday_10.date()
    doctors = [DoctorFactory(slot_minutes=minutes) for minutes in (15, 30, 45, 60)]
    AppointmentFactory(doctor=doctors[0], appointment_time=next_monday_10)
    AppointmentFactory(doctor=doctors[1], appointment_time=next_monday_10 + timedelta(hours=1))
    TimeOffFactory(doctor=doctors[2], starts_at=next_monday_10, ends_at=next_monday_10 + timedelta(hours=3))
    one_by_one = {doctor.pk: booking.slots_free(doctor=doctor, day=day) for doctor in doctors}
    # 1. live appointments of all the doctors that day, 2. their time off that day
    with django_assert_num_queries(2):
        together = booking.slots_free_for(doctors=doctors, day=day)
    assert together == one_by_one
    assert next_monday_10 not in together[doctors[0].pk]
    assert next_monday_10 + timedelta(hours=1) not in together[doctors[1].pk]
    assert next_monday_10 + timedelta(hours=1) not in together[doctors[2].pk]
    assert next_monday_10 in together[doctors[3].pk]


def test_free_slots_over_several_days_take_two_queries_and_match_each_day_s_own(
    next_monday_10, django_assert_num_queries
):
    days = [next_monday_10.date() + timedelta(days=n) for n in range(5)]
    doctors = [DoctorFactory(slot_minutes=minutes) for minutes in (20, 30)]
    AppointmentFactory(doctor=doctors[0], appointment_time=next_monday_10 + timedelta(days=1))
    TimeOffFactory(
        doctor=doctors[1], starts_at=next_monday_10 + timedelta(days=2), ends_at=next_monday_10 + timedelta(days=3)
    )
    day_by_day = {day: booking.slots_free_for(doctors=doctors, day=day) for day in days}
    with django_assert_num_queries(2):
        together = booking.slots_free_on_days(doctors=doctors, days=days)
    assert together == day_by_day
    assert next_monday_10 + timedelta(days=1) not in together[days[1]][doctors[0].pk]
    assert together[days[2]][doctors[1].pk][-1] < next_monday_10 + timedelta(days=2)


def test_next_free_day_skips_full_days_and_time_off(patient, next_monday_10, django_assert_num_queries):
    doctor = DoctorFactory(available_from=time(10, 0), available_to=time(11, 0))
    monday = next_monday_10.date()
    for start in booking.grid_starts(doctor, monday):
        AppointmentFactory(doctor=doctor, appointment_time=start)
    TimeOffFactory(
        doctor=doctor, starts_at=next_monday_10 + timedelta(days=1), ends_at=next_monday_10 + timedelta(days=2, hours=1)
    )
    # One round of NEXT_FREE_DAYS_PER_ROUND days: two queries.
    with django_assert_num_queries(2):
        found = booking.next_free_day(doctors=[doctor], from_day=monday)
    assert found == monday + timedelta(days=3)
    # A far first free day takes two queries per week searched, whatever the data.
    late = monday + timedelta(days=20)
    TimeOffFactory(
        doctor=doctor, starts_at=next_monday_10 - timedelta(days=30), ends_at=datetime.combine(late, time(0), UTC)
    )
    with django_assert_num_queries(6):
        found = booking.next_free_day(doctors=[doctor], from_day=monday)
    assert found == late
    assert booking.next_free_day(doctors=[], from_day=monday) is None


def test_next_free_day_is_none_when_the_window_has_no_free_slot(next_monday_10):
    doctor = DoctorFactory()
    TimeOffFactory(
        doctor=doctor, starts_at=next_monday_10 - timedelta(days=30), ends_at=next_monday_10 + timedelta(days=200)
    )
    assert booking.next_free_day(doctors=[doctor], from_day=next_monday_10.date()) is None


def test_only_the_two_overlap_constraints_read_as_a_taken_slot(patient, doctor, next_monday_10, monkeypatch):
    """What the database refuses past the Python checks (a concurrent booking, say): an overlap
    constraint is a 409 naming the doctor or the patient; any other refusal is not a slot question."""
    from django.db import IntegrityError

    first = _book(patient, doctor, next_monday_10)
    # Skip the Python checks, as a concurrent request would have passed them.
    monkeypatch.setattr(Appointment, "full_clean", lambda self, *args, **kwargs: None)
    same_doctor = Appointment(
        patient=PatientFactory(),
        doctor=doctor,
        appointment_time=next_monday_10,
        ends_at=first.ends_at,
        blocked_from=next_monday_10,
        blocked_until=first.ends_at,
    )
    with pytest.raises(booking.SlotUnavailable) as taken:
        booking._save(same_doctor, patient.user)
    assert (taken.value.code, taken.value.messages) == ("slot_taken", [DOCTOR_OVERLAP])
    same_patient = Appointment(
        patient=patient,
        doctor=DoctorFactory(),
        appointment_time=next_monday_10,
        ends_at=first.ends_at,
        blocked_from=next_monday_10,
        blocked_until=first.ends_at,
    )
    with pytest.raises(booking.SlotUnavailable) as busy:
        booking._save(same_patient, patient.user)
    assert (busy.value.code, busy.value.messages) == ("patient_busy", [PATIENT_OVERLAP])

    MedicalRecordFactory(appointment=first)
    first.patient = PatientFactory()  # the record trigger refuses this
    with pytest.raises(IntegrityError):
        booking._save(first, patient.user)


def test_idempotency_keys_older_than_a_day_are_purged(patient, doctor, next_monday_10):
    from django.utils import timezone

    from clinic import tasks
    from clinic.models import IdempotencyKey

    old = IdempotencyKey.objects.create(user=patient.user, key="old", fingerprint="x")
    fresh = IdempotencyKey.objects.create(user=patient.user, key="fresh", fingerprint="y")
    IdempotencyKey.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=25))
    assert tasks.idempotency_keys_purge() == "1 expired idempotency keys removed"
    assert list(IdempotencyKey.objects.values_list("pk", flat=True)) == [fresh.pk]


def test_the_purge_runs_on_the_workers_schedule(db):
    from django_q.models import Schedule

    schedule = Schedule.objects.get(func="clinic.tasks.idempotency_keys_purge")
    assert (schedule.schedule_type, schedule.repeats) == (Schedule.HOURLY, -1)


def test_staff_book_and_confirm_at_once_and_the_patient_gets_one_email(patient, doctor, next_monday_10):
    from clinic.models import EmailOutbox

    desk = ReceptionFactory()
    appointment = booking.appointment_book(
        actor=desk, patient=patient, doctor=doctor, start=next_monday_10, confirm=True
    )
    assert appointment.status == Appointment.Status.CONFIRMED
    assert list(EmailOutbox.objects.values_list("kind", flat=True)) == ["confirmed"]
    with pytest.raises(PermissionDenied):  # a patient cannot confirm their own booking
        _book(patient, doctor, next_monday_10 + timedelta(hours=1), confirm=True)
    assert Appointment.objects.count() == 1
