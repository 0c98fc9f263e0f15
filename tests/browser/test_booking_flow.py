"""In a real browser: sign up, book, see, cancel; the front desk books for a patient;
a slot booked in one browser is gone in another."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from clinic import views
from clinic.models import Appointment, Patient
from tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def gp(transactional_db):
    return factories.DoctorFactory(
        specialization="General practice", user__first_name="Meredith", user__last_name="Grey"
    )


def slot_button(page, doctor, start):
    return page.locator(f'button.slot[value="{doctor.pk}@{start.isoformat()}"]')


def test_new_patient_signs_up_books_sees_and_cancels_then_front_desk_books_for_them(open_context, gp, next_monday_10):
    day, ten, eleven = next_monday_10.date(), next_monday_10, next_monday_10.replace(hour=11)
    page = open_context()

    page.goto("/accounts/signup/")
    page.get_by_label("First name").fill("Ada")
    page.get_by_label("Last name").fill("Lovelace")
    page.get_by_label("Email").fill("ada@example.test")
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Phone").fill("+1 555 0199")
    page.get_by_label("Insurance number").fill("INS-ADA-1815")
    page.get_by_label("Password", exact=True).fill("analytical-Engine-1843")
    page.get_by_label("Password (again)").fill("analytical-Engine-1843")
    page.get_by_role("button", name="Create account").click()
    expect(page).to_have_url(re.compile(r"/book/$"))
    ada = Patient.objects.get(user__username="ada")
    assert (ada.phone, ada.insurance_number) == ("+1 555 0199", "INS-ADA-1815")

    page.get_by_label("Specialization").select_option("General practice")
    page.get_by_label("Date").fill(day.isoformat())
    # The page may still be starting htmx when the fields change: ask for the day outright.
    page.get_by_role("button", name="Show free slots").click()
    expect(page.locator("#results h2")).to_have_text(f"Free slots on {day:%A} {day.day} {day:%B %Y}")
    slot_button(page, gp, ten).click()
    expect(page.get_by_role("heading", name="Confirm the appointment")).to_be_visible()
    page.get_by_label("Reason for the visit").fill("Persistent cough")
    page.get_by_role("button", name="Book this appointment").click()
    expect(page.get_by_text(views.BOOKED)).to_be_visible()
    expect(page.locator("#results .status")).to_have_text("Pending")
    appointment = Appointment.objects.get(patient=ada)
    assert (appointment.doctor, appointment.appointment_time, appointment.reason) == (gp, ten, "Persistent cough")

    page.get_by_role("link", name="My appointments").first.click()
    row = page.locator(f"#appointment-{appointment.pk}")
    expect(row).to_contain_text("Dr Meredith Grey")
    expect(row.locator(".status")).to_have_text("Pending")
    row.get_by_role("link", name="Cancel…").click()
    expect(row.get_by_text("Cancel this appointment?")).to_be_visible()
    row.get_by_role("button", name="Yes, cancel it").click()
    expect(row.get_by_text(views.CANCELLED)).to_be_visible()
    expect(row.locator(".status")).to_have_text("Cancelled")
    appointment.refresh_from_db()
    assert appointment.status == Appointment.Status.CANCELLED

    desk = open_context()
    factories.ReceptionFactory(username="frontdesk")
    desk.goto("/accounts/login/")
    desk.get_by_label("Username or email").fill("frontdesk")
    desk.get_by_label("Password").fill(factories.PASSWORD)
    desk.get_by_role("button", name="Sign in").click()
    expect(desk.get_by_role("heading", name="Appointments of the day")).to_be_visible()
    desk.get_by_role("link", name="Book", exact=True).click()
    desk.get_by_label("Find a patient").press_sequentially("lovel", delay=30)
    desk.get_by_label("Ada Lovelace").check()
    desk.get_by_label("Date").fill(day.isoformat())
    desk.get_by_role("button", name="Show free slots").click()
    expect(desk.locator("#results h2")).to_have_text(f"Free slots on {day:%A} {day.day} {day:%B %Y}")
    slot_button(desk, gp, eleven).click()
    expect(desk.locator(".confirm")).to_contain_text("Ada Lovelace")
    desk.get_by_role("button", name="Book this appointment").click()
    expect(desk.get_by_text(views.BOOKED_FOR)).to_be_visible()
    booked = Appointment.objects.get(patient=ada, status=Appointment.Status.PENDING)
    assert booked.appointment_time == eleven


def test_a_slot_booked_in_one_browser_is_gone_in_another(open_context, gp, next_monday_10):
    day, nine = next_monday_10.date(), next_monday_10.replace(hour=9)
    first = open_context(factories.PatientFactory().user)
    second = open_context(factories.PatientFactory().user)
    for page in (first, second):
        page.goto(f"/book/?date={day.isoformat()}")
        expect(slot_button(page, gp, nine)).to_be_visible()

    slot_button(first, gp, nine).click()
    first.get_by_role("button", name="Book this appointment").click()
    expect(first.get_by_text(views.BOOKED)).to_be_visible()

    # The second browser still shows the slot it loaded earlier: taking it is refused in place.
    slot_button(second, gp, nine).click()
    second.get_by_role("button", name="Book this appointment").click()
    expect(second.get_by_role("alert")).to_contain_text(views.SLOT_GONE)
    expect(slot_button(second, gp, nine)).to_have_count(0)
    expect(slot_button(second, gp, nine.replace(minute=30))).to_be_visible()
    # And a fresh look at the day does not offer it either.
    second.reload()
    expect(slot_button(second, gp, next_monday_10.replace(hour=9, minute=30))).to_be_visible()
    expect(slot_button(second, gp, nine)).to_have_count(0)
    assert Appointment.objects.filter(appointment_time=nine).count() == 1


def test_a_slot_picked_while_the_results_refresh_is_not_lost(open_context, gp, next_monday_10):
    day, ten = next_monday_10.date(), next_monday_10
    page = open_context(factories.PatientFactory().user)
    page.goto(f"/book/?date={day.isoformat()}")
    expect(slot_button(page, gp, ten)).to_be_visible()

    # Hold every refresh of the results in flight; a request that picks a slot goes through.
    held = []

    def hold_refreshes(route):
        if "slot=" in route.request.url:
            route.continue_()
        else:
            held.append(route)

    page.route(re.compile(r"/book/\?"), hold_refreshes)
    page.get_by_label("Specialization").select_option("General practice")
    page.wait_for_function("() => document.querySelector('#finder').classList.contains('htmx-request')")
    assert held, "the refresh should be in flight"
    slot_button(page, gp, ten).click()
    expect(page.get_by_role("heading", name="Confirm the appointment")).to_be_visible()
    expect(page.locator(".confirm")).to_contain_text("Dr Meredith Grey")
    page.unroute(re.compile(r"/book/\?"))
