"""The waitlist end to end, through a real `qcluster` and a real SMTP server on loopback: a
cancellation sends an offer, its claim link books the time, and the entry is done. An offer's
email goes once, through a duplicate enqueue and a worker killed mid-send."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django_q.models import OrmQ
from django_q.tasks import async_task

from clinic import booking
from clinic.models import Appointment, WaitlistEntry, WaitlistOffer
from clinic.tasks import OFFER_TASK
from tests import factories
from tests.emails.conftest import text_of, wait_for
from tests.emails.test_worker import book, n_messages, settle

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def claim_path(message) -> str:
    return re.search(r"https?://[^/\s]+(/w/[^/\s]+/)", text_of(message)).group(1)


def test_a_cancellation_sends_an_offer_whose_link_books_the_time_and_ends_the_entry(
    workers, smtp_server, doctor, next_monday_10
):
    # The patient who frees the time has no email address: the offer is the only message.
    leaving = factories.PatientFactory(user__email="")
    waiting = factories.PatientFactory()
    workers.start()
    appointment = book(leaving, doctor, next_monday_10)
    entry = factories.waitlist_entry(waiting, doctor, day=next_monday_10.date())
    booking.appointment_cancel(actor=leaving.user, appointment=appointment)

    (offer_email,) = n_messages(smtp_server, 1)
    assert offer_email["To"] == waiting.user.email
    assert "has freed up" in " ".join(offer_email["Subject"].split())
    response = Client().post(claim_path(offer_email))
    assert response.status_code == 302

    booked = Appointment.objects.live().get(doctor=doctor, appointment_time=next_monday_10)
    assert booked.patient == waiting
    entry.refresh_from_db()
    assert entry.status == WaitlistEntry.Status.BOOKED
    # Then the usual "request received", with its manage link.
    _, received = n_messages(smtp_server, 2)
    assert received["To"] == waiting.user.email
    assert "/a/" in text_of(received)


def test_an_offer_is_emailed_once_through_a_duplicate_enqueue_and_a_worker_killed_mid_send(
    workers, smtp_server, doctor, next_monday_10
):
    leaving = factories.PatientFactory(user__email="")
    waiting = factories.PatientFactory()
    factories.waitlist_entry(waiting, doctor, day=next_monday_10.date())
    appointment = book(leaving, doctor, next_monday_10)
    smtp_server.handler.hold_next = True  # the first delivery stalls at RCPT, mid-conversation
    first = workers.start()
    booking.appointment_cancel(actor=leaving.user, appointment=appointment)
    offer = WaitlistOffer.objects.get()
    async_task(OFFER_TASK, offer.pk)  # the same offer queued a second time

    wait_for(smtp_server.handler.holding.is_set, what="the worker to be mid-send")
    workers.kill(first)
    smtp_server.handler.release.set()
    assert smtp_server.messages == []

    workers.start()  # a restarted worker: the broker offers the unfinished task again
    (message,) = n_messages(smtp_server, 1)
    settle(lambda: not OrmQ.objects.exists(), what="both tasks to be done and acknowledged")
    assert len(smtp_server.messages) == 1
    assert message["To"] == waiting.user.email
    offer.refresh_from_db()
    assert offer.status == WaitlistOffer.Status.SENT

    # The time freed again later is not offered to the same entry a second time.
    again = book(factories.PatientFactory(user__email=""), doctor, next_monday_10)
    booking.appointment_cancel(actor=again.patient.user, appointment=again)
    async_task(OFFER_TASK, offer.pk)
    settle(lambda: not OrmQ.objects.exists(), what="the late duplicate to run")
    assert len(smtp_server.messages) == 1
    assert WaitlistOffer.objects.count() == 1
