"""Concurrent bookings on PostgreSQL: real connections, one per thread, outside the test transaction."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection

from clinic.models import Appointment
from tests.api.conftest import client_for
from tests.factories import DoctorFactory, PatientFactory, waitlist_entry

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

RACERS = 20


def _race(requests) -> list:
    """Run each (user, path, payload, headers) at the same moment in its own thread and connection."""
    barrier = threading.Barrier(len(requests))
    answers: list = [None] * len(requests)

    def run(index, user, path, payload, headers):
        client = client_for(user)
        try:
            barrier.wait(timeout=30)
            response = client.post(path, payload, format="json", **headers)
            answers[index] = (response.status_code, response.json())
        except Exception as exc:  # pragma: no cover - reported through the assertion below
            answers[index] = (repr(exc), None)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, *request)) for i, request in enumerate(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return answers


def _iso(dt):
    return dt.isoformat().replace("+00:00", "Z")


def test_twenty_patients_racing_for_one_slot_book_it_once(next_monday_10):
    doctor = DoctorFactory()
    patients = [PatientFactory() for _ in range(RACERS)]
    payload = {"doctor": doctor.pk, "appointment_time": _iso(next_monday_10)}
    answers = _race([(p.user, "/book-appointment/", payload, {}) for p in patients])
    assert Counter(status for status, _ in answers) == {201: 1, 409: RACERS - 1}, answers
    assert Appointment.objects.filter(doctor=doctor).count() == 1


def test_one_patient_racing_two_doctors_at_one_time_books_once(next_monday_10):
    patient = PatientFactory()
    doctors = [DoctorFactory(), DoctorFactory()]
    requests = [
        (patient.user, "/appointments/", {"doctor": doctors[i % 2].pk, "appointment_time": _iso(next_monday_10)}, {})
        for i in range(RACERS)
    ]
    answers = _race(requests)
    assert Counter(status for status, _ in answers) == {201: 1, 409: RACERS - 1}, answers
    assert Appointment.objects.filter(patient=patient).count() == 1


def test_the_same_idempotency_key_sent_concurrently_books_once_with_one_body(next_monday_10):
    patient, doctor = PatientFactory(), DoctorFactory()
    payload = {"doctor": doctor.pk, "appointment_time": _iso(next_monday_10)}
    answers = _race([(patient.user, "/book-appointment/", payload, {"HTTP_IDEMPOTENCY_KEY": "same"})] * 10)
    assert {status for status, _ in answers} == {201}, answers
    assert len({body["id"] for _, body in answers}) == 1
    assert all(body == answers[0][1] for _, body in answers)
    assert Appointment.objects.count() == 1


def test_claims_of_one_freed_time_sent_at_once_book_it_once_and_the_rest_see_someone_was_quicker(next_monday_10):
    from django.test import Client

    from clinic import access, booking
    from clinic.models import WaitlistEntry, WaitlistOffer

    doctor = DoctorFactory()
    freed = booking.appointment_book(actor=(p := PatientFactory()).user, patient=p, doctor=doctor, start=next_monday_10)
    waiting = [PatientFactory() for _ in range(3)]
    for patient in waiting:
        waitlist_entry(patient, doctor, day=next_monday_10.date())
    booking.appointment_cancel(actor=p.user, appointment=freed)
    offers = list(WaitlistOffer.objects.order_by("id"))
    assert len(offers) == 3
    # Each of the three claims, and the first twice (a double click), all at one moment.
    claims = [*offers, offers[0]]
    barrier = threading.Barrier(len(claims))
    answers: list = [None] * len(claims)

    def claim(index, offer):
        try:
            barrier.wait(timeout=30)
            response = Client().post(f"/w/{access.offer_token(offer)}/")
            answers[index] = (offer.entry_id, response.status_code, response.content.decode())
        except Exception as exc:  # pragma: no cover - reported through the assertions below
            answers[index] = (offer.entry_id, repr(exc), "")
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(i, offer)) for i, offer in enumerate(claims)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    (booked,) = Appointment.objects.live().filter(doctor=doctor)
    winner = WaitlistEntry.objects.get(patient=booked.patient)
    assert winner.status == WaitlistEntry.Status.BOOKED
    for entry_id, status, page in answers:
        if entry_id == winner.pk:
            assert status == 302, (status, page)
        else:
            assert status == 409 and "Someone was quicker" in page, (status, page)
    assert Counter(WaitlistOffer.objects.values_list("outcome", flat=True)) == {"booked": 1, "taken": 2}
