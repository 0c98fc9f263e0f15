"""Factories for the clinic's models (factory_boy)."""

from __future__ import annotations

import importlib
from datetime import UTC, time, timedelta

import factory
from django.apps import apps as django_apps
from django.contrib.auth.models import Group

from clinic.access import RECEPTION_GROUP
from clinic.models import Appointment, AppointmentType, Doctor, MedicalRecord, Patient, TimeOff, User

PASSWORD = "a-Strong-pass-4-tests"


def reception_group() -> Group:
    """The "Reception" group of migration 0002, made again if a transactional test flushed it."""
    group = Group.objects.filter(name=RECEPTION_GROUP).first()
    if group is None:
        migration = importlib.import_module("clinic.migrations.0002_record_patient_trigger_reception_group")
        migration.create_reception_group(django_apps, None)
        importlib.import_module("clinic.migrations.0009_appointment_types_blocked_range").grant_reception(
            django_apps, None
        )
        importlib.import_module("clinic.migrations.0011_waitlist").grant_reception(django_apps, None)
        importlib.import_module("clinic.migrations.0012_waitlist_offers").grant_reception(django_apps, None)
        group = Group.objects.get(name=RECEPTION_GROUP)
    return group


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.test")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    password = factory.django.Password(PASSWORD)


class ReceptionFactory(UserFactory):
    is_staff = True

    @factory.post_generation
    def reception_group(obj, create, extracted, **kwargs):
        if create:
            obj.groups.add(reception_group())


class AdminFactory(UserFactory):
    is_staff = True
    is_superuser = True


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Patient

    user = factory.SubFactory(UserFactory)
    phone = factory.Sequence(lambda n: f"+1 555 {n:04d}")
    insurance_number = factory.Sequence(lambda n: f"INS-{n:06d}")


class DoctorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Doctor

    user = factory.SubFactory(UserFactory)
    specialization = "General practice"
    available_from = time(9, 0)
    available_to = time(17, 0)
    slot_minutes = 30
    working_days = factory.LazyFunction(lambda: [0, 1, 2, 3, 4, 5, 6])


class AppointmentTypeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AppointmentType
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Visit type {n}")
    duration_minutes = 30

    @factory.post_generation
    def doctors(obj, create, extracted, **kwargs):
        if create and extracted:
            obj.doctors.set(extracted)


class TimeOffFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TimeOff

    doctor = factory.SubFactory(DoctorFactory)
    reason = "Holiday"


class AppointmentFactory(factory.django.DjangoModelFactory):
    """Written straight to the database: no booking rules, no emails."""

    class Meta:
        model = Appointment

    patient = factory.SubFactory(PatientFactory)
    doctor = factory.SubFactory(DoctorFactory)
    appointment_time = factory.Faker("future_datetime", end_date="+30d", tzinfo=UTC)
    ends_at = factory.LazyAttribute(lambda a: a.appointment_time + timedelta(minutes=a.doctor.slot_minutes))
    # Without a type, the doctor's time blocked is the appointment itself.
    blocked_from = factory.LazyAttribute(lambda a: a.appointment_time)
    blocked_until = factory.LazyAttribute(lambda a: a.ends_at)
    status = Appointment.Status.PENDING
    reason = "Check-up"


class MedicalRecordFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MedicalRecord

    appointment = factory.SubFactory(AppointmentFactory)
    patient = factory.LazyAttribute(lambda r: r.appointment.patient)
    author = factory.LazyAttribute(lambda r: r.appointment.doctor.user)
    notes = "Feeling better."


def waitlist_entry(patient, doctor=None, *, day, days: int = 0, **extra):
    """`patient` joins the waitlist themselves (booking.waitlist_join) from `day`, for `days` more."""
    from clinic import booking

    return booking.waitlist_join(
        actor=patient.user, patient=patient, doctor=doctor, date_from=day, date_to=day + timedelta(days=days), **extra
    )
