"""Medical records in the admin: author from the request, patient and appointment kept consistent."""

from __future__ import annotations

import pytest
from django.urls import reverse

from clinic.models import RECORD_PATIENT_MISMATCH, MedicalRecord
from tests import factories

pytestmark = pytest.mark.django_db

ADD = "admin:clinic_medicalrecord_add"


def test_a_doctors_new_record_has_them_as_author(doctor_client, staff_doctor, next_monday_10):
    appointment = factories.AppointmentFactory(doctor=staff_doctor, appointment_time=next_monday_10)
    response = doctor_client.post(
        reverse(ADD), {"patient": appointment.patient_id, "appointment": appointment.pk, "notes": "Rest a week."}
    )
    assert response.status_code == 302
    record = MedicalRecord.objects.get()
    assert (record.author, record.patient_id, record.notes) == (
        staff_doctor.user,
        appointment.patient_id,
        "Rest a week.",
    )
    assert record.history.latest().history_user == staff_doctor.user


def test_a_record_whose_patient_is_not_the_appointments_is_a_form_error(admin_client_, next_monday_10):
    appointment = factories.AppointmentFactory(appointment_time=next_monday_10)
    stranger = factories.PatientFactory()
    response = admin_client_.post(
        reverse(ADD), {"patient": stranger.pk, "appointment": appointment.pk, "notes": "Misfiled."}
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["patient"] == [RECORD_PATIENT_MISMATCH]
    assert not MedicalRecord.objects.exists()


def test_a_doctor_cannot_write_a_record_for_another_doctors_appointment(doctor_client, clinic):
    other = clinic.other_appointment
    response = doctor_client.post(
        reverse(ADD), {"patient": other.patient_id, "appointment": other.pk, "notes": "Not mine."}
    )
    assert response.status_code == 200
    assert MedicalRecord.objects.filter(notes="Not mine.").count() == 0


def test_editing_a_record_keeps_its_author_and_records_who_changed_it(admin_client_, clinic_admin, clinic):
    record = clinic.own_record
    response = admin_client_.post(
        reverse("admin:clinic_medicalrecord_change", args=[record.pk]),
        {"patient": record.patient_id, "appointment": record.appointment_id, "notes": "Amended."},
    )
    assert response.status_code == 302
    record.refresh_from_db()
    assert (record.notes, record.author) == ("Amended.", clinic.doctor.user)
    assert record.history.latest().history_user == clinic_admin
    history = admin_client_.get(reverse("admin:clinic_medicalrecord_history", args=[record.pk])).content.decode()
    assert "Amended." in history or "notes" in history.lower()


def test_a_doctor_cannot_edit_a_record_of_another_doctors_appointment(doctor_client, staff_doctor, clinic):
    # The other doctor's appointment with the same patient: the record is visible but not the doctor's to edit.
    shared = factories.AppointmentFactory(patient=clinic.own_patient, appointment_time=clinic.own_appointment.ends_at)
    record = factories.MedicalRecordFactory(appointment=shared)
    url = reverse("admin:clinic_medicalrecord_change", args=[record.pk])
    page = doctor_client.get(url)
    assert page.status_code == 200
    assert 'name="notes"' not in page.content.decode()
    response = doctor_client.post(
        url, {"patient": record.patient_id, "appointment": record.appointment_id, "notes": "Overwritten."}
    )
    assert response.status_code == 403
    record.refresh_from_db()
    assert record.notes == "Feeling better."
