"""Visit types with their own length and buffers (clinic/booking.py): the slot search, booking
and rescheduling by type, and the doctor's blocked range the database keeps."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction

from clinic import booking
from clinic.models import DOCTOR_OVERLAP, Appointment, AppointmentType
from tests.factories import (
    AppointmentFactory,
    AppointmentTypeFactory,
    DoctorFactory,
    PatientFactory,
    ReceptionFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def day(next_monday_10):
    return next_monday_10.date()


def at(day, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=UTC)  # the clinic's zone is UTC in tests


def book(actor, patient, doctor, start, appointment_type=None):
    return booking.appointment_book(
        actor=actor, patient=patient, doctor=doctor, start=start, appointment_type=appointment_type
    )


# --- The slot search ------------------------------------------------------------------


def test_a_45_minute_type_with_an_after_buffer_is_offered_exactly_where_it_fits(day):
    doctor = DoctorFactory(slot_minutes=15, available_from=time(9, 0), available_to=time(12, 0))
    consultation = AppointmentTypeFactory(duration_minutes=45, buffer_after_minutes=10, doctors=[doctor])
    for hour in (10, 11):  # two 15-minute visits
        AppointmentFactory(doctor=doctor, appointment_time=at(day, hour))
    # 9:00 ends with its buffer at 9:55; 9:15 to 10:45 would run into the 10:00 visit (their
    # buffer included), 10:15 to 11:00 into the 11:00 one; 11:15 ends at 12:00, its buffer after
    # the doctor's hours, which only the visit itself must fit.
    assert booking.slots_free(doctor=doctor, day=day, appointment_type=consultation) == [
        at(day, 9, 0),
        at(day, 11, 15),
    ]


def test_a_buffer_hides_the_slot_just_before_another_visit(day):
    doctor = DoctorFactory(slot_minutes=30, available_from=time(9, 0), available_to=time(11, 0))
    procedure = AppointmentTypeFactory(duration_minutes=30, buffer_after_minutes=15, doctors=[doctor])
    AppointmentFactory(doctor=doctor, appointment_time=at(day, 10))
    assert booking.slots_free(doctor=doctor, day=day) == [at(day, 9), at(day, 9, 30), at(day, 10, 30)]
    assert booking.slots_free(doctor=doctor, day=day, appointment_type=procedure) == [at(day, 9), at(day, 10, 30)]


def test_a_booked_visits_buffer_before_blocks_a_plain_slot_before_it(day):
    doctor = DoctorFactory(slot_minutes=30, available_from=time(9, 0), available_to=time(12, 0))
    prepared = AppointmentTypeFactory(duration_minutes=30, buffer_before_minutes=10, doctors=[doctor])
    book(ReceptionFactory(), PatientFactory(), doctor, at(day, 10, 30), prepared)
    free = booking.slots_free(doctor=doctor, day=day)
    assert at(day, 10) not in free and at(day, 9, 30) in free and at(day, 11) in free


def test_a_type_longer_than_the_doctors_remaining_day_is_not_offered_late_and_is_refused(day):
    doctor = DoctorFactory(slot_minutes=30, available_from=time(9, 0), available_to=time(17, 0))
    long_visit = AppointmentTypeFactory(name="Assessment", duration_minutes=120, doctors=[doctor])
    free = booking.slots_free(doctor=doctor, day=day, appointment_type=long_visit)
    assert free[-1] == at(day, 15) and at(day, 15, 30) not in free
    with pytest.raises(booking.BookingError) as refused:
        book(ReceptionFactory(), PatientFactory(), doctor, at(day, 15, 30), long_visit)
    assert refused.value.code == "past_closing"
    assert refused.value.messages == [
        booking.TYPE_PAST_CLOSING.format(name="Assessment", minutes=120, start="09:00", end="17:00")
    ]
    assert not Appointment.objects.exists()


def test_the_slot_search_reads_two_queries_for_any_number_of_doctors(day, django_assert_num_queries):
    kind = AppointmentTypeFactory(duration_minutes=45, buffer_after_minutes=10)
    doctors = DoctorFactory.create_batch(5)
    kind.doctors.set(doctors)
    for doctor in doctors:
        AppointmentFactory(doctor=doctor, appointment_time=at(day, 10))
    # The doctors' live appointments' blocked ranges; their time off.
    with django_assert_num_queries(2):
        booking.slots_free_for(doctors=doctors, day=day, appointment_type=kind)


# --- Booking and rescheduling by type ----------------------------------------------------


def test_a_typed_booking_lasts_its_duration_and_blocks_its_buffers(day):
    doctor = DoctorFactory()
    kind = AppointmentTypeFactory(
        duration_minutes=45, buffer_before_minutes=5, buffer_after_minutes=10, doctors=[doctor]
    )
    appointment = book(ReceptionFactory(), PatientFactory(), doctor, at(day, 10), kind)
    stored = Appointment.objects.get(pk=appointment.pk)
    assert (stored.appointment_type, stored.ends_at, stored.blocked_from, stored.blocked_until) == (
        kind,
        at(day, 10, 45),
        at(day, 9, 55),
        at(day, 10, 55),
    )


def test_an_untyped_booking_behaves_as_before(day):
    doctor = DoctorFactory(slot_minutes=20)
    appointment = book(ReceptionFactory(), PatientFactory(), doctor, at(day, 10))
    assert (appointment.appointment_type, appointment.ends_at) == (None, at(day, 10, 20))
    assert (appointment.blocked_from, appointment.blocked_until) == (at(day, 10), at(day, 10, 20))


def test_a_visit_into_anothers_buffer_is_a_409(day):
    doctor = DoctorFactory()
    kind = AppointmentTypeFactory(duration_minutes=30, buffer_after_minutes=15, doctors=[doctor])
    desk = ReceptionFactory()
    book(desk, PatientFactory(), doctor, at(day, 10), kind)
    with pytest.raises(booking.SlotUnavailable) as taken:
        book(desk, PatientFactory(), doctor, at(day, 10, 30))
    assert taken.value.messages == [DOCTOR_OVERLAP]


def test_the_patients_own_overlap_ignores_the_doctors_buffers(day):
    """A patient may see another doctor in the first doctor's preparation time."""
    patient, desk = PatientFactory(), ReceptionFactory()
    first, second = DoctorFactory(), DoctorFactory()
    kind = AppointmentTypeFactory(duration_minutes=30, buffer_after_minutes=30, doctors=[first])
    book(desk, patient, first, at(day, 10), kind)
    assert book(desk, patient, second, at(day, 10, 30)).appointment_time == at(day, 10, 30)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"active": False}, booking.TYPE_INACTIVE),
        ({}, booking.TYPE_NOT_OFFERED),
    ],
)
def test_a_type_the_doctor_does_not_offer_or_that_is_retired_is_a_field_error(day, change, message):
    doctor = DoctorFactory()
    kind = AppointmentTypeFactory(name="Scan", doctors=[doctor] if change else [], **change)
    with pytest.raises(ValidationError) as refused:
        book(ReceptionFactory(), PatientFactory(), doctor, at(day, 10), kind)
    assert refused.value.message_dict == {"appointment_type": [message.format(name="Scan", doctor=doctor)]}
    assert not Appointment.objects.exists()


