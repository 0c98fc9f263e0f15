"""Bulk, deterministic data at clinic-group scale, for benchmarks and admin tuning.

    python manage.py seed_scale --patients 100000 --doctors 50 --appointments 1000000 --records 50000

Rows respect every constraint: doctors share one slot grid, and at any slot the
doctors see distinct patients, so neither a doctor nor a patient is ever
double-booked. Generated rows skip the change history (bulk inserts).
"""

from __future__ import annotations

import random
import sys
from datetime import date, time, timedelta
from itertools import islice

from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from tqdm import tqdm

from clinic.booking import grid_starts
from clinic.models import (
    Appointment,
    AppointmentSeries,
    AppointmentType,
    Doctor,
    MedicalRecord,
    Patient,
    User,
    WaitlistEntry,
)

SCALE_TYPES = [("follow-up", 15, 0, 0), ("consultation", 45, 0, 10), ("procedure", 60, 10, 15)]
PASSWORD = "scale-demo-2026"  # noqa: S105 (generated data)
PREFIX = "scale"
SPECIALIZATIONS = [
    "General practice", "Cardiology", "Dermatology", "Paediatrics", "Orthopaedics",
    "Neurology", "Gynaecology", "Ophthalmology", "Psychiatry", "Diagnostics",
]  # fmt: skip
FIRST = ["Ada", "Alan", "Grace", "Edsger", "Barbara", "Donald", "Margaret", "Ken", "Frances", "John", "Radia", "Tim"]
LAST = ["Lovelace", "Turing", "Hopper", "Dijkstra", "Liskov", "Knuth", "Hamilton", "Thompson", "Allen", "Backus"]
FUTURE_DAYS = 60
# Weekly courses of visits made from the last weeks of the grid: how many, and visits in each.
SERIES = 2
SERIES_VISITS = 6
# One patient in this many waits for a time, for two weeks from tomorrow.
WAITLIST_EVERY = 100


def batched(iterable, size):
    iterator = iter(iterable)
    while chunk := list(islice(iterator, size)):
        yield chunk


