"""In a real browser, from a real email: the worker (a real qcluster) mails the notice to an SMTP
server on loopback; its manage link opens the appointment without signing in, reschedules it, and
the new notice's link works while the old one shows the friendly page. Inside the cut-off, and for
a past visit, the pages offer no Cancel button."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from clinic import booking, views
from clinic.models import Appointment
from tests import factories
from tests.emails.conftest import text_of, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def manage_link(message) -> str:
    return re.search(r"(http://127\.0\.0\.1:\d+/a/[^/\s]+/)", text_of(message)).group(1)


def test_a_patient_reschedules_from_the_link_in_their_email(
    open_context,
    live_server,
    workers,
    smtp_server,
    patient,
    doctor,
    next_monday_10,
):
    base_url = live_server.url.replace("://localhost", "://127.0.0.1")
    workers.env_extra["SITE_URL"] = base_url
    workers.start()
    appointment = booking.appointment_book(actor=patient.user, patient=patient, doctor=doctor, start=next_monday_10)

    booked = wait_for(lambda: smtp_server.messages[:1], what="the booked notice")[0]
    first_link = manage_link(booked)
    assert first_link.startswith(base_url)

    page = open_context()  # not signed in
    page.goto(first_link)
    expect(page.get_by_role("heading", name="Your appointment")).to_be_visible()
    expect(page.locator(".summary")).to_contain_text(f"{next_monday_10:%H:%M}")
    page.get_by_role("link", name="Reschedule").click()
    new_start = next_monday_10 + timedelta(hours=2)
    page.locator(f'button.slot[value="{new_start.isoformat()}"]').click()
    expect(page.get_by_text(views.MANAGE_RESCHEDULED.split("{")[0])).to_be_visible()
    appointment.refresh_from_db()
    assert appointment.appointment_time == new_start
    assert appointment.history.latest("history_date").history_user == patient.user

    def rescheduled():
        return [m for m in smtp_server.messages if "has changed" in m["Subject"]]

    (notice,) = wait_for(rescheduled, what="the rescheduled notice")
    second_link = manage_link(notice)
    assert second_link != first_link
    page.goto(second_link)
    expect(page.locator(".summary")).to_contain_text(f"{new_start:%H:%M}")
    response = page.goto(first_link)
    expect(page.get_by_role("heading", name="This link is out of date")).to_be_visible()
    # The friendly page answers 404, which the browser reports on its console.
    assert response.status == 404
    page.context.clinic_watch.console_errors.remove(
        "Failed to load resource: the server responded with a status of 404 (Not Found)"
    )
    workers.check_alive()


def test_no_cancel_button_inside_the_cutoff_nor_on_a_past_visit_and_long_text_wraps(
    open_context, patient, doctor, next_monday_10
):
    soon = (datetime.now(UTC) + timedelta(hours=3)).replace(second=0, microsecond=0)
    inside = factories.AppointmentFactory(patient=patient, doctor=doctor, appointment_time=soon)
    past = factories.AppointmentFactory(
        patient=patient, doctor=doctor, appointment_time=datetime.now(UTC) - timedelta(days=2)
    )
    # A 500-character reason without a space wraps: the page keeps the phone's width.
    later = factories.AppointmentFactory(
        patient=patient, doctor=doctor, appointment_time=next_monday_10, reason="x" * 500
    )
    page = open_context(patient.user)
    page.goto("/my/appointments/")
    for fixed in (inside, past):
        row = page.locator(f"#appointment-{fixed.pk}")
        expect(row).to_be_visible()
        expect(row.get_by_role("link", name="Cancel…")).to_have_count(0)
        expect(row.get_by_role("link", name="Reschedule")).to_have_count(0)
    expect(page.locator(f"#appointment-{inside.pk}")).to_contain_text("cannot be changed online within 24 hours")
    expect(page.locator(f"#appointment-{later.pk}").get_by_role("link", name="Cancel…")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert Appointment.objects.get(pk=inside.pk).status == Appointment.Status.PENDING
