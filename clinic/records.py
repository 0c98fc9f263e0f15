"""Medical-record writes: the author is the acting user; the patient is the appointment's."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from clinic import access
from clinic.access import NOT_ALLOWED
from clinic.models import RECORD_PATIENT_MISMATCH, Appointment, MedicalRecord, Patient

if TYPE_CHECKING:
    from clinic.models import User


NO_VISIT = "No medical record is written for a cancelled appointment or a no-show."


@transaction.atomic
def medical_record_create(
    *, actor: User, appointment: Appointment, notes: str, patient: Patient | None = None
) -> MedicalRecord:
    """Write a record for `appointment`. `patient`, when given, must be the appointment's patient."""
    if not access.can_create_medical_record(actor, appointment):
        raise PermissionDenied(NOT_ALLOWED)
    if patient is not None and patient.pk != appointment.patient_id:
        raise ValidationError({"patient": [RECORD_PATIENT_MISMATCH]})
    _refuse_unless_visited(appointment)
    record = MedicalRecord(patient_id=appointment.patient_id, appointment=appointment, notes=notes, author=actor)
    record.full_clean()
    record._history_user = actor
    record.save()
    return record


@transaction.atomic
def medical_record_update(
    *,
    actor: User,
    record: MedicalRecord,
    notes: str | None = None,
    appointment: Appointment | None = None,
    patient: Patient | None = None,
) -> MedicalRecord:
    """Change a record's notes or move it to another appointment of the same patient."""
    if not access.can_change_medical_record(actor, record):
        raise PermissionDenied(NOT_ALLOWED)
    if appointment is not None and appointment.pk != record.appointment_id:
        if not access.can_create_medical_record(actor, appointment):
            raise PermissionDenied(NOT_ALLOWED)
        _refuse_unless_visited(appointment)
        record.appointment = appointment
    target_patient = patient.pk if patient is not None else record.patient_id
    if target_patient != record.appointment.patient_id:
        raise ValidationError({"patient": [RECORD_PATIENT_MISMATCH]})
    if notes is not None:
        record.notes = notes
    record.full_clean()
    record._history_user = actor
    record.save()
    return record


def _refuse_unless_visited(appointment: Appointment) -> None:
    """A record belongs to a visit: none for an appointment cancelled or missed."""
    if appointment.status in (Appointment.Status.CANCELLED, Appointment.Status.NO_SHOW):
        raise ValidationError({"appointment": [NO_VISIT]}, code="no_visit")
