"""Demo data for trying the clinic out: staff, doctors, patients, appointments, records.

Idempotent: running it again changes nothing and prints the same logins.
"""

from __future__ import annotations

import random
from datetime import time, timedelta

from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from clinic.access import RECEPTION_GROUP
from clinic.booking import slots_free
from clinic.models import Appointment, Doctor, MedicalRecord, Patient, User

ADMIN = ("admin", "admin-demo-2026")
RECEPTION = ("reception", "reception-demo-2026")
DOCTOR_PASSWORD = "doctor-demo-2026"  # noqa: S105 (demo data)
PATIENT_PASSWORD = "patient-demo-2026"  # noqa: S105 (demo data)

DOCTORS = [
    ("dr.grey", "Meredith", "Grey", "General practice", time(8, 0), time(16, 0), 20, [0, 1, 2, 3, 4]),
    ("dr.house", "Gregory", "House", "Diagnostics", time(10, 0), time(18, 0), 30, [0, 1, 2, 3]),
    ("dr.ross", "Doug", "Ross", "Paediatrics", time(9, 0), time(15, 0), 30, [0, 2, 4, 5]),
    ("dr.yang", "Cristina", "Yang", "Cardiology", time(9, 0), time(17, 0), 45, [1, 2, 3, 4]),
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
            user = self._user(username, DOCTOR_PASSWORD, first, last)
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

        if not Appointment.objects.filter(patient__in=patients).exists():
            self._appointments(rng, doctors, patients, admin)

        self.stdout.write(self.style.SUCCESS("Demo data ready. Logins (username / password):"))
        self.stdout.write(f"  clinic admin  {ADMIN[0]} / {ADMIN[1]}")
        self.stdout.write(f"  reception     {RECEPTION[0]} / {RECEPTION[1]}")
        for username, *_ in DOCTORS:
            self.stdout.write(f"  doctor        {username} / {DOCTOR_PASSWORD}")
        self.stdout.write(f"  patients      patient1 … patient{len(PATIENTS)} / {PATIENT_PASSWORD}")

    def _user(self, username: str, password: str, first: str, last: str, **flags: bool) -> User:
        user, created = User.objects.get_or_create(
            username=username,
            defaults=dict(first_name=first, last_name=last, email=f"{username}@clinic.example", **flags),
        )
        if created:
            user.set_password(password)
            user.save(update_fields=["password"])
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
            visit = self._create(patient, doctor, start, Appointment.Status.CONFIRMED, "Consultation")
            MedicalRecord.objects.create(patient=patient, appointment=visit, notes=NOTES[index], author=doctor.user)

    def _create(self, patient, doctor, start, status, reason) -> Appointment:
        appointment = Appointment(
            patient=patient,
            doctor=doctor,
            appointment_time=start,
            ends_at=start + timedelta(minutes=doctor.slot_minutes),
            status=status,
            reason=reason,
        )
        appointment.full_clean()
        appointment.save()
        return appointment
