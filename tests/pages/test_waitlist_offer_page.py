"""/w/<token>/: the claim link of a waitlist offer. It books the time offered, without signing in,
as the patient; a later claim learns that someone was quicker and sees the other free times."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core import signing
from django.test import Client, override_settings
from django.utils import timezone

from clinic import access, booking, views
from clinic.models import Appointment, WaitlistEntry, WaitlistOffer
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def offers(gp, slot, django_capture_on_commit_callbacks):
    """10:00 with Dr Grey freed, and offered to two waiting patients (the first joined first)."""
    freed = booking.appointment_book(
        actor=factories.ReceptionFactory(), patient=factories.PatientFactory(), doctor=gp, start=slot, reason="Rash"
    )
    entries = [factories.waitlist_entry(factories.PatientFactory(), gp, day=slot.date()) for _ in range(2)]
    with django_capture_on_commit_callbacks(execute=True):
        booking.appointment_cancel(actor=freed.patient.user, appointment=freed)
    return [WaitlistOffer.objects.get(entry=entry) for entry in entries]


def link(offer: WaitlistOffer) -> str:
    return f"/w/{access.offer_token(offer)}/"


def test_the_link_shows_the_time_offered_and_no_medical_data(offers, gp, slot):
    response = Client().get(link(offers[0]))
    assert response.status_code == 200
    page = response.content.decode()
    assert "A time has freed up for you" in page
    assert str(gp) in page
    assert f"{slot:%A} {slot.day} {slot:%B %Y}, {slot:%H:%M}" in page
    assert "Rash" not in page  # the freed visit's reason is nobody else's business
    assert (response["Referrer-Policy"], response["X-Robots-Tag"]) == ("no-referrer", "noindex")
    assert "no-store" in response["Cache-Control"]


def test_the_first_claim_books_as_the_patient_and_opens_the_appointment(offers, gp, slot):
    client = Client()
    response = client.post(link(offers[0]))
    entry = offers[0].entry
    appointment = Appointment.objects.live().get(doctor=gp, appointment_time=slot)
    assert appointment.patient == entry.patient
    assert response.status_code == 302
    assert response["Location"] == f"/a/{access.manage_token(appointment)}/"
    page = client.get(response["Location"]).content.decode()
    assert "Booked:" in page
    entry.refresh_from_db()
    assert entry.status == WaitlistEntry.Status.BOOKED

    # The link again (a second click, a reload): the same booking, nothing more.
    again = Client().post(link(offers[0]))
    assert again["Location"] == f"/a/{access.manage_token(appointment)}/"
    assert Appointment.objects.live().filter(patient=entry.patient).count() == 1


def test_a_later_claim_sees_someone_was_quicker_and_can_take_another_free_time(offers, gp, slot):
    Client().post(link(offers[0]))

    response = Client().post(link(offers[1]))
    assert response.status_code == 409
    page = response.content.decode()
    assert "Someone was quicker" in page and booking.OFFER_TAKEN in page
    other = slot - timedelta(hours=1)
    assert f'value="{gp.pk}@{other.isoformat()}"' in page
    assert f'value="{gp.pk}@{slot.isoformat()}"' not in page
    # Opened later, the link says the same.
    assert "Someone was quicker" in Client().get(link(offers[1])).content.decode()

    taken = Client().post(link(offers[1]), {"slot": f"{gp.pk}@{other.isoformat()}"})
    assert taken.status_code == 302
    assert Appointment.objects.live().get(appointment_time=other).patient == offers[1].entry.patient


def test_a_time_the_entry_did_not_ask_for_is_refused_and_nothing_is_booked(offers, gp, slot):
    tuesday = slot + timedelta(days=1)
    response = Client().post(link(offers[0]), {"slot": f"{gp.pk}@{tuesday.isoformat()}"})
    assert response.status_code == 400
    assert booking.OFFER_NOT_IN_RANGE in response.content.decode()
    broken = Client().post(link(offers[0]), {"slot": "nonsense"})
    assert broken.status_code == 400
    assert not Appointment.objects.live().filter(patient=offers[0].entry.patient).exists()


@pytest.mark.parametrize(
    "token",
    [
        "nonsense",
        "WzEsMV0:forged",
        pytest.param(None, id="signed-with-another-salt"),
        pytest.param("", id="truncated"),
    ],
)
def test_a_broken_link_shows_the_friendly_page(offers, token):
    if token is None:
        token = signing.Signer(salt="clinic.manage-link").sign_object([offers[0].pk, offers[0].entry_id])
    elif token == "":
        token = access.offer_token(offers[0])[:-3]
    response = Client().post(f"/w/{token}/")
    assert response.status_code == 404
    assert "This link is out of date" in response.content.decode()
    assert not Appointment.objects.live().filter(patient=offers[0].entry.patient).exists()


def test_a_link_run_out_or_of_an_entry_ended_books_nothing(offers):
    with time_machine.travel(timezone.now() + timedelta(hours=2, minutes=1)):
        response = Client().post(link(offers[0]))
    assert response.status_code == 409
    assert "This offer has run out" in response.content.decode()

    entry = offers[1].entry
    booking.waitlist_withdraw(actor=entry.patient.user, entry=entry)
    ended = Client().post(link(offers[1]))
    assert ended.status_code == 200
    assert "This waitlist place has ended" in ended.content.decode()
    assert not Appointment.objects.live().filter(patient__in=[o.entry.patient for o in offers]).exists()


@override_settings(REST_FRAMEWORK={"DEFAULT_THROTTLE_RATES": {"manage-links": "2/minute"}})
def test_the_claim_link_is_throttled_per_address(offers):
    client = Client()
    assert [client.post(link(offers[0])).status_code for _ in range(3)] == [302, 302, 429]
    refused = client.get(link(offers[0]))
    assert refused.status_code == 429 and views.MANAGE_THROTTLED in refused.content.decode()


def _queries(path: str) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.get(path)  # the session and throttle warm up
    with CaptureQueriesContext(connection) as queries:
        assert client.get(path).status_code == 200
    return len(queries)


def test_the_claim_page_runs_the_same_few_queries_however_busy_the_doctor(offers, gp, slot):
    open_page = _queries(link(offers[0]))
    Client().post(link(offers[0]))
    taken_page = _queries(link(offers[1]))
    # A fuller fortnight around the offer: the same queries.
    for day in range(1, 8):
        for hour in (9, 11, 14):
            factories.AppointmentFactory(doctor=gp, appointment_time=slot.replace(hour=hour) + timedelta(days=day))
    # The offer with its entry (one query); whether its time is free (two); the other free times (two).
    assert (open_page, taken_page, _queries(link(offers[1]))) == (3, 5, 5)
