"""Freed times offered to the waitlist (clinic.booking): who is offered what, once, and the claim."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.db import transaction
from django.utils import timezone

from clinic import booking, tasks
from clinic.models import Appointment, WaitlistEntry, WaitlistOffer
from tests import factories

pytestmark = pytest.mark.django_db

Waiting = WaitlistEntry.Status
Outcome = WaitlistOffer.Outcome


wait = factories.waitlist_entry


def book(patient, doctor, start, **extra) -> Appointment:
    return booking.appointment_book(actor=patient.user, patient=patient, doctor=doctor, start=start, **extra)


@pytest.fixture
def taken(doctor, next_monday_10):
    """10:00 on next Monday, booked by a patient who is not on the waitlist."""
    return book(factories.PatientFactory(), doctor, next_monday_10)


@pytest.fixture
def four_waiting(doctor, next_monday_10):
    """Four patients waiting for the doctor that day, in joining order."""
    return [wait(factories.PatientFactory(), doctor, day=next_monday_10.date()) for _ in range(4)]


def cancel(appointment: Appointment, django_capture_on_commit_callbacks) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        booking.appointment_cancel(actor=appointment.patient.user, appointment=appointment)


def test_a_cancellation_offers_the_time_to_the_first_three_waiting_entries_in_joining_order(
    taken, four_waiting, django_capture_on_commit_callbacks
):
    mail.outbox.clear()
    cancel(taken, django_capture_on_commit_callbacks)

    offers = WaitlistOffer.objects.order_by("entry__created_at")
    assert [offer.entry for offer in offers] == four_waiting[:3]
    assert {(offer.doctor_id, offer.start) for offer in offers} == {(taken.doctor_id, taken.appointment_time)}
    statuses = [entry.status for entry in WaitlistEntry.objects.order_by("created_at", "id")]
    assert statuses == [Waiting.OFFERED, Waiting.OFFERED, Waiting.OFFERED, Waiting.WAITING]
    # The worker emailed each its own claim link (the cancellation notice aside).
    offer_emails = [m for m in mail.outbox if "has freed up" in m.subject]
    assert sorted(m.to[0] for m in offer_emails) == sorted(e.patient.user.email for e in four_waiting[:3])
    links = {re.search(r"/w/[^/\s]+/", m.body).group() for m in offer_emails}
    assert len(links) == 3
    assert set(WaitlistOffer.objects.values_list("status", flat=True)) == {WaitlistOffer.Status.SENT}


def test_the_offer_runs_two_hours_at_most_and_never_past_the_last_bookable_moment(
    doctor, patient, reception, next_monday_10, django_capture_on_commit_callbacks
):
    early = book(factories.PatientFactory(), doctor, next_monday_10)
    later = book(factories.PatientFactory(), doctor, next_monday_10 + timedelta(hours=4))
    entry = wait(patient, doctor, day=next_monday_10.date())

    # 2 h 30 min before the start: the booking window closes 1 h before it (BOOKING_MIN_NOTICE_MINUTES).
    now = next_monday_10 - timedelta(hours=2, minutes=30)
    with time_machine.travel(now, tick=False), django_capture_on_commit_callbacks(execute=True):
        booking.appointment_cancel(actor=reception, appointment=early)
        # An entry holds one offer at a time: the later time goes to one that joined since.
        other = wait(factories.PatientFactory(), doctor, day=next_monday_10.date())
        booking.appointment_cancel(actor=reception, appointment=later)
    first, second = WaitlistOffer.objects.order_by("start")
    assert (first.entry, first.valid_until) == (entry, next_monday_10 - timedelta(hours=1))
    assert (second.entry, second.valid_until) == (other, now + timedelta(hours=2))


def test_entries_the_time_does_not_fit_are_not_offered_it(
    doctor, patient, next_monday_10, django_capture_on_commit_callbacks
):
    day = next_monday_10.date()
    appointment = book(patient, doctor, next_monday_10)
    other_doctor = factories.DoctorFactory(specialization=doctor.specialization)
    long_visit = factories.AppointmentTypeFactory(duration_minutes=60, doctors=[doctor])
    book(factories.PatientFactory(), doctor, next_monday_10 + timedelta(minutes=30))
    factories.DoctorFactory(specialization="Cardiology")
    not_offered = [
        wait(patient, doctor, day=day),  # the patient who freed it
        wait(factories.PatientFactory(), other_doctor, day=day),
        wait(factories.PatientFactory(), doctor, day=day + timedelta(days=1), days=3),
        wait(factories.PatientFactory(), doctor, day=day, part_of_day="afternoon"),
        # An hour from 10:00 runs into the 10:30 booking.
        wait(factories.PatientFactory(), doctor, day=day, appointment_type=long_visit),
        wait(factories.PatientFactory(), specialization="Cardiology", day=day),
    ]
    fits = [
        wait(factories.PatientFactory(), doctor, day=day - timedelta(days=2), days=2, part_of_day="morning"),
        wait(factories.PatientFactory(), specialization=doctor.specialization, day=day),
    ]

    cancel(appointment, django_capture_on_commit_callbacks)

    assert {offer.entry for offer in WaitlistOffer.objects.all()} == set(fits)
    assert not WaitlistOffer.objects.filter(entry__in=not_offered).exists()


def test_each_entry_and_time_is_offered_once_and_a_held_offer_keeps_the_entry_from_others(
    taken, four_waiting, doctor, next_monday_10, django_capture_on_commit_callbacks
):
    cancel(taken, django_capture_on_commit_callbacks)
    first_three = set(four_waiting[:3])

    # Another time frees while the first three hold their offers: it goes to the fourth.
    other = book(factories.PatientFactory(), doctor, next_monday_10 + timedelta(hours=1))
    cancel(other, django_capture_on_commit_callbacks)
    assert WaitlistOffer.objects.get(start=other.appointment_time).entry == four_waiting[3]

    # Three hours on, every offer has run out and the entries wait again.
    with time_machine.travel(timezone.now() + timedelta(hours=3)):
        assert "4 waitlist entries waiting again" in tasks.emails_send_due()
        assert set(WaitlistEntry.objects.values_list("status", flat=True)) == {Waiting.WAITING}
        # The 10:00 time is booked and freed again: nobody is offered it a second time.
        again = book(factories.PatientFactory(), doctor, next_monday_10)
        cancel(again, django_capture_on_commit_callbacks)
    # The first three had it already; the fourth, whose own offer ran out, has it now.
    offered = list(WaitlistOffer.objects.filter(start=next_monday_10).values_list("entry_id", flat=True))
    assert sorted(offered) == sorted([entry.pk for entry in first_three] + [four_waiting[3].pk])


def test_a_reschedule_away_and_removed_time_off_offer_the_freed_times(
    doctor, patient, reception, next_monday_10, django_capture_on_commit_callbacks
):
    day = next_monday_10.date()
    moving = book(patient, doctor, next_monday_10)
    first, second = (wait(factories.PatientFactory(), doctor, day=day) for _ in range(2))
    with django_capture_on_commit_callbacks(execute=True):
        later = next_monday_10 + timedelta(hours=2)
        booking.appointment_reschedule(actor=patient.user, appointment=moving, start=later)
    assert [(o.entry, o.start) for o in WaitlistOffer.objects.order_by("id")] == [
        (first, next_monday_10),
        (second, next_monday_10),
    ]

    # Time off the next day, taken back: its first free starts go to entries that wait for that day.
    tuesday = next_monday_10 + timedelta(days=1)
    away = factories.TimeOffFactory(doctor=doctor, starts_at=tuesday, ends_at=tuesday + timedelta(hours=1))
    late = wait(factories.PatientFactory(), doctor, day=tuesday.date())
    with django_capture_on_commit_callbacks(execute=True):
        booking.time_off_delete(actor=reception, time_off=away)
    assert [(o.entry, o.start) for o in WaitlistOffer.objects.filter(entry=late)] == [(late, tuesday)]


def test_a_cancellation_rolled_back_offers_nothing(taken, four_waiting, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        booking.appointment_cancel(actor=taken.patient.user, appointment=taken)
        raise RuntimeError("the request failed after the cancellation")
    assert not WaitlistOffer.objects.exists()
    assert set(WaitlistEntry.objects.values_list("status", flat=True)) == {Waiting.WAITING}


def test_the_first_claim_books_and_a_later_one_is_told_someone_was_quicker(
    taken, four_waiting, doctor, next_monday_10, django_capture_on_commit_callbacks
):
    cancel(taken, django_capture_on_commit_callbacks)
    first, second, third = (WaitlistOffer.objects.get(entry=entry) for entry in four_waiting[:3])

    with django_capture_on_commit_callbacks(execute=True):
        appointment = booking.waitlist_claim(offer=second)
    assert (appointment.patient, appointment.doctor, appointment.appointment_time) == (
        four_waiting[1].patient,
        doctor,
        next_monday_10,
    )
    assert appointment.history.earliest().history_user == four_waiting[1].patient.user
    assert mail.outbox[-1].to == [four_waiting[1].patient.user.email]  # the usual "request received"
    second.refresh_from_db()
    assert (second.outcome, second.appointment) == (Outcome.BOOKED, appointment)
    statuses = {e.pk: e.status for e in WaitlistEntry.objects.all()}
    assert statuses[four_waiting[1].pk] == Waiting.BOOKED
    # The other offers of that time have ended, and their entries wait again.
    assert statuses[four_waiting[0].pk] == statuses[four_waiting[2].pk] == Waiting.WAITING
    assert set(WaitlistOffer.objects.filter(pk__in=[first.pk, third.pk]).values_list("outcome", flat=True)) == {
        Outcome.TAKEN
    }

    with pytest.raises(booking.SlotUnavailable) as refused:
        booking.waitlist_claim(offer=first)
    assert (refused.value.messages, refused.value.code) == ([booking.OFFER_TAKEN], "slot_taken")
    # Claiming the booked offer again answers its booking, and books nothing more.
    assert booking.waitlist_claim(offer=second) == appointment
    assert Appointment.objects.filter(appointment_time=next_monday_10).live().count() == 1

    # What the one who came too late may take instead: other free times of the entry's range.
    others = booking.waitlist_free_times(four_waiting[0])
    assert others[0] == (doctor, next_monday_10 - timedelta(hours=1))
    assert (doctor, next_monday_10) not in others
    moved = booking.waitlist_claim(offer=first, doctor=doctor, start=others[0][1])
    assert (moved.patient, moved.appointment_time) == (four_waiting[0].patient, others[0][1])


def test_a_claim_of_an_offer_run_out_or_of_an_ended_entry_books_nothing(
    taken, four_waiting, doctor, next_monday_10, django_capture_on_commit_callbacks
):
    cancel(taken, django_capture_on_commit_callbacks)
    first, second = (WaitlistOffer.objects.get(entry=entry) for entry in four_waiting[:2])
    late_by = timezone.now() + timedelta(hours=2, seconds=1)
    with time_machine.travel(late_by), pytest.raises(booking.SlotUnavailable) as late:
        booking.waitlist_claim(offer=first)
    assert late.value.code == "offer_expired"

    booking.waitlist_withdraw(actor=four_waiting[1].patient.user, entry=four_waiting[1])
    with pytest.raises(booking.BookingError) as ended:
        booking.waitlist_claim(offer=second)
    assert ended.value.code == "offer_ended"
    # A time outside what the entry asked for is refused.
    with pytest.raises(booking.BookingError) as elsewhere:
        booking.waitlist_claim(offer=first, doctor=doctor, start=next_monday_10 + timedelta(days=1))
    assert elsewhere.value.code == "not_in_range"
    assert not Appointment.objects.live().filter(appointment_time=next_monday_10).exists()


def test_the_offer_email_goes_once_however_often_its_task_runs(taken, four_waiting, django_capture_on_commit_callbacks):
    cancel(taken, django_capture_on_commit_callbacks)
    offer = WaitlistOffer.objects.get(entry=four_waiting[0])
    sent = len(mail.outbox)
    assert tasks.send_waitlist_offer(offer.pk) == "already sent: nothing to send"

    # A worker killed mid-send leaves its claim: nobody else sends until it has expired.
    WaitlistOffer.objects.filter(pk=offer.pk).update(
        status=WaitlistOffer.Status.PENDING, claimed_until=timezone.now() + timedelta(minutes=5)
    )
    assert tasks.send_waitlist_offer(offer.pk) == "being sent by another worker"
    with time_machine.travel(timezone.now() + timedelta(minutes=6)):
        assert tasks.send_waitlist_offer(offer.pk).startswith("sent waitlist offer")
        assert tasks.send_waitlist_offer(offer.pk) == "already sent: nothing to send"
    assert len(mail.outbox) == sent + 1
    # The same Message-ID as the first send: a mail client shows a repeat once.
    assert mail.outbox[-1].extra_headers["Message-ID"].startswith(f"<waitlist-offer-{offer.pk}@")


def test_an_offer_whose_entry_ended_before_the_email_went_is_skipped(taken, four_waiting, doctor):
    # Offers written, their emails not sent yet (no commit callbacks run here).
    booking.appointment_cancel(actor=taken.patient.user, appointment=taken)
    offer = WaitlistOffer.objects.get(entry=four_waiting[0])
    booking.waitlist_withdraw(actor=four_waiting[0].patient.user, entry=four_waiting[0])
    assert tasks.send_waitlist_offer(offer.pk) == "skipped: The waitlist entry is withdrawn."
    offer.refresh_from_db()
    assert offer.status == WaitlistOffer.Status.SKIPPED
