"""Demo data for trying the clinic out: staff, doctors, patients, appointments, records.

The demo doctors are staff without a group, so the admin shows each of them as a doctor
(clinic/access.py): their own appointments, their patients and those patients' records.

Every demo doctor works all seven days, each with their own hours and slot length, so the
day the command runs always has a schedule to show, weekends included. That day (the
clinic-local date, settings.TIME_ZONE) gets about TODAY_SHARE of each working doctor's
slots booked, pending and confirmed, some already past and some still to come. A doctor
whose working days were changed since and who does not work today gets none.

Idempotent: running it again the same day changes nothing and prints the same logins. The
people are made once, and so are the past visits with records and the next two weeks (on
the first run). Today's schedule is planned from the date and the doctor alone, so a rerun
plans the same visits, finds their slots taken and adds nothing; a run on a later day fills
that day in.
"""

from __future__ import annotations

import random
from datetime import time, timedelta

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from clinic.access import RECEPTION_GROUP
from clinic.booking import (
    SeriesConflict,
    appointment_book,
    day_bounds,
    grid_starts,
    series_book,
    slots_free,
    slots_free_for,
)
from clinic.models import Appointment, AppointmentType, Doctor, MedicalRecord, Patient, User

ADMIN = ("admin", "admin-demo-2026")
RECEPTION = ("reception", "reception-demo-2026")
DOCTOR_PASSWORD = "doctor-demo-2026"  # noqa: S105 (demo data)
PATIENT_PASSWORD = "patient-demo-2026"  # noqa: S105 (demo data)

EVERY_DAY = [0, 1, 2, 3, 4, 5, 6]
DOCTORS = [
    ("dr.grey", "Meredith", "Grey", "General practice", time(8, 0), time(16, 0), 20, EVERY_DAY),
    ("dr.house", "Gregory", "House", "Diagnostics", time(10, 0), time(18, 0), 30, EVERY_DAY),
    ("dr.ross", "Doug", "Ross", "Paediatrics", time(9, 0), time(15, 0), 30, EVERY_DAY),
    ("dr.yang", "Cristina", "Yang", "Cardiology", time(9, 0), time(17, 0), 45, EVERY_DAY),
]
PATIENTS = [
    ("Ada", "Lovelace"), ("Alan", "Turing"), ("Grace", "Hopper"), ("Edsger", "Dijkstra"),
    ("Barbara", "Liskov"), ("Donald", "Knuth"), ("Margaret", "Hamilton"), ("Ken", "Thompson"),
    ("Frances", "Allen"), ("John", "Backus"), ("Radia", "Perlman"), ("Tim", "Berners-Lee"),
]  # fmt: skip
NOTES = [
    "Blood pressure 128/82. Advised more exercise; review in three months.",
    "Seasonal allergies. Prescribed cetirizine 10 mg daily.",
    "Follow-up after flu: recovered, lungs clear.",
    "ECG normal. No further tests needed.",
]
# Today's schedule: the share of each doctor's slots that is booked, and what the visits are for.
# Visit types: (name, minutes, buffer before, buffer after, colour, patients book it online).
APPOINTMENT_TYPES = [
    ("Follow-up", 15, 0, 0, "#2f855a", True),
    ("New patient consultation", 45, 0, 10, "#2b6cb0", True),
    ("Minor procedure", 30, 10, 15, "#b7791f", False),
]
TODAY_SHARE = 0.4
TODAY_REASONS = [
    "Check-up",
    "Follow-up",
    "Blood pressure review",
    "Persistent cough",
    "Vaccination",
    "Test results",
    "Back pain",
    "Prescription renewal",
]


