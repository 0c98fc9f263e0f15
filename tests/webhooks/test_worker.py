"""Webhooks through a real `python manage.py qcluster` process and a real HTTP receiver on loopback.

The worker opens the test database by name, so these tests commit their writes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django_q.models import OrmQ
from django_q.tasks import async_task
from standardwebhooks.webhooks import Webhook

from clinic import booking
from clinic.models import WebhookDelivery
from clinic.webhooks import DELIVERY_TASK
from tests.emails.test_worker import settle
from tests.webhooks.conftest import make_endpoint, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_worker_killed_mid_delivery_loses_nothing_and_the_receiver_dedupes_to_one_each(
    workers, receiver, patient, doctor, next_monday_10
):
    endpoint = make_endpoint(receiver.url())
    receiver.answers = ["hold"]  # the first post is received, then left hanging mid-answer
    first = workers.start()
    booking.appointment_book(actor=patient.user, patient=patient, doctor=doctor, start=next_monday_10)
    other = booking.appointment_book(
        actor=patient.user, patient=patient, doctor=doctor, start=next_monday_10 + timedelta(hours=2)
    )
    booking.appointment_cancel(actor=patient.user, appointment=other)
    ids = set(WebhookDelivery.objects.values_list("message_id", flat=True))
    assert len(ids) == 3

    wait_for(receiver.holding.is_set, what="the worker to be mid-delivery")
    workers.kill(first)
    receiver.release.set()
    held = WebhookDelivery.objects.get(message_id=receiver.requests[0].headers["webhook-id"])
    assert held.status == WebhookDelivery.Status.PENDING  # the killed worker never heard the answer

    workers.start()  # a restarted worker: the broker offers the unfinished task again
    wait_for(
        lambda: not WebhookDelivery.objects.exclude(status=WebhookDelivery.Status.SENT).exists(),
        what="every delivery to be sent",
    )
    # A duplicate enqueue of a sent delivery posts nothing more.
    async_task(DELIVERY_TASK, held.pk)
    settle(lambda: not OrmQ.objects.exists(), what="the tasks to be done and acknowledged")

    by_id = receiver.by_id()
    assert set(by_id) == ids  # none lost; at least once, so the held one may have come twice
    for requests in by_id.values():
        assert len({request.body for request in requests}) == 1  # a repeat is the same message
        for request in requests:
            Webhook(endpoint.secret).verify(request.body, request.headers)
    assert len(receiver.requests) <= len(ids) + 1
    assert sorted(r.json["type"] for r in (requests[0] for requests in by_id.values())) == [
        "appointment.booked",
        "appointment.booked",
        "appointment.cancelled",
    ]
