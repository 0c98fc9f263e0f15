"""seed_scale: bulk data that respects every constraint, the same for the same seed."""

from __future__ import annotations

from itertools import pairwise

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count, F
from django.utils import timezone

from clinic.management.commands.seed_scale import WAITLIST_EVERY
from clinic.models import Appointment, AppointmentSeries, Doctor, MedicalRecord, Patient, User, WaitlistEntry

pytestmark = pytest.mark.django_db

ARGS = ["--patients", "40", "--doctors", "5", "--appointments", "900", "--records", "30", "--quiet"]


def _assignments():
    return list(
        Appointment.objects.order_by("appointment_time", "doctor__user__username").values_list(
            "patient__user__username", "doctor__user__username", "appointment_time", "status"
        )
    )


def test_seed_scale_creates_the_asked_counts_without_overlaps():
    call_command("seed_scale", *ARGS)
    assert (Patient.objects.count(), Doctor.objects.count()) == (40, 5)
    assert (Appointment.objects.count(), MedicalRecord.objects.count()) == (900, 30)
    live = Appointment.objects.live()
    for owner in ("doctor", "patient"):
        clashes = live.values(owner, "appointment_time").annotate(n=Count("id")).filter(n__gt=1)
        assert not clashes.exists(), owner
    assert not MedicalRecord.objects.exclude(patient_id=F("appointment__patient_id")).exists()
    assert set(Appointment.objects.values_list("status", flat=True)) == {"pending", "confirmed", "cancelled"}


def test_seed_scale_is_deterministic_and_refuses_to_run_twice():
    call_command("seed_scale", *ARGS)
    first = _assignments()
    with pytest.raises(CommandError, match="already present"):
        call_command("seed_scale", *ARGS)
    MedicalRecord.objects.all().delete()
    Appointment.objects.all().delete()
    AppointmentSeries.objects.all().delete()
    WaitlistEntry.objects.all().delete()
    Patient.objects.all().delete()
    Doctor.objects.all().delete()
    User.objects.all().delete()
    call_command("seed_scale", *ARGS)
    assert _assignments() == first


def test_seed_scale_makes_weekly_series_of_one_patient_at_one_time():
    call_command("seed_scale", *ARGS)
    assert AppointmentSeries.objects.count() == 2
    for series in AppointmentSeries.objects.all():
        visits = list(series.appointments.order_by("appointment_time"))
        assert len(visits) == series.count >= 2
        assert {v.patient_id for v in visits} == {series.patient_id}
        assert {v.doctor_id for v in visits} == {series.doctor_id}
        local = [timezone.localtime(v.appointment_time) for v in visits]
        # The same wall-clock time on the same weekday, whole weeks apart.
        assert {(t.weekday(), t.time()) for t in local} == {(local[0].weekday(), local[0].time())}
        assert all((later.date() - earlier.date()).days % 7 == 0 for earlier, later in pairwise(local))


def test_seed_scale_puts_one_patient_in_a_hundred_on_the_waitlist():
    call_command("seed_scale", *ARGS)
    entries = list(WaitlistEntry.objects.all())
    assert len(entries) == len(range(0, 40, WAITLIST_EVERY)) >= 1
    assert all(bool(e.doctor_id) != bool(e.specialization) for e in entries)
