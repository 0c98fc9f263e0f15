"""/appointments/ and /book-appointment/: booking through the rules, edits, filters, errors."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from clinic import booking
from clinic.api.exceptions import PROTECTED_DELETE
from clinic.api.filters import AppointmentFilter
from clinic.models import DOCTOR_OVERLAP, Appointment, EmailOutbox, IdempotencyKey
from tests.api.conftest import client_for
from tests.factories import AppointmentFactory, DoctorFactory, MedicalRecordFactory, PatientFactory

pytestmark = pytest.mark.django_db


def _iso(dt):
    return dt.isoformat().replace("+00:00", "Z")


def test_a_patient_books_for_themselves_pending_with_an_email(
    patient, doctor, next_monday_10, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as queued:
        response = client_for(patient.user).post(
            "/book-appointment/", {"doctor": doctor.pk, "appointment_time": _iso(next_monday_10), "reason": "Cough"}
        )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) == {
        *("id", "patient", "doctor", "appointment_time", "ends_at", "status", "reason", "created_at"),
        *("appointment_type", "series", "arrived_at", "started_at", "completed_at"),
    }
    assert (body["arrived_at"], body["started_at"], body["completed_at"]) == (None, None, None)
    assert body["patient"] == patient.pk and body["doctor"] == doctor.pk and body["status"] == "pending"
    assert Appointment.objects.get(pk=body["id"]).appointment_time == next_monday_10
    # The booking answered before any email was sent: the notice waits in the outbox for the
    # commit, then goes to the worker (inline in the tests).
    assert mail.outbox == []
    assert list(EmailOutbox.objects.values_list("appointment_id", "kind", "status")) == [
        (body["id"], "booked", "pending")
    ]
    for callback in queued:
        callback()
    assert [message.to for message in mail.outbox] == [[patient.user.email]]
    assert EmailOutbox.objects.get().status == "sent"


def test_post_appointments_books_through_the_same_rules(patient, doctor, next_monday_10):
    client = client_for(patient.user)
    assert (
        client.post("/appointments/", {"doctor": doctor.pk, "appointment_time": _iso(next_monday_10)}).status_code
        == 201
    )
    taken = client_for(PatientFactory().user).post(
        "/appointments/", {"doctor": doctor.pk, "appointment_time": _iso(next_monday_10)}
    )
    assert taken.status_code == 409
    assert taken.json()["detail"] == DOCTOR_OVERLAP


def test_a_status_sent_when_booking_is_not_applied(patient, doctor, next_monday_10):
    response = client_for(patient.user).post(
        "/book-appointment/", {"doctor": doctor.pk, "appointment_time": _iso(next_monday_10), "status": "confirmed"}
    )
    assert response.status_code == 201
    assert response.json()["status"] == "pending"


def test_a_patient_cannot_book_for_someone_else(patient, doctor, next_monday_10):
    other = PatientFactory()
    response = client_for(patient.user).post(
        "/book-appointment/", {"doctor": doctor.pk, "appointment_time": _iso(next_monday_10), "patient": other.pk}
    )
    assert response.status_code == 400
    assert "patient" in response.json()
    assert not Appointment.objects.exists()


def test_reception_books_for_a_named_patient_and_must_name_one(reception, patient, doctor, next_monday_10):
    client = client_for(reception)
    missing = client.post("/book-appointment/", {"doctor": doctor.pk, "appointment_time": _iso(next_monday_10)})
    assert missing.status_code == 400 and "patient" in missing.json()
    ok = client.post(
        "/book-appointment/", {"doctor": doctor.pk, "appointment_time": _iso(next_monday_10), "patient": patient.pk}
    )
    assert ok.status_code == 201 and ok.json()["patient"] == patient.pk


def test_a_doctor_cannot_book(doctor, next_monday_10):
    response = client_for(doctor.user).post(
        "/book-appointment/", {"doctor": doctor.pk, "appointment_time": _iso(next_monday_10)}
    )
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("shift", "code"),
    [
        (timedelta(days=-30), "in_past"),
        (timedelta(minutes=15), "off_grid"),
        (timedelta(hours=-2), "outside_hours"),
        (timedelta(days=400), "too_far"),
    ],
)
def test_booking_rule_refusals_answer_400_with_a_message(patient, doctor, next_monday_10, shift, code):
    response = client_for(patient.user).post(
        "/book-appointment/", {"doctor": doctor.pk, "appointment_time": _iso(next_monday_10 + shift)}
    )
    assert response.status_code == 400
    assert response.json()["code"] == code and response.json()["detail"]


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({"doctor": "abc", "appointment_time": "2030-01-01T10:00:00Z"}, {"doctor"}),
        ({"doctor": 999999, "appointment_time": "2030-01-01T10:00:00Z"}, {"doctor"}),
        ({"doctor": 1, "appointment_time": "not a date"}, {"doctor", "appointment_time"}),
        ({"doctor": [1], "appointment_time": 12}, {"doctor", "appointment_time"}),
        ({}, {"doctor", "appointment_time"}),
    ],
)
def test_bad_input_answers_400_never_500(patient, payload, fields):
    response = client_for(patient.user).post("/book-appointment/", payload, format="json")
    assert response.status_code == 400
    errors = response.json()
    assert set(errors) == fields and all(errors[name] for name in fields)
    assert not Appointment.objects.exists()


def test_malformed_json_answers_400(patient):
    response = client_for(patient.user).post("/book-appointment/", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert "detail" in response.json()


def test_the_same_idempotency_key_books_once_and_answers_the_same_body(patient, doctor, next_monday_10):
    client = client_for(patient.user)
    payload = {"doctor": doctor.pk, "appointment_time": _iso(next_monday_10)}
    first = client.post("/book-appointment/", payload, HTTP_IDEMPOTENCY_KEY="retry-1")
    second = client.post("/book-appointment/", payload, HTTP_IDEMPOTENCY_KEY="retry-1")
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert Appointment.objects.count() == 1
    # Another key is another booking attempt: the slot is now taken.
    assert client.post("/book-appointment/", payload, HTTP_IDEMPOTENCY_KEY="retry-2").status_code == 409


def test_an_idempotency_key_is_per_user_and_expires_after_a_day(doctor, next_monday_10):
    a, b = PatientFactory(), PatientFactory()
    first = client_for(a.user).post(
        "/book-appointment/", {"doctor": doctor.pk, "appointment_time": _iso(next_monday_10)}, HTTP_IDEMPOTENCY_KEY="k"
    )
    assert first.status_code == 201
    other_user = client_for(b.user).post(
        "/book-appointment/",
        {"doctor": doctor.pk, "appointment_time": _iso(next_monday_10 + timedelta(hours=1))},
        HTTP_IDEMPOTENCY_KEY="k",
    )
    assert other_user.status_code == 201 and other_user.json()["id"] != first.json()["id"]
    IdempotencyKey.objects.filter(user=a.user).update(created_at=timezone.now() - timedelta(hours=24, minutes=1))
    later = client_for(a.user).post(
        "/book-appointment/",
        {"doctor": doctor.pk, "appointment_time": _iso(next_monday_10 + timedelta(hours=2))},
        HTTP_IDEMPOTENCY_KEY="k",
    )
    assert later.status_code == 201 and later.json()["id"] != first.json()["id"]


def test_a_failed_booking_does_not_burn_its_idempotency_key(patient, doctor, next_monday_10):
    client = client_for(patient.user)
    bad = client.post(
        "/book-appointment/",
        {"doctor": doctor.pk, "appointment_time": _iso(next_monday_10 + timedelta(minutes=10))},
        HTTP_IDEMPOTENCY_KEY="k1",
    )
    assert bad.status_code == 400
    good = client.post(
        "/book-appointment/", {"doctor": doctor.pk, "appointment_time": _iso(next_monday_10)}, HTTP_IDEMPOTENCY_KEY="k1"
    )
    assert good.status_code == 201


def test_patch_reschedules_through_the_rules(patient, doctor, next_monday_10):
    appointment = booking.appointment_book(actor=patient.user, patient=patient, doctor=doctor, start=next_monday_10)
    client = client_for(patient.user)
    moved = client.patch(
        f"/appointments/{appointment.pk}/", {"appointment_time": _iso(next_monday_10 + timedelta(hours=1))}
    )
    assert moved.status_code == 200
    assert moved.json()["appointment_time"] == _iso(next_monday_10 + timedelta(hours=1))
    off_grid = client.patch(
        f"/appointments/{appointment.pk}/", {"appointment_time": _iso(next_monday_10 + timedelta(minutes=7))}
    )
    assert off_grid.status_code == 400 and off_grid.json()["code"] == "off_grid"


def test_put_of_the_current_state_changes_nothing_and_put_needs_the_time(patient, doctor, next_monday_10):
    appointment = booking.appointment_book(actor=patient.user, patient=patient, doctor=doctor, start=next_monday_10)
    client = client_for(patient.user)
    current = client.get(f"/appointments/{appointment.pk}/").json()
    assert client.put(f"/appointments/{appointment.pk}/", current).json() == current
    assert client.put(f"/appointments/{appointment.pk}/", {"reason": "x"}).status_code == 400


def test_a_patient_patching_status_to_confirmed_gets_403(patient, doctor, next_monday_10):
    appointment = booking.appointment_book(actor=patient.user, patient=patient, doctor=doctor, start=next_monday_10)
    response = client_for(patient.user).patch(f"/appointments/{appointment.pk}/", {"status": "confirmed"})
    assert response.status_code == 403
    appointment.refresh_from_db()
    assert appointment.status == "pending"


def test_the_doctor_confirms_then_cancels_and_cancelled_is_final(patient, doctor, next_monday_10):
    appointment = booking.appointment_book(actor=patient.user, patient=patient, doctor=doctor, start=next_monday_10)
    client = client_for(doctor.user)
    url = f"/appointments/{appointment.pk}/"
    assert client.patch(url, {"status": "confirmed"}).json()["status"] == "confirmed"
    assert client.patch(url, {"status": "pending"}).status_code == 400
    assert client.patch(url, {"status": "cancelled"}).json()["status"] == "cancelled"
    again = client.patch(url, {"status": "confirmed"})
    assert again.status_code == 400 and again.json() == {
        "detail": booking.CANCELLED_IS_FINAL,
        "code": "cancelled_final",
    }


def test_a_patient_cannot_move_an_appointment_to_another_patient(patient, doctor, next_monday_10):
    appointment = booking.appointment_book(actor=patient.user, patient=patient, doctor=doctor, start=next_monday_10)
    other = PatientFactory()
    response = client_for(patient.user).patch(f"/appointments/{appointment.pk}/", {"patient": other.pk})
    assert response.status_code == 400
    assert response.json()["patient"]  # another patient is not one this patient can name
    appointment.refresh_from_db()
    assert appointment.patient_id == patient.pk


def test_a_patient_cancelling_inside_the_cutoff_gets_400(patient, doctor):
    soon = (timezone.now() + timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    appointment = AppointmentFactory(patient=patient, doctor=doctor, appointment_time=soon)
    response = client_for(patient.user).patch(f"/appointments/{appointment.pk}/", {"status": "cancelled"})
    assert response.status_code == 400 and response.json()["code"] == "cutoff"
    assert response.json()["detail"] == booking.PATIENT_CUTOFF.format(hours=24)


def test_deleting_an_appointment_with_records_is_refused_and_keeps_everything(reception):
    record = MedicalRecordFactory()
    response = client_for(reception).delete(f"/appointments/{record.appointment_id}/")
    assert response.status_code == 409
    assert response.json() == {"detail": PROTECTED_DELETE}
    assert Appointment.objects.filter(pk=record.appointment_id).exists()


def test_reception_deletes_an_appointment_without_records(reception):
    appointment = AppointmentFactory()
    assert client_for(reception).delete(f"/appointments/{appointment.pk}/").status_code == 204
    assert not Appointment.objects.filter(pk=appointment.pk).exists()


def test_filters_by_doctor_patient_status_and_local_dates(reception, next_monday_10):
    doctor, patient = DoctorFactory(), PatientFactory()
    mine = AppointmentFactory(doctor=doctor, patient=patient, appointment_time=next_monday_10)
    AppointmentFactory(appointment_time=next_monday_10 + timedelta(days=2), status="cancelled")
    client = client_for(reception)

    def ids(query):
        response = client.get("/appointments/", query)
        assert response.status_code == 200, response.json()
        return [row["id"] for row in response.json()["results"]]

    assert ids({"doctor": doctor.pk}) == [mine.pk]
    assert ids({"patient": patient.pk}) == [mine.pk]
    assert ids({"status": "pending"}) == [mine.pk]
    day = next_monday_10.date().isoformat()
    assert ids({"date_from": day, "date_to": day}) == [mine.pk]
    assert ids({"date_from": (next_monday_10.date() + timedelta(days=1)).isoformat()}) != [mine.pk]
    for bad in ({"status": "done"}, {"date_from": "yesterday"}, {"doctor": "x"}):
        assert client.get("/appointments/", bad).status_code == 400


def test_pages_are_capped_at_200_and_a_missing_page_is_a_json_404(reception):
    AppointmentFactory.create_batch(3)
    client = client_for(reception)
    body = client.get("/appointments/", {"page_size": 1}).json()
    assert body["count"] == 3 and len(body["results"]) == 1 and body["next"]
    assert len(client.get("/appointments/", {"page_size": 10**9}).json()["results"]) == 3
    missing = client.get("/appointments/", {"page": 99})
    assert missing.status_code == 404 and "detail" in missing.json()


def test_unknown_ids_answer_json_404(reception):
    client = client_for(reception)
    for url in ("/appointments/999999/", "/appointments/abc/", f"/appointments/{10**30}/"):
        response = client.get(url)
        assert response.status_code == 404 and "detail" in response.json()


def test_the_filterset_is_built_only_when_the_query_names_a_filter(reception, monkeypatch):
    """An unfiltered list skips django-filter's per-request form; a filtered one still gets it,
    with its 400 for a bad value."""
    kept = AppointmentFactory()
    AppointmentFactory()
    built = []
    original = AppointmentFilter.__init__

    def counting(self, *args, **kwargs):
        built.append(kwargs.get("data") or args[0])
        original(self, *args, **kwargs)

    monkeypatch.setattr(AppointmentFilter, "__init__", counting)
    client = client_for(reception)
    assert client.get("/appointments/", {"page_size": 10, "ordering": "x"}).json()["count"] == 2
    assert built == []
    response = client.get("/appointments/", {"doctor": kept.doctor_id})
    assert [row["id"] for row in response.json()["results"]] == [kept.pk]
    assert len(built) == 1
    assert client.get("/appointments/", {"status": "lost"}).status_code == 400


def test_the_same_idempotency_key_with_another_request_answers_422_and_books_nothing(patient, doctor, next_monday_10):
    client = client_for(patient.user)
    first = client.post(
        "/book-appointment/", {"doctor": doctor.pk, "appointment_time": _iso(next_monday_10)}, HTTP_IDEMPOTENCY_KEY="k"
    )
    assert first.status_code == 201
    other_time = next_monday_10 + timedelta(hours=1)
    reused = client.post(
        "/book-appointment/", {"doctor": doctor.pk, "appointment_time": _iso(other_time)}, HTTP_IDEMPOTENCY_KEY="k"
    )
    assert reused.status_code == 422
    assert reused.json() == {"detail": booking.IDEMPOTENCY_KEY_REUSED, "code": "idempotency_key_reused"}
    assert list(Appointment.objects.values_list("pk", flat=True)) == [first.json()["id"]]


def test_an_idempotency_key_longer_than_255_characters_is_refused(patient, doctor, next_monday_10):
    response = client_for(patient.user).post(
        "/book-appointment/",
        {"doctor": doctor.pk, "appointment_time": _iso(next_monday_10)},
        HTTP_IDEMPOTENCY_KEY="k" * 256,
    )
    assert response.status_code == 400 and response.json()["detail"] == booking.IDEMPOTENCY_KEY_TOO_LONG
    assert not Appointment.objects.exists()


def test_staff_cannot_cancel_a_visit_that_already_happened(reception, mailoutbox):
    last_week = timezone.now() - timedelta(days=10)
    appointment = AppointmentFactory(appointment_time=last_week, status=Appointment.Status.CONFIRMED)
    response = client_for(reception).patch(f"/appointments/{appointment.pk}/", {"status": "cancelled"})
    assert response.status_code == 400
    assert response.json() == {"detail": booking.ALREADY_STARTED, "code": "already_started"}
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.CONFIRMED
    assert not EmailOutbox.objects.exists() and mailoutbox == []


def test_changing_the_patient_of_an_appointment_with_a_record_is_a_400_about_the_record(reception):
    record = MedicalRecordFactory()
    response = client_for(reception).patch(f"/appointments/{record.appointment_id}/", {"patient": PatientFactory().pk})
    assert response.status_code == 400
    assert response.json() == {"detail": booking.PATIENT_HAS_RECORD, "code": "has_record"}
    assert Appointment.objects.get(pk=record.appointment_id).patient_id == record.patient_id
