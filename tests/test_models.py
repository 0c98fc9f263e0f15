"""The database itself refuses what must never be wrong, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest
import time_machine
from django.core import checks
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from clinic.models import Appointment, Doctor, MedicalRecord, Patient, TimeOff, User
from tests.factories import AppointmentFactory, DoctorFactory, MedicalRecordFactory, PatientFactory, UserFactory

pytestmark = pytest.mark.django_db


def _raw_appointment(patient, doctor, start, minutes=30, status=Appointment.Status.PENDING):
    """Insert through the ORM only: no validation, no booking service."""
    return Appointment.objects.create(
        patient=patient,
        doctor=doctor,
        appointment_time=start,
        ends_at=start + timedelta(minutes=minutes),
        blocked_from=start,
        blocked_until=start + timedelta(minutes=minutes),
        status=status,
    )


def test_doctor_cannot_have_two_live_appointments_at_one_start(next_monday_10):
    doctor = DoctorFactory()
    _raw_appointment(PatientFactory(), doctor, next_monday_10)
    with pytest.raises(IntegrityError), transaction.atomic():
        _raw_appointment(PatientFactory(), doctor, next_monday_10)
    assert Appointment.objects.count() == 1


def test_patient_cannot_be_with_two_doctors_at_one_start(next_monday_10):
    patient = PatientFactory()
    _raw_appointment(patient, DoctorFactory(), next_monday_10)
    with pytest.raises(IntegrityError), transaction.atomic():
        _raw_appointment(patient, DoctorFactory(), next_monday_10)
    assert Appointment.objects.count() == 1


@pytest.mark.postgres
def test_postgres_refuses_partly_overlapping_appointments(next_monday_10):
    doctor, patient = DoctorFactory(), PatientFactory()
    _raw_appointment(PatientFactory(), doctor, next_monday_10, minutes=60)
    with pytest.raises(IntegrityError, match="appointment_doctor_no_overlap"), transaction.atomic():
        _raw_appointment(PatientFactory(), doctor, next_monday_10 + timedelta(minutes=30))
    _raw_appointment(patient, DoctorFactory(), next_monday_10, minutes=45)
    with pytest.raises(IntegrityError, match="appointment_patient_no_overlap"), transaction.atomic():
        _raw_appointment(patient, DoctorFactory(), next_monday_10 + timedelta(minutes=15))
    # Touching ranges ([10:00, 11:00) and [11:00, 11:30)) do not overlap.
    _raw_appointment(PatientFactory(), doctor, next_monday_10 + timedelta(minutes=60))


@pytest.mark.postgres
def test_postgres_refuses_an_appointment_longer_than_the_overlap_search_reads(next_monday_10):
    doctor = DoctorFactory()
    _raw_appointment(PatientFactory(), doctor, next_monday_10, minutes=24 * 60)  # a day exactly
    with pytest.raises(IntegrityError, match=r"appointment_(length|blocked)_bounded"), transaction.atomic():
        _raw_appointment(PatientFactory(), doctor, next_monday_10 + timedelta(days=2), minutes=24 * 60 + 1)
    assert Appointment.objects.count() == 1


def test_full_clean_reports_a_partial_overlap_on_every_database(next_monday_10):
    doctor = DoctorFactory()
    _raw_appointment(PatientFactory(), doctor, next_monday_10, minutes=60)
    clash = Appointment(
        patient=PatientFactory(),
        doctor=doctor,
        appointment_time=next_monday_10 + timedelta(minutes=30),
        ends_at=next_monday_10 + timedelta(minutes=60),
        blocked_from=next_monday_10 + timedelta(minutes=30),
        blocked_until=next_monday_10 + timedelta(minutes=60),
    )
    with pytest.raises(ValidationError, match="The doctor already has an appointment at that time"):
        clash.full_clean()


def test_a_cancelled_slot_can_be_taken_again(next_monday_10):
    doctor = DoctorFactory()
    first = _raw_appointment(PatientFactory(), doctor, next_monday_10)
    first.status = Appointment.Status.CANCELLED
    first.save()
    again = _raw_appointment(PatientFactory(), doctor, next_monday_10)
    assert again.pk != first.pk
    assert Appointment.objects.live().get() == again


def test_email_is_unique_whatever_its_case():
    UserFactory(email="ada@example.test")
    with pytest.raises(IntegrityError), transaction.atomic():
        UserFactory(email="ADA@Example.TEST")
    assert User.objects.filter(email__iexact="ada@example.test").count() == 1


def test_username_is_unique_whatever_its_case():
    UserFactory(username="ada")
    with pytest.raises(IntegrityError), transaction.atomic():
        UserFactory(username="Ada")


def test_users_without_email_do_not_clash():
    UserFactory(email="")
    UserFactory(email="")
    assert User.objects.filter(email="").count() == 2


@pytest.mark.parametrize(
    ("fields", "constraint"),
    [
        ({"available_from": time(17, 0), "available_to": time(9, 0)}, "doctor_hours_ordered"),
        ({"available_from": time(9, 0), "available_to": time(9, 0)}, "doctor_hours_ordered"),
        ({"slot_minutes": 0}, "doctor_slot_positive"),
    ],
)
def test_doctor_constraints_refuse_bad_rows(fields, constraint):
    with pytest.raises(IntegrityError), transaction.atomic():
        DoctorFactory(**fields)
    assert not Doctor.objects.exists()


def test_appointment_status_must_be_one_of_three(next_monday_10):
    with pytest.raises(IntegrityError), transaction.atomic():
        _raw_appointment(PatientFactory(), DoctorFactory(), next_monday_10, status="done")
    assert not Appointment.objects.exists()


@pytest.mark.parametrize("minutes", [0, -30])
def test_appointment_must_end_after_it_starts(next_monday_10, minutes):
    with pytest.raises(IntegrityError), transaction.atomic():
        _raw_appointment(PatientFactory(), DoctorFactory(), next_monday_10, minutes=minutes)
    assert not Appointment.objects.exists()


def test_time_off_must_end_after_it_starts(next_monday_10):
    with pytest.raises(IntegrityError), transaction.atomic():
        TimeOff.objects.create(doctor=DoctorFactory(), starts_at=next_monday_10, ends_at=next_monday_10)


def test_working_days_are_validated():
    doctor = DoctorFactory.build(user=UserFactory(), working_days=[0, 7])
    with pytest.raises(ValidationError, match="Working days"):
        doctor.full_clean()
    doctor.working_days = [1, 1]
    with pytest.raises(ValidationError, match="Working days"):
        doctor.full_clean()


def test_database_refuses_a_record_whose_patient_is_not_the_appointments(next_monday_10):
    appointment = _raw_appointment(PatientFactory(), DoctorFactory(), next_monday_10)
    stranger = PatientFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        MedicalRecord.objects.create(
            patient=stranger, appointment=appointment, notes="x", author=appointment.doctor.user
        )
    record = MedicalRecord.objects.create(
        patient=appointment.patient, appointment=appointment, notes="x", author=appointment.doctor.user
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        MedicalRecord.objects.filter(pk=record.pk).update(patient=stranger)
    with pytest.raises(IntegrityError), transaction.atomic():
        Appointment.objects.filter(pk=appointment.pk).update(patient=stranger)
    record.refresh_from_db()
    assert record.patient == appointment.patient


def test_record_clean_refuses_a_patient_mismatch():
    record = MedicalRecordFactory()
    record.patient = PatientFactory()
    with pytest.raises(ValidationError, match="must be the patient of its appointment"):
        record.full_clean()


def test_deleting_a_patient_with_appointments_is_refused_and_deletes_nothing():
    appointment = AppointmentFactory()
    patient = appointment.patient
    with pytest.raises(ProtectedError), transaction.atomic():
        patient.delete()
    with pytest.raises(ProtectedError), transaction.atomic():
        patient.user.delete()
    assert Patient.objects.filter(pk=patient.pk).exists()
    assert User.objects.filter(pk=patient.user_id).exists()
    assert Appointment.objects.filter(pk=appointment.pk).exists()


def test_deleting_an_appointment_with_records_or_a_doctor_with_appointments_is_refused():
    record = MedicalRecordFactory()
    with pytest.raises(ProtectedError), transaction.atomic():
        record.appointment.delete()
    with pytest.raises(ProtectedError), transaction.atomic():
        record.appointment.doctor.delete()
    assert MedicalRecord.objects.filter(pk=record.pk).exists()


def test_seed_demo_twice_gives_the_same_counts():
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    counts = [m.objects.count() for m in (User, Patient, Doctor, Appointment, MedicalRecord)]
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert [m.objects.count() for m in (User, Patient, Doctor, Appointment, MedicalRecord)] == counts
    assert counts[1:] == [12, 4, counts[3], 4]
    statuses = set(Appointment.objects.values_list("status", flat=True))
    # Past visits completed, the next two weeks pending, confirmed or cancelled, and today as
    # the front desk would see it at this hour.
    assert {"pending", "confirmed", "cancelled", "completed"} <= statuses <= set(Appointment.Status.values)


def test_seed_demo_prints_the_logins(capsys):
    call_command("seed_demo")
    out = capsys.readouterr().out
    assert "admin / admin-demo-2026" in out
    assert "reception / reception-demo-2026" in out
    assert User.objects.get(username="admin").check_password("admin-demo-2026")


def test_history_records_the_acting_user(next_monday_10):
    actor = UserFactory()
    appointment = _raw_appointment(PatientFactory(), DoctorFactory(), next_monday_10)
    appointment._history_user = actor
    appointment.status = Appointment.Status.CONFIRMED
    appointment.save()
    latest = appointment.history.first()
    assert latest.history_user == actor
    assert latest.status == "confirmed"
    assert appointment.history.count() == 2


def test_history_middleware_records_the_request_user(client, next_monday_10):
    from django.test import RequestFactory
    from simple_history.models import HistoricalRecords

    actor = UserFactory()
    request = RequestFactory().get("/")
    request.user = actor
    HistoricalRecords.context.request = request
    try:
        patient = PatientFactory()
        patient.phone = "+1 555 9999"
        patient.save()
    finally:
        del HistoricalRecords.context.request
    assert patient.history.first().history_user == actor


def test_overlaps_are_found_from_the_longest_appointment_before(next_monday_10):
    """The overlap search reads only the day before a slot; the longest slot still falls inside it."""
    doctor = DoctorFactory(slot_minutes=480)
    _raw_appointment(PatientFactory(), doctor, next_monday_10 - timedelta(hours=7), minutes=480)
    clash = Appointment(
        patient=PatientFactory(),
        doctor=doctor,
        appointment_time=next_monday_10,
        ends_at=next_monday_10 + timedelta(minutes=30),
        blocked_from=next_monday_10,
        blocked_until=next_monday_10 + timedelta(minutes=30),
    )
    with pytest.raises(ValidationError, match="The doctor already has an appointment at that time"):
        clash.full_clean()
    assert Appointment.objects.overlapping(next_monday_10, next_monday_10 + timedelta(minutes=30)).count() == 1


@pytest.mark.parametrize("clock", ["09:00:03", "17:00:00"])
def test_the_system_checks_pass_at_the_hours_a_doctors_day_defaults_to(clock):
    """`check --deploy` fails on warnings, and Django warns of a fixed time default within
    seconds of that time of day: the default hours are callables, so no hour fails it."""
    at = timezone.make_aware(datetime.fromisoformat(f"2027-01-04T{clock}"))
    with time_machine.travel(at, tick=False):
        found = [m.id for m in checks.run_checks(tags=[checks.Tags.models])]
    assert "fields.W161" not in found
    assert Doctor().available_from == time(9, 0) and Doctor().available_to == time(17, 0)
