"""The admin's appointment list fits a laptop's window: every column in view, no sideways scrolling.

At 1280×800 the changelist, its filter sidebar and the widest cells it gets (long doctor
names and specializations, long reasons, long patient names) sit inside the viewport
(static/clinic/admin/admin.css). CLINIC_SCREENSHOTS=1 keeps a screenshot in
tests/browser/artifacts/ to look at.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from tests import factories
from tests.browser.conftest import ARTIFACTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LAPTOP = {"width": 1280, "height": 800}
HEADERS = ["Appointment time", "Doctor", "Patient", "Status", "Reason"]
LONG_REASON = (
    "Recurring headaches on waking, worse after night shifts, with blurred vision in the left eye "
    "since the change of medication in the spring; wants a referral to the eye clinic and a review "
    "of the blood pressure tablets"
)


@pytest.fixture
def busy_list(transactional_db, next_monday_10):
    """A page of appointments with the longest names and reasons the front desk sees."""
    doctors = [
        factories.DoctorFactory(
            user__first_name="Maximiliane-Charlotte",
            user__last_name="Wolfeschlegelsteinhausen-Bergdorff",
            specialization="Paediatric cardiology and congenital heart disease",
        ),
        factories.DoctorFactory(
            user__first_name="Bartholomew",
            user__last_name="Featherstonehaugh-Cholmondeley",
            specialization="Obstetrics and gynaecology",
        ),
        factories.DoctorFactory(user__first_name="Ana", user__last_name="Li", specialization="General practice"),
    ]
    patients = [
        factories.PatientFactory(user__first_name="Alexandra-Konstantina", user__last_name="Papadopoulou-Vasilakis"),
        factories.PatientFactory(user__first_name="Jean-Baptiste", user__last_name="Montgomery-Fitzwilliam"),
        factories.PatientFactory(user__first_name="Bo", user__last_name="Ek"),
    ]
    statuses = ["pending", "confirmed", "cancelled"]
    for number in range(24):
        factories.AppointmentFactory(
            doctor=doctors[number % 3],
            patient=patients[(number // 3) % 3],
            appointment_time=next_monday_10 + timedelta(days=number // 3, minutes=30 * (number % 3)),
            status=statuses[number % 3],
            reason=LONG_REASON if number % 2 == 0 else "Check-up",
        )


def test_the_appointment_list_fits_a_laptop_window(open_context, busy_list):
    admin = factories.AdminFactory(username="head")
    page = open_context(admin, **LAPTOP)

    page.goto("/admin/clinic/appointment/")
    expect(page.locator("#result_list tbody tr")).to_have_count(24)
    expect(page.locator("#changelist-filter")).to_be_visible()

    header_cells = page.locator("#result_list thead th")
    for name in HEADERS:
        cell = header_cells.filter(has_text=name)
        expect(cell).to_have_count(1)
        box = cell.bounding_box()
        assert box is not None and box["width"] > 0, name
        assert box["x"] >= 0 and box["x"] + box["width"] <= LAPTOP["width"], (name, box)
    # Nothing else sticks out either: the page needs no sideways scrolling.
    assert page.evaluate("document.documentElement.scrollWidth") <= LAPTOP["width"]
    # The long reasons wrap inside their column instead of widening the table.
    reason = page.locator("#result_list tbody td.field-short_reason").first.bounding_box()
    assert reason is not None and reason["x"] + reason["width"] <= LAPTOP["width"]

    if os.environ.get("CLINIC_SCREENSHOTS"):
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=ARTIFACTS / "admin-appointments-1280x800.png", full_page=True)
