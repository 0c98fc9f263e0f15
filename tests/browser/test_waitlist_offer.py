"""In a real browser: the claim link of a waitlist offer books the time; the second person to
open theirs is told that someone was quicker and books another free time instead."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from clinic import access, booking
from clinic.models import Appointment, WaitlistOffer
from tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_first_claim_books_and_the_second_takes_another_free_time(open_context, next_monday_10):
    doctor = factories.DoctorFactory(user__first_name="Gregory", user__last_name="House")
    leaving = factories.PatientFactory()
    freed = booking.appointment_book(actor=leaving.user, patient=leaving, doctor=doctor, start=next_monday_10)
    first, second = (
        factories.waitlist_entry(factories.PatientFactory(), doctor, day=next_monday_10.date()) for _ in range(2)
    )
    booking.appointment_cancel(actor=leaving.user, appointment=freed)
    offers = {offer.entry_id: offer for offer in WaitlistOffer.objects.all()}

    quick = open_context()
    quick.goto(f"/w/{access.offer_token(offers[first.pk])}/")
    expect(quick.get_by_role("heading", name="A time has freed up for you")).to_be_visible()
    quick.get_by_role("button", name="Book this time").click()
    expect(quick.get_by_role("heading", name="Your appointment")).to_be_visible()
    expect(quick.locator(".messages, [role=status]").first).to_contain_text("Booked:")
    assert Appointment.objects.live().get(appointment_time=next_monday_10).patient == first.patient

    late = open_context()
    late.goto(f"/w/{access.offer_token(offers[second.pk])}/")
    expect(late.get_by_role("heading", name="Someone was quicker")).to_be_visible()
    earlier = next_monday_10 - timedelta(hours=1)
    late.locator(f'button.slot[value="{doctor.pk}@{earlier.isoformat()}"]').click()
    expect(late.get_by_role("heading", name="Your appointment")).to_be_visible()
    assert Appointment.objects.live().get(appointment_time=earlier).patient == second.patient
