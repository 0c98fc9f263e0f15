"""The appointment admin writes through clinic/booking.py: same rules, same emails, errors as form errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.messages import get_messages
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from clinic import booking
from clinic.models import DOCTOR_OVERLAP, PATIENT_OVERLAP, Appointment, EmailOutbox, MedicalRecord
from tests import factories

pytestmark = pytest.mark.django_db

Status = Appointment.Status
CHANGELIST = "admin:clinic_appointment_changelist"
NO_RECORDS = {
    "medical_records-TOTAL_FORMS": "0",
    "medical_records-INITIAL_FORMS": "0",
    "medical_records-MIN_NUM_FORMS": "0",
    "medical_records-MAX_NUM_FORMS": "1000",
}


def _form_data(*, patient, doctor, start, reason="Check-up", **extra) -> dict[str, str]:
    return {
        "patient": str(patient.pk),
        "doctor": str(doctor.pk),
        "appointment_time_0": start.strftime("%Y-%m-%d"),
        "appointment_time_1": start.strftime("%H:%M:%S"),
        "reason": reason,
        **NO_RECORDS,
        **extra,
    }


def _run_action(client, action: str, appointments) -> list:
    response = client.post(
        reverse(CHANGELIST),
        {"action": action, "_selected_action": [str(a.pk) for a in appointments]},
    )
    assert response.status_code == 302
    return [(m.level_tag, m.message) for m in get_messages(response.wsgi_request)]


# --- Actions ---------------------------------------------------------------------------


def test_confirm_action_confirms_pending_refuses_others_and_emails_once(
    reception_client, next_monday_10, django_capture_on_commit_callbacks
):
    pending = factories.AppointmentFactory(appointment_time=next_monday_10)
    confirmed = factories.AppointmentFactory(appointment_time=next_monday_10, status=Status.CONFIRMED)
    cancelled = factories.AppointmentFactory(appointment_time=next_monday_10, status=Status.CANCELLED)

    with django_capture_on_commit_callbacks(execute=True):
        notes = _run_action(reception_client, "confirm_appointments", [pending, confirmed, cancelled])

    for appointment, status in (
        (pending, Status.CONFIRMED),
        (confirmed, Status.CONFIRMED),
        (cancelled, Status.CANCELLED),
    ):
        appointment.refresh_from_db()
        assert appointment.status == status
    warnings = [text for level, text in notes if level == "warning"]
    assert len(warnings) == 2
    assert any(booking.ALREADY_CONFIRMED in text for text in warnings)
    assert any(booking.CANCELLED_IS_FINAL in text for text in warnings)
    assert ("success", "1 appointment confirmed; the patients are notified by email.") in notes
    assert [message.to for message in mail.outbox] == [[pending.patient.user.email]]
    assert EmailOutbox.objects.filter(appointment=pending, kind="confirmed").count() == 1


def test_the_visit_actions_check_in_and_mark_no_shows_within_their_windows(reception_client):
    import time_machine
    from django.utils import timezone

    now = booking.day_bounds(timezone.localdate())[0] + timedelta(hours=12)
    with time_machine.travel(now, tick=False):
        _visit_actions(reception_client, now)


def _visit_actions(reception_client, now):
    arriving = factories.AppointmentFactory(appointment_time=now + timedelta(minutes=30), status=Status.CONFIRMED)
    too_early = factories.AppointmentFactory(appointment_time=now + timedelta(hours=3), status=Status.CONFIRMED)
    missed = factories.AppointmentFactory(appointment_time=now - timedelta(minutes=30), status=Status.CONFIRMED)
    notes = _run_action(reception_client, "check_in_appointments", [arriving])
    assert ("success", "1 appointment checked in.") in notes
    notes = _run_action(reception_client, "no_show_appointments", [missed, too_early])
    assert ("success", "1 appointment marked as a no-show.") in notes
    warnings = [text for level, text in notes if level == "warning"]
    assert warnings == [f"{too_early}: not marked as a no-show. {booking.NO_SHOW_TOO_EARLY.format(minutes=15)}"]
    statuses = dict(Appointment.objects.values_list("pk", "status"))
    assert statuses == {arriving.pk: Status.ARRIVED, too_early.pk: Status.CONFIRMED, missed.pk: Status.NO_SHOW}
    assert not EmailOutbox.objects.exists()


def test_the_changelist_filters_by_the_visits_statuses(reception_client, next_monday_10):
    done = factories.AppointmentFactory(appointment_time=next_monday_10, status=Status.COMPLETED)
    factories.AppointmentFactory(appointment_time=next_monday_10, status=Status.CONFIRMED)
    page = reception_client.get(reverse("admin:clinic_appointment_changelist"), {"status__exact": "completed"})
    assert page.context["cl"].result_list[0] == done and len(page.context["cl"].result_list) == 1
    assert "No-show" in page.content.decode() and "With the doctor" in page.content.decode()


def test_cancel_action_cancels_pending_and_confirmed_refuses_cancelled_and_emails_each(
    admin_client_, next_monday_10, django_capture_on_commit_callbacks
):
    pending = factories.AppointmentFactory(appointment_time=next_monday_10)
    confirmed = factories.AppointmentFactory(appointment_time=next_monday_10, status=Status.CONFIRMED)
    cancelled = factories.AppointmentFactory(appointment_time=next_monday_10, status=Status.CANCELLED)

    with django_capture_on_commit_callbacks(execute=True):
        notes = _run_action(admin_client_, "cancel_appointments", [pending, confirmed, cancelled])

    assert set(Appointment.objects.values_list("status", flat=True)) == {Status.CANCELLED}
    warnings = [text for level, text in notes if level == "warning"]
    assert len(warnings) == 1
    assert booking.CANCELLED_IS_FINAL in warnings[0]
    assert sorted(m.to[0] for m in mail.outbox) == sorted([pending.patient.user.email, confirmed.patient.user.email])


def test_doctor_confirms_own_appointments_only(doctor_client, clinic, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _run_action(doctor_client, "confirm_appointments", [clinic.own_appointment, clinic.other_appointment])
    clinic.own_appointment.refresh_from_db()
    clinic.other_appointment.refresh_from_db()
    assert clinic.own_appointment.status == Status.CONFIRMED
    # Outside the doctor's queryset: not even offered to the action.
    assert clinic.other_appointment.status == Status.PENDING
    assert len(mail.outbox) == 1


# --- Add and change forms -------------------------------------------------------------


def test_booking_in_the_add_form_creates_a_pending_appointment_and_emails_the_patient(
    reception_client, patient, doctor, next_monday_10, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = reception_client.post(
            reverse("admin:clinic_appointment_add"), _form_data(patient=patient, doctor=doctor, start=next_monday_10)
        )
    assert response.status_code == 302
    appointment = Appointment.objects.get()
    assert (appointment.patient, appointment.doctor, appointment.status) == (patient, doctor, Status.PENDING)
    assert appointment.ends_at == next_monday_10 + timedelta(minutes=doctor.slot_minutes)
    assert appointment.history.latest().history_user is not None
    assert [m.to for m in mail.outbox] == [[patient.user.email]]


def test_saving_an_overlapping_appointment_shows_a_form_error_and_writes_nothing(
    reception_client, doctor, next_monday_10, django_capture_on_commit_callbacks
):
    taken = factories.AppointmentFactory(doctor=doctor, appointment_time=next_monday_10)
    newcomer = factories.PatientFactory()

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = reception_client.post(
            reverse("admin:clinic_appointment_add"),
            _form_data(patient=newcomer, doctor=doctor, start=next_monday_10 + timedelta(minutes=0)),
        )

    assert response.status_code == 200
    assert DOCTOR_OVERLAP in response.content.decode()
    assert list(Appointment.objects.all()) == [taken]
    assert not EmailOutbox.objects.exists()
    assert callbacks == []
    assert mail.outbox == []


def test_a_patient_already_booked_elsewhere_is_a_form_error(reception_client, patient, next_monday_10):
    factories.AppointmentFactory(patient=patient, appointment_time=next_monday_10)
    other_doctor = factories.DoctorFactory()
    response = reception_client.post(
        reverse("admin:clinic_appointment_add"), _form_data(patient=patient, doctor=other_doctor, start=next_monday_10)
    )
    assert response.status_code == 200
    assert PATIENT_OVERLAP in response.content.decode()
    assert Appointment.objects.count() == 1


def test_a_time_off_the_slot_grid_is_a_form_error(reception_client, patient, doctor, next_monday_10):
    response = reception_client.post(
        reverse("admin:clinic_appointment_add"),
        _form_data(patient=patient, doctor=doctor, start=next_monday_10 + timedelta(minutes=10)),
    )
    assert response.status_code == 200
    assert "start every 30 minutes" in response.content.decode()
    assert not Appointment.objects.exists()


def test_moving_an_appointment_onto_a_taken_slot_is_a_form_error_and_changes_nothing(
    reception_client, doctor, next_monday_10
):
    factories.AppointmentFactory(doctor=doctor, appointment_time=next_monday_10)
    later = next_monday_10 + timedelta(hours=2)
    moving = factories.AppointmentFactory(doctor=doctor, appointment_time=later)
    response = reception_client.post(
        reverse("admin:clinic_appointment_change", args=[moving.pk]),
        _form_data(patient=moving.patient, doctor=doctor, start=next_monday_10, status=Status.PENDING),
    )
    assert response.status_code == 200
    assert DOCTOR_OVERLAP in response.content.decode()
    moving.refresh_from_db()
    assert moving.appointment_time == later
    assert moving.sequence == 0


def test_rescheduling_in_the_change_form_moves_the_appointment_and_emails(
    reception_client, doctor, next_monday_10, django_capture_on_commit_callbacks
):
    appointment = factories.AppointmentFactory(doctor=doctor, appointment_time=next_monday_10)
    new_start = next_monday_10 + timedelta(hours=1)
    with django_capture_on_commit_callbacks(execute=True):
        response = reception_client.post(
            reverse("admin:clinic_appointment_change", args=[appointment.pk]),
            _form_data(patient=appointment.patient, doctor=doctor, start=new_start, status=Status.PENDING),
        )
    assert response.status_code == 302
    appointment.refresh_from_db()
    assert appointment.appointment_time == new_start
    assert appointment.sequence == 1
    assert EmailOutbox.objects.filter(appointment=appointment, kind="rescheduled").exists()
    assert len(mail.outbox) == 1


def test_reopening_a_cancelled_appointment_in_the_form_is_refused(reception_client, next_monday_10):
    appointment = factories.AppointmentFactory(appointment_time=next_monday_10, status=Status.CANCELLED)
    response = reception_client.post(
        reverse("admin:clinic_appointment_change", args=[appointment.pk]),
        _form_data(patient=appointment.patient, doctor=appointment.doctor, start=next_monday_10, status=Status.PENDING),
    )
    assert response.status_code == 200
    assert booking.STATUS_MOVE.format(old="cancelled", new="pending") in response.content.decode()
    appointment.refresh_from_db()
    assert appointment.status == Status.CANCELLED


def test_doctor_confirms_in_the_change_form_and_writes_a_record_through_the_inline(
    doctor_client, staff_doctor, next_monday_10, django_capture_on_commit_callbacks
):
    appointment = factories.AppointmentFactory(doctor=staff_doctor, appointment_time=next_monday_10)
    data = {
        "status": Status.CONFIRMED,
        "medical_records-TOTAL_FORMS": "1",
        "medical_records-INITIAL_FORMS": "0",
        "medical_records-MIN_NUM_FORMS": "0",
        "medical_records-MAX_NUM_FORMS": "1000",
        "medical_records-0-notes": "Blood pressure normal.",
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = doctor_client.post(reverse("admin:clinic_appointment_change", args=[appointment.pk]), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    appointment.refresh_from_db()
    assert appointment.status == Status.CONFIRMED
    record = MedicalRecord.objects.get()
    assert (record.patient_id, record.author) == (appointment.patient_id, staff_doctor.user)
    assert len(mail.outbox) == 1


def test_a_doctor_cannot_move_their_appointment_from_the_form(doctor_client, staff_doctor, next_monday_10):
    appointment = factories.AppointmentFactory(doctor=staff_doctor, appointment_time=next_monday_10)
    page = doctor_client.get(reverse("admin:clinic_appointment_change", args=[appointment.pk])).content.decode()
    assert 'name="status"' in page
    assert 'name="appointment_time_0"' not in page
    assert 'name="doctor"' not in page


def test_changelist_shows_status_badges_and_filters_by_doctor(admin_client_, clinic):
    response = admin_client_.get(reverse(CHANGELIST), {"doctor__id__exact": clinic.doctor.pk})
    page = response.content.decode()
    assert 'class="clinic-badge clinic-badge--pending"' in page
    assert reverse("admin:clinic_appointment_change", args=[clinic.own_appointment.pk]) in page
    assert reverse("admin:clinic_appointment_change", args=[clinic.other_appointment.pk]) not in page


def test_pending_filter_link_of_the_dashboard_lists_pending_requests(admin_client_, clinic):
    index = admin_client_.get(reverse("admin:index"))
    url = index.context["pending_url"]
    response = admin_client_.get(url)
    assert response.status_code == 200
    assert {a.pk for a in response.context["cl"].result_list} == {
        clinic.own_appointment.pk,
        clinic.other_appointment.pk,
    }


def test_a_slot_taken_between_the_check_and_the_write_is_reported_and_writes_nothing(
    reception_client, patient, doctor, next_monday_10, monkeypatch
):
    real_book = booking.appointment_book
    calls = []

    def taken_on_the_second_call(**kwargs):
        calls.append(kwargs)
        if len(calls) == 2:
            real_book(**kwargs)  # written, then refused: the whole request rolls back
            raise booking.SlotUnavailable(DOCTOR_OVERLAP, code="slot_taken")
        return real_book(**kwargs)

    monkeypatch.setattr(booking, "appointment_book", taken_on_the_second_call)
    url = reverse("admin:clinic_appointment_add")
    response = reception_client.post(url, _form_data(patient=patient, doctor=doctor, start=next_monday_10))
    assert response.status_code == 302
    assert response["Location"] == url
    assert [m.message for m in get_messages(response.wsgi_request)] == [DOCTOR_OVERLAP]
    assert not Appointment.objects.exists()
    assert not EmailOutbox.objects.exists()


def test_the_appointment_form_offers_no_deleting_its_patient_or_doctor(admin_client_, clinic):
    page = admin_client_.get(reverse("admin:clinic_appointment_change", args=[clinic.own_appointment.pk]))
    html = page.content.decode()
    assert 'id="change_id_patient"' in html
    assert 'id="delete_id_patient"' not in html
    assert 'id="delete_id_doctor"' not in html


def test_appointments_are_found_by_patient_or_doctor(reception_client, next_monday_10):
    wanted = factories.AppointmentFactory(
        appointment_time=next_monday_10,
        patient__user__first_name="Ada",
        patient__user__last_name="Lovelace",
        patient__insurance_number="INS-181500",
        doctor__user__last_name="Babbage",
    )
    factories.AppointmentFactory.create_batch(3, appointment_time=next_monday_10)

    def found(term):
        response = reception_client.get(reverse(CHANGELIST), {"q": term})
        return [a.pk for a in response.context["cl"].result_list]

    for term in ("Lovelace", "ada love", "INS-181500", "babbage", wanted.patient.user.email):
        assert found(term) == [wanted.pk], term
    assert found("Nobody-By-This-Name") == []


def test_the_date_hierarchy_is_built_from_the_first_and_last_appointment(admin_client_):
    for year in (2030, 2032):
        factories.AppointmentFactory(appointment_time=datetime(year, 5, 6, 10, tzinfo=UTC))
    with CaptureQueriesContext(connection) as captured:
        page = admin_client_.get(reverse(CHANGELIST)).content.decode()
    for year in (2030, 2031, 2032):
        assert f"appointment_time__year={year}" in page
    assert not any("DISTINCT" in q["sql"] and "appointment" in q["sql"] for q in captured.captured_queries)

    months = admin_client_.get(reverse(CHANGELIST), {"appointment_time__year": 2030}).content.decode()
    assert "appointment_time__month=5" in months
    days = admin_client_.get(reverse(CHANGELIST), {"appointment_time__year": 2030, "appointment_time__month": 5})
    assert "appointment_time__day=6" in days.content.decode()
    assert [a.appointment_time.year for a in days.context["cl"].result_list] == [2030]