def test_patients_book_only_the_types_bookable_online(day):
    doctor, patient = DoctorFactory(), PatientFactory()
    at_the_desk = AppointmentTypeFactory(name="Procedure", bookable_online=False, doctors=[doctor])
    with pytest.raises(ValidationError) as refused:
        book(patient.user, patient, doctor, at(day, 10), at_the_desk)
    assert refused.value.message_dict == {"appointment_type": [booking.TYPE_NOT_ONLINE.format(name="Procedure")]}
    assert book(ReceptionFactory(), patient, doctor, at(day, 10), at_the_desk).appointment_type == at_the_desk


def test_rescheduling_keeps_the_type_and_moves_its_blocked_range(day):
    doctor = DoctorFactory()
    kind = AppointmentTypeFactory(duration_minutes=45, buffer_after_minutes=10, doctors=[doctor])
    desk = ReceptionFactory()
    appointment = book(desk, PatientFactory(), doctor, at(day, 10), kind)
    moved = booking.appointment_reschedule(actor=desk, appointment=appointment, start=at(day, 14))
    assert (moved.ends_at, moved.blocked_until, moved.appointment_type) == (at(day, 14, 45), at(day, 14, 55), kind)


def test_moving_a_typed_visit_to_a_doctor_who_does_not_offer_it_is_refused(day):
    doctor, other = DoctorFactory(), DoctorFactory()
    kind = AppointmentTypeFactory(doctors=[doctor])
    desk = ReceptionFactory()
    appointment = book(desk, PatientFactory(), doctor, at(day, 10), kind)
    with pytest.raises(ValidationError):
        booking.appointment_reschedule(actor=desk, appointment=appointment, start=at(day, 11), doctor=other)
    assert Appointment.objects.get(pk=appointment.pk).doctor == doctor


# --- The database keeps the blocked ranges apart ------------------------------------------


def test_the_database_refuses_two_overlapping_blocked_ranges_of_one_doctor(day):
    """Past the Python checks (as a concurrent booking would be): the doctor's constraint holds.
    On SQLite the unique index catches the same blocked start; the locked re-check the rest."""
    doctor = DoctorFactory()
    AppointmentFactory(
        doctor=doctor,
        appointment_time=at(day, 10),
        blocked_from=at(day, 9, 50),
        blocked_until=at(day, 10, 40),
    )
    clash = AppointmentFactory.build(
        doctor=doctor,
        patient=PatientFactory(),
        appointment_time=at(day, 10, 30),
        blocked_from=at(day, 9, 50),
        blocked_until=at(day, 11),
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        clash.save()


def test_a_blocked_range_must_contain_its_appointment(day):
    with pytest.raises(IntegrityError), transaction.atomic():
        AppointmentFactory(appointment_time=at(day, 10), blocked_from=at(day, 10, 5))


# --- Managing the types --------------------------------------------------------------------


def test_the_front_desk_manages_types_and_others_may_not(day):
    desk, doctor = ReceptionFactory(), DoctorFactory()
    kind = booking.appointment_type_save(
        actor=desk, name="Follow-up", duration_minutes=15, buffer_after_minutes=5, doctors=[doctor]
    )
    assert list(kind.doctors.all()) == [doctor]
    with pytest.raises(PermissionDenied):
        booking.appointment_type_save(actor=doctor.user, appointment_type=kind, duration_minutes=60)
    with pytest.raises(ValidationError) as refused:
        booking.appointment_type_save(actor=desk, appointment_type=kind, duration_minutes=481, buffer_after_minutes=121)
    assert set(refused.value.message_dict) == {"duration_minutes", "buffer_after_minutes"}
    kind.refresh_from_db()
    assert (kind.duration_minutes, kind.buffer_after_minutes) == (15, 5)
    assert AppointmentType.objects.count() == 1
