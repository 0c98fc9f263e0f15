"""Concurrent bookings of visit types of different lengths and buffers for one doctor, on both
databases: whatever wins, no two blocked ranges overlap, and every loser gets a 409."""

from __future__ import annotations

from collections import Counter
from datetime import time, timedelta
from itertools import pairwise

import pytest

from clinic.models import Appointment
from tests.api.test_races import _iso, _race
from tests.factories import AppointmentTypeFactory, DoctorFactory, PatientFactory

pytestmark = pytest.mark.django_db(transaction=True)

RACERS = 30
# (minutes, buffer before, buffer after)
SHAPES = [(15, 0, 0), (45, 0, 10), (30, 10, 15), (60, 5, 5), (30, 0, 30)]


def test_thirty_overlapping_typed_bookings_for_one_doctor_never_overlap(next_monday_10):
    doctor = DoctorFactory(slot_minutes=15, available_from=time(8, 0), available_to=time(14, 0))
    kinds = [
        AppointmentTypeFactory(duration_minutes=m, buffer_before_minutes=b, buffer_after_minutes=a, doctors=[doctor])
        for m, b, a in SHAPES
    ]
    patients = [PatientFactory() for _ in range(RACERS)]
    requests = []
    for index, patient in enumerate(patients):
        start = next_monday_10 + timedelta(minutes=15 * (index % 8))  # 10:00 to 11:45
        payload = {
            "doctor": doctor.pk,
            "appointment_time": _iso(start),
            "appointment_type": kinds[index % len(kinds)].pk,
        }
        requests.append((patient.user, "/book-appointment/", payload, {}))
    answers = _race(requests)
    statuses = Counter(status for status, _ in answers)
    assert set(statuses) <= {201, 409}, answers
    assert statuses[201] >= 1
    booked = list(Appointment.objects.filter(doctor=doctor).order_by("blocked_from"))
    assert len(booked) == statuses[201]
    for earlier, later in pairwise(booked):
        assert earlier.blocked_until <= later.blocked_from, (earlier, later)