class Command(BaseCommand):
    help = "Generate N patients, D doctors, M appointments and R medical records (seeded, bulk)."

    def add_arguments(self, parser):
        parser.add_argument("--patients", type=int, default=1000)
        parser.add_argument("--doctors", type=int, default=20)
        parser.add_argument("--appointments", type=int, default=10000)
        parser.add_argument("--records", type=int, default=1000)
        parser.add_argument("--seed", type=int, default=2026)
        parser.add_argument("--batch", type=int, default=5000)
        parser.add_argument("--quiet", action="store_true", help="no progress bars")

    def handle(self, *args, **opts):
        n_patients, n_doctors, n_appts, n_records = (
            opts["patients"],
            opts["doctors"],
            opts["appointments"],
            opts["records"],
        )
        if n_doctors < 1 or n_patients < n_doctors:
            raise CommandError("Need at least one doctor and at least as many patients as doctors.")
        if n_records > n_appts:
            raise CommandError("There cannot be more records than appointments.")
        if User.objects.filter(username=f"{PREFIX}-d0").exists():
            raise CommandError("Scale data is already present; use a fresh database.")
        self.rng = random.Random(opts["seed"])
        self.batch = opts["batch"]
        self.quiet = opts["quiet"]
        password = make_password(PASSWORD)

        doctor_users = self._users("d", n_doctors, password)
        doctors = self._create(
            Doctor,
            (
                Doctor(
                    user_id=user_id,
                    specialization=SPECIALIZATIONS[i % len(SPECIALIZATIONS)],
                    available_from=time(8, 0),
                    available_to=time(18, 0),
                    slot_minutes=30,
                    working_days=[0, 1, 2, 3, 4],
                )
                for i, user_id in enumerate(doctor_users)
            ),
            n_doctors,
            "doctors",
        )
        patient_users = self._users("p", n_patients, password)
        patients = self._create(
            Patient,
            (
                Patient(user_id=user_id, phone=f"+1 555 {i:07d}", insurance_number=f"INS-{i:08d}")
                for i, user_id in enumerate(patient_users)
            ),
            n_patients,
            "patients",
        )
        self._appointment_types(doctors)
        appointment_rows = self._appointments(doctors, patients, n_appts)
        self._records(appointment_rows, n_records)
        self._series(doctors)
        self._waitlist(doctors, patients)
        self.stdout.write(
            self.style.SUCCESS(
                f"Created {n_doctors} doctors, {n_patients} patients, {n_appts} appointments, {n_records} records. "
                f"Logins: {PREFIX}-d0 … / {PREFIX}-p0 … with password {PASSWORD}"
            )
        )

    # --- helpers ------------------------------------------------------------------

    def _progress(self, total: int, label: str):
        return tqdm(total=total, desc=label, unit="rows", disable=self.quiet, file=sys.stderr)

    def _create(self, model, objects, total: int, label: str) -> list[int]:
        """Insert in batches, one transaction per batch; return the new ids in order."""
        ids: list[int] = []
        with self._progress(total, label) as bar:
            for chunk in batched(objects, self.batch):
                with transaction.atomic():
                    created = model.objects.bulk_create(chunk, batch_size=self.batch)
                ids.extend(obj.pk for obj in created)
                bar.update(len(chunk))
        return ids

    def _users(self, kind: str, count: int, password: str) -> list[int]:
        return self._create(
            User,
            (
                User(
                    username=f"{PREFIX}-{kind}{i}",
                    email=f"{PREFIX}-{kind}{i}@clinic.example",
                    first_name=self.rng.choice(FIRST),
                    last_name=self.rng.choice(LAST),
                    password=password,
                )
                for i in range(count)
            ),
            count,
            f"users ({kind})",
        )

    def _grid_days(self, cells_per_day: int, total: int) -> list[date]:
        """Working days, about four in five of them past (and at least a week ahead, so that even a small
        seed has visits days away), enough to hold `total` appointments."""
        days: list[date] = []
        needed = -(-total // cells_per_day)
        day = timezone.localdate() + timedelta(days=min(FUTURE_DAYS, max(7, needed // 4)))
        while len(days) < needed:
            if day.weekday() < 5:
                days.append(day)
            day -= timedelta(days=1)
        return sorted(days)

    def _appointment_types(self, doctors: list[int]) -> None:
        """A few visit types with buffers, offered by every doctor (the generated appointments have none)."""
        offered_by = AppointmentType.doctors.through
        for name, minutes, before, after in SCALE_TYPES:
            kind, _ = AppointmentType.objects.get_or_create(
                name=f"{PREFIX} {name}",
                defaults={"duration_minutes": minutes, "buffer_before_minutes": before, "buffer_after_minutes": after},
            )
            offered_by.objects.bulk_create(
                [offered_by(appointmenttype_id=kind.pk, doctor_id=doctor_id) for doctor_id in doctors],
                batch_size=self.batch,
            )

    def _appointments(self, doctors: list[int], patients: list[int], total: int) -> list[tuple[int, int, int]]:
        """At each slot the doctors see distinct patients: patient = perm[(t * D + d) mod P]."""
        template = Doctor(
            available_from=time(8, 0), available_to=time(18, 0), slot_minutes=30, working_days=[0, 1, 2, 3, 4]
        )
        step = timedelta(minutes=template.slot_minutes)
        cells_per_day = len(grid_starts(template, date(2024, 1, 1))) * len(doctors)
        perm = patients[:]
        self.rng.shuffle(perm)
        now = timezone.now()
        rng = self.rng
        statuses = Appointment.Status

        def rows():
            produced = 0
            t = 0
            for day in self._grid_days(cells_per_day, total):
                for start in grid_starts(template, day):
                    for d, doctor_id in enumerate(doctors):
                        if produced == total:
                            return
                        patient_id = perm[(t * len(doctors) + d) % len(perm)]
                        roll = rng.random()
                        if start < now:
                            status = statuses.CANCELLED if roll < 0.08 else statuses.CONFIRMED
                        else:
                            status = (
                                statuses.CANCELLED
                                if roll < 0.1
                                else statuses.CONFIRMED
                                if roll < 0.55
                                else statuses.PENDING
                            )
                        produced += 1
                        yield Appointment(
                            patient_id=patient_id,
                            doctor_id=doctor_id,
                            appointment_time=start,
                            ends_at=start + step,
                            blocked_from=start,
                            blocked_until=start + step,
                            status=status,
                            reason="Check-up",
                        )
                    t += 1

        created: list[tuple[int, int, int]] = []
        with self._progress(total, "appointments") as bar:
            for chunk in batched(rows(), self.batch):
                with transaction.atomic():
                    objs = Appointment.objects.bulk_create(chunk, batch_size=self.batch)
                created.extend(
                    (o.pk, o.patient_id, o.doctor_id)
                    for o in objs
                    if o.status == statuses.CONFIRMED and o.appointment_time < now
                )
                bar.update(len(chunk))
        return created

    def _series(self, doctors: list[int]) -> None:
        """A weekly course of visits for the first doctors, on the grid's last weeks at 10:00: the
        doctor's appointments there, given to the first one's patient where they are free then
        (the grid has the patient elsewhere at most once a slot) and carry no record."""
        last = Appointment.objects.order_by("-appointment_time").values_list("appointment_time", flat=True).first()
        if last is None:
            return
        template = Doctor(
            available_from=time(8, 0), available_to=time(18, 0), slot_minutes=30, working_days=[0, 1, 2, 3, 4]
        )
        last_day = timezone.localdate(last)
        for doctor_id in doctors[:SERIES]:
            visits: list[Appointment] = []
            for week in range(SERIES_VISITS - 1, -1, -1):
                start = grid_starts(template, last_day - timedelta(weeks=week))[4]
                visit = (
                    Appointment.objects.live()
                    .filter(doctor_id=doctor_id, appointment_time=start, medical_records__isnull=True)
                    .first()
                )
                if visit is None:
                    continue
                patient_id = visits[0].patient_id if visits else visit.patient_id
                busy = Appointment.objects.live().filter(patient_id=patient_id, appointment_time=start)
                busy = busy.exclude(pk=visit.pk)
                if not busy.exists():
                    visits.append(visit)
            if len(visits) < 2:
                continue
            series = AppointmentSeries.objects.create(
                patient_id=visits[0].patient_id,
                doctor_id=doctor_id,
                every_weeks=1,
                count=len(visits),
                created_by_id=Doctor.objects.values_list("user_id", flat=True).get(pk=doctor_id),
            )
            Appointment.objects.filter(pk__in=[visit.pk for visit in visits]).update(
                patient_id=series.patient_id, series=series, reason="Physiotherapy course"
            )

    def _waitlist(self, doctors: list[int], patients: list[int]) -> None:
        """Every WAITLIST_EVERY-th patient waits for a doctor (or, one in two, the doctor's
        specialization), any time of day, over the next two weeks."""
        first = timezone.localdate() + timedelta(days=1)
        specialization = dict(Doctor.objects.filter(pk__in=doctors).values_list("pk", "specialization"))
        waiting = patients[::WAITLIST_EVERY]
        self._create(
            WaitlistEntry,
            (
                WaitlistEntry(
                    patient_id=patient_id,
                    doctor_id=None if n % 2 else doctors[n % len(doctors)],
                    specialization=specialization[doctors[n % len(doctors)]] if n % 2 else "",
                    date_from=first,
                    date_to=first + timedelta(days=13),
                )
                for n, patient_id in enumerate(waiting)
            ),
            len(waiting),
            "waitlist",
        )

    def _records(self, past_confirmed: list[tuple[int, int, int]], total: int) -> None:
        if total > len(past_confirmed):
            raise CommandError(f"Only {len(past_confirmed)} past confirmed appointments can carry records.")
        chosen = self.rng.sample(past_confirmed, total)
        author_of = dict(Doctor.objects.filter(pk__in={d for _, _, d in chosen}).values_list("pk", "user_id"))
        self._create(
            MedicalRecord,
            (
                MedicalRecord(
                    appointment_id=a, patient_id=p, author_id=author_of[d], notes="Routine visit; no concerns."
                )
                for a, p, d in chosen
            ),
            total,
            "records",
        )