class Command(BaseCommand):
    help = "Load idempotent demo data and print the demo logins."

    @transaction.atomic
    def handle(self, *args, **options) -> None:
        rng = random.Random(2026)
        admin = self._user(ADMIN[0], ADMIN[1], "Clinic", "Admin", is_staff=True, is_superuser=True)
        reception = self._user(RECEPTION[0], RECEPTION[1], "Rita", "Reception", is_staff=True)
        reception.groups.add(Group.objects.get(name=RECEPTION_GROUP))

        doctors = []
        for username, first, last, specialization, start, end, slot, days in DOCTORS:
            user = self._user(username, DOCTOR_PASSWORD, first, last, is_staff=True)
            doctor, _ = Doctor.objects.get_or_create(
                user=user,
                defaults=dict(
                    specialization=specialization,
                    available_from=start,
                    available_to=end,
                    slot_minutes=slot,
                    working_days=days,
                ),
            )
            doctors.append(doctor)

        patients = []
        for index, (first, last) in enumerate(PATIENTS, start=1):
            user = self._user(f"patient{index}", PATIENT_PASSWORD, first, last)
            patient, _ = Patient.objects.get_or_create(
                user=user,
                defaults=dict(phone=f"+1 555 01{index:02d}", insurance_number=f"INS-{100000 + index * 7919}"),
            )
            patients.append(patient)

        types = self._appointment_types(doctors)
        if not Appointment.objects.filter(patient__in=patients).exists():
            self._appointments(rng, doctors, patients, admin)
            self._typed_visits(rng, doctors, patients, types, reception)
            self._series(doctors, patients, types, reception)
        self._today(doctors, patients)

        self.stdout.write(self.style.SUCCESS("Demo data ready. Logins (username / password):"))
        self.stdout.write(f"  clinic admin  {ADMIN[0]} / {ADMIN[1]}")
        self.stdout.write(f"  reception     {RECEPTION[0]} / {RECEPTION[1]}")
        for username, *_ in DOCTORS:
            self.stdout.write(f"  doctor        {username} / {DOCTOR_PASSWORD}")
        self.stdout.write(f"  patients      patient1 … patient{len(PATIENTS)} / {PATIENT_PASSWORD}")
        if settings.MFA_REQUIRED_FOR_STAFF:
            self.stdout.write(
                "Staff sign in with a second factor: at their first sign-in they set up an authenticator app."
            )
        else:
            self.stdout.write(
                "Staff sign in with a password only; MFA_REQUIRED_FOR_STAFF=true requires a second factor."
            )

    def _user(self, username: str, password: str, first: str, last: str, **flags: bool) -> User:
        user, created = User.objects.get_or_create(
            username=username,
            defaults=dict(first_name=first, last_name=last, email=f"{username}@clinic.example", **flags),
        )
        if created:
            user.set_password(password)
            user.save(update_fields=["password"])
            return user
        # A demo database from before a user had these flags gets them once.
        missing = [flag for flag, value in flags.items() if getattr(user, flag) != value]
        if missing:
            for flag in missing:
                setattr(user, flag, flags[flag])
            user.save(update_fields=missing)
        return user

    def _appointments(self, rng: random.Random, doctors, patients, author: User) -> None:
        """Some past visits with records, and the next two weeks in every status."""
        today = timezone.localdate()
        statuses = [Appointment.Status.PENDING, Appointment.Status.CONFIRMED, Appointment.Status.CANCELLED]
        for offset in range(1, 15):
            day = today + timedelta(days=offset)
            for doctor in doctors:
                free = slots_free(doctor=doctor, day=day)
                for start in rng.sample(free, k=min(2, len(free))):
                    try:
                        self._create(rng.choice(patients), doctor, start, rng.choice(statuses), "Check-up")
                    except ValidationError:  # that patient is busy then: leave the slot free
                        continue
        for index, patient in enumerate(patients[:4]):
            doctor = doctors[index % len(doctors)]
            day = today - timedelta(days=7 + index)
            start = timezone.make_aware(timezone.datetime.combine(day, doctor.available_from))
            visit = self._create(patient, doctor, start, Appointment.Status.COMPLETED, "Consultation")
            MedicalRecord.objects.create(patient=patient, appointment=visit, notes=NOTES[index], author=doctor.user)

    def _appointment_types(self, doctors) -> list[AppointmentType]:
        """The demo's visit types, offered by every demo doctor."""
        types = []
        for name, minutes, before, after, color, online in APPOINTMENT_TYPES:
            kind, created = AppointmentType.objects.get_or_create(
                name=name,
                defaults={
                    "duration_minutes": minutes,
                    "buffer_before_minutes": before,
                    "buffer_after_minutes": after,
                    "color": color,
                    "bookable_online": online,
                },
            )
            if created:
                kind.doctors.set(doctors)
            types.append(kind)
        return types

    def _typed_visits(self, rng: random.Random, doctors, patients, types, reception: User) -> None:
        """A few visits of each type over the coming days, booked as the front desk would."""
        today = timezone.localdate()
        for offset in range(2, 9):
            for kind in types:
                doctor = rng.choice(doctors)
                free = slots_free(doctor=doctor, day=today + timedelta(days=offset), appointment_type=kind)
                if not free:
                    continue
                try:
                    appointment_book(
                        actor=reception,
                        patient=rng.choice(patients),
                        doctor=doctor,
                        start=rng.choice(free),
                        appointment_type=kind,
                        reason=kind.name,
                    )
                except ValidationError:  # that patient is busy then
                    continue

    def _series(self, doctors, patients, types, reception: User) -> None:
        """Two courses of visits: six weekly follow-ups, and four fortnightly consultations."""
        today = timezone.localdate()
        for patient, doctor, kind, every_weeks, count in (
            (patients[1], doctors[0], types[0], 1, 6),
            (patients[2], doctors[1], types[1], 2, 4),
        ):
            day = today + timedelta(days=3)
            free = slots_free(doctor=doctor, day=day, appointment_type=kind)
            while not free and day < today + timedelta(days=30):
                day += timedelta(days=1)
                free = slots_free(doctor=doctor, day=day, appointment_type=kind)
            if not free:
                continue
            try:
                series_book(
                    actor=reception,
                    patient=patient,
                    doctor=doctor,
                    start=free[len(free) // 2],
                    appointment_type=kind,
                    every_weeks=every_weeks,
                    count=count,
                    skip_conflicts=True,
                    reason=f"Course of {kind.name.lower()}s",
                )
            except SeriesConflict:  # none of its times free: the demo goes without it
                continue

    def _today(self, doctors, patients) -> None:
        """About TODAY_SHARE of each doctor's slots today, as the front desk would see them now:
        earlier visits completed or missed, the current one with the doctor, the next ones
        checked in or confirmed, later ones confirmed or pending.

        The slots are drawn from the doctor's grid with a generator seeded by the date and the
        doctor, whatever the time, and only those still free are booked: a rerun the same day
        draws the same slots and books none. Each goes to the first patient, in a rotation per
        doctor, who has nothing else then.
        """
        today = timezone.localdate()
        now = timezone.now()
        # The day's free slots as they stood before it began: every grid slot without an
        # appointment or time off, past ones included (the booking window would drop them).
        before_the_day = day_bounds(today)[0] - timedelta(minutes=settings.BOOKING_MIN_NOTICE_MINUTES)
        free = slots_free_for(doctors=doctors, day=today, now=before_the_day)
        for number, doctor in enumerate(doctors):
            rng = random.Random(f"{today.isoformat()} {doctor.user.username}")
            grid = grid_starts(doctor, today)
            starts = sorted(rng.sample(grid, k=round(len(grid) * TODAY_SHARE)))
            plans = [(start, rng.random(), rng.choice(TODAY_REASONS)) for start in starts]
            for index, (start, draw, reason) in enumerate(plans):
                if start not in free[doctor.pk]:
                    continue
                status = _todays_status(start, start + timedelta(minutes=doctor.slot_minutes), now, draw)
                first = number * 3 + index
                for offset in range(len(patients)):
                    try:
                        self._create(patients[(first + offset) % len(patients)], doctor, start, status, reason)
                    except ValidationError:  # that patient is busy then: ask the next one
                        continue
                    break

    def _create(self, patient, doctor, start, status, reason) -> Appointment:
        end = start + timedelta(minutes=doctor.slot_minutes)
        appointment = Appointment(
            patient=patient,
            doctor=doctor,
            appointment_time=start,
            ends_at=end,
            blocked_from=start,
            blocked_until=end,
            status=status,
            reason=reason,
            # The times the visit's moves would have stamped.
            arrived_at=start - timedelta(minutes=10) if status in VISITED else None,
            started_at=start if status in (Status.IN_PROGRESS, Status.COMPLETED) else None,
            completed_at=end if status == Status.COMPLETED else None,
        )
        appointment.full_clean()
        appointment.save()
        return appointment


Status = Appointment.Status
VISITED = (Status.ARRIVED, Status.IN_PROGRESS, Status.COMPLETED)


def _todays_status(start, end, now, draw: float) -> str:
    """Where a visit of today stands at `now`; `draw` (0–1) picks among the likely ones."""
    if end <= now:
        return Status.NO_SHOW if draw < 0.15 else Status.COMPLETED
    if start <= now:
        return Status.IN_PROGRESS
    if start - now <= timedelta(minutes=30):
        return Status.ARRIVED if draw < 0.6 else Status.CONFIRMED
    return Status.CONFIRMED if draw < 0.5 else Status.PENDING
