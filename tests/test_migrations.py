"""Migration 0009 on a database with appointments: every one keeps its range, and the doctor's
blocked range it gets is exactly that range (nothing moves, no new overlap)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("clinic", "0008_visit_lifecycle")]
AFTER = [("clinic", "0009_appointment_types_blocked_range")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def test_old_appointments_keep_their_range_and_block_exactly_it():
    old = _migrate(BEFORE)
    User, Patient, Doctor, Appointment = (
        old.get_model("clinic", name) for name in ("User", "Patient", "Doctor", "Appointment")
    )
    doctor = Doctor.objects.create(
        user=User.objects.create(username="dr-old", email="dr-old@example.test"), specialization="GP"
    )
    start = datetime(2031, 5, 5, 9, 0, tzinfo=UTC)
    ranges = {}
    for index in range(4):
        patient = Patient.objects.create(
            user=User.objects.create(username=f"p-old-{index}", email=f"p{index}@example.test")
        )
        begin = start + timedelta(minutes=30 * index)
        appointment = Appointment.objects.create(
            patient=patient, doctor=doctor, appointment_time=begin, ends_at=begin + timedelta(minutes=30)
        )
        ranges[appointment.pk] = (begin, begin + timedelta(minutes=30))
    try:
        new = _migrate(AFTER)
        rows = new.get_model("clinic", "Appointment").objects.values_list(
            "pk", "appointment_time", "ends_at", "blocked_from", "blocked_until", "appointment_type_id"
        )
        assert {pk: (s, e) for pk, s, e, _, _, _ in rows} == ranges
        assert all((b_from, b_until, kind) == (s, e, None) for _, s, e, b_from, b_until, kind in rows)
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
