"""/book/: find a free slot, confirm it, see it booked — full pages and htmx fragments."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail

from clinic import booking, forms, views
from clinic.models import DOCTOR_OVERLAP, Appointment
from tests import factories
from tests.pages.conftest import signed_in
from tests.pages.html import inline_code, unlabelled_controls

pytestmark = pytest.mark.django_db


# session, user with role flags, visit types, specializations, the doctors shown
BOOK_PAGE_QUERIES = 5


def slot_value(doctor, start) -> str:
    return f"{doctor.pk}@{start.isoformat()}"


def test_signing_in_is_required(client):
    response = client.get("/book/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_full_page_lists_free_slots_of_each_doctor_with_htmx_from_static(patient, gp, cardiologist, day):
    response = signed_in(patient.user).get("/book/", {"date": day.isoformat()})
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" in html and 'id="finder"' in html
    assert f'value="{gp.pk}@{day.isoformat()}T09:00:00+00:00"' in html
    assert f'value="{cardiologist.pk}@{day.isoformat()}T16:30:00+00:00"' in html
    assert '<script src="/static/django_htmx/htmx-2.min.js" defer></script>' in html
    assert '"allowEval": false' in html
    assert 'hx-headers=\'{"X-CSRFToken": "' in html
    assert response["Vary"].count("HX-Request") == 1


def test_page_has_a_label_for_every_control_and_no_inline_code(patient, gp, reception, day):
    for user in (patient.user, reception):
        html = signed_in(user).get("/book/", {"date": day.isoformat(), "q": "zz"}).content.decode()
        assert unlabelled_controls(html) == []
        assert inline_code(html) == (0, [], 0)


def test_htmx_request_gets_only_the_slots_fragment(patient, gp, day, htmx_headers):
    response = signed_in(patient.user).get("/book/", {"date": day.isoformat()}, headers=htmx_headers())
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html and 'id="finder"' not in html
    assert f"Free slots on {day:%A} {day.day} {day:%B %Y}" in html
    assert f'value="{gp.pk}@{day.isoformat()}T09:00:00+00:00"' in html


def test_specialization_and_doctor_name_narrow_the_doctors(patient, gp, cardiologist, day, htmx_headers):
    client = signed_in(patient.user)
    by_specialization = client.get("/book/", {"date": day, "specialization": "Cardiology"}, headers=htmx_headers())
    assert str(cardiologist) in by_specialization.content.decode()
    assert str(gp) not in by_specialization.content.decode()
    by_name = client.get("/book/", {"date": day, "doctor_q": "grey"}, headers=htmx_headers())
    assert str(gp) in by_name.content.decode()
    assert str(cardiologist) not in by_name.content.decode()


def test_booked_and_past_slots_are_not_offered(patient, gp, slot, htmx_headers):
    factories.AppointmentFactory(doctor=gp, appointment_time=slot)
    html = signed_in(patient.user).get("/book/", {"date": slot.date()}, headers=htmx_headers()).content.decode()
    assert slot_value(gp, slot) not in html
    assert slot_value(gp, slot + timedelta(minutes=30)) in html


def test_choosing_a_slot_shows_the_confirmation_step(patient, gp, slot, htmx_headers):
    client = signed_in(patient.user)
    params = {"date": slot.date(), "slot": slot_value(gp, slot)}
    fragment = client.get("/book/", params, headers=htmx_headers()).content.decode()
    assert "Confirm the appointment" in fragment and "<html" not in fragment
    assert f'name="slot" value="{slot_value(gp, slot)}"' in fragment
    assert 'name="reason"' in fragment
    page = client.get("/book/", params).content.decode()
    assert "<html" in page and "Confirm the appointment" in page


def test_booking_shows_the_appointment_with_its_status_and_emails_the_patient(
    patient, gp, slot, htmx_headers, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in(patient.user).post(
            "/book/", {"date": slot.date(), "slot": slot_value(gp, slot), "reason": "Cough"}, headers=htmx_headers()
        )
    html = response.content.decode()
    assert response.status_code == 200
    assert views.BOOKED in html and "Pending" in html and "Cough" in html
    appointment = Appointment.objects.get()
    assert (appointment.patient, appointment.doctor, appointment.appointment_time) == (patient, gp, slot)
    assert appointment.status == Appointment.Status.PENDING
    assert [m.to for m in mail.outbox] == [[patient.user.email]]
    assert response["HX-Replace-Url"] == "/book/"


def test_plain_post_books_and_redirects_to_my_appointments(patient, gp, slot):
    client = signed_in(patient.user)
    response = client.post("/book/", {"date": slot.date(), "slot": slot_value(gp, slot)})
    assert response.status_code == 302 and response["Location"] == "/my/appointments/"
    assert views.BOOKED in client.get("/my/appointments/").content.decode()
    assert Appointment.objects.filter(patient=patient).count() == 1


def test_a_slot_taken_meanwhile_is_said_in_place_with_fresh_slots(patient, gp, slot, htmx_headers):
    factories.AppointmentFactory(doctor=gp, appointment_time=slot)
    response = signed_in(patient.user).post(
        "/book/", {"date": slot.date(), "slot": slot_value(gp, slot)}, headers=htmx_headers()
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert views.SLOT_GONE in html and DOCTOR_OVERLAP in html
    assert slot_value(gp, slot) not in html
    assert slot_value(gp, slot + timedelta(minutes=30)) in html
    assert not Appointment.objects.filter(patient=patient).exists()


@pytest.mark.parametrize(
    ("shift", "message"),
    [
        (timedelta(days=-30), booking.IN_PAST),
        (timedelta(minutes=10), None),  # off the 30-minute grid
        (timedelta(days=400), None),  # beyond the horizon
    ],
)
def test_each_booking_rule_is_a_message_not_an_error_page(patient, gp, slot, htmx_headers, shift, message):
    start = slot + shift
    response = signed_in(patient.user).post(
        "/book/", {"date": slot.date(), "slot": slot_value(gp, start)}, headers=htmx_headers()
    )
    assert response.status_code == 200
    html = response.content.decode()
    expected = message or (
        booking.OFF_GRID.format(minutes=30, start="09:00")
        if shift < timedelta(days=1)
        else booking.TOO_FAR.format(days=90)
    )
    assert expected in html
    assert 'role="alert"' in html
    assert not Appointment.objects.exists()


def test_a_mangled_slot_is_a_message(patient, gp, slot, htmx_headers):
    client = signed_in(patient.user)
    for value in ("nonsense", f"{gp.pk}@not-a-date", f"999999@{slot.isoformat()}", f"{gp.pk}@2030-01-01T10:00"):
        response = client.post("/book/", {"date": slot.date(), "slot": value}, headers=htmx_headers())
        assert response.status_code == 200
        assert forms.SLOT_INVALID in response.content.decode()
    assert not Appointment.objects.exists()


def test_a_too_long_reason_keeps_the_confirmation_step(patient, gp, slot, htmx_headers):
    response = signed_in(patient.user).post(
        "/book/", {"date": slot.date(), "slot": slot_value(gp, slot), "reason": "x" * 501}, headers=htmx_headers()
    )
    html = response.content.decode()
    assert "Confirm the appointment" in html and "at most 500 characters" in html
    assert not Appointment.objects.exists()


def test_a_patient_cannot_book_for_someone_else(patient, gp, slot, htmx_headers):
    other = factories.PatientFactory()
    signed_in(patient.user).post(
        "/book/", {"date": slot.date(), "slot": slot_value(gp, slot), "patient": other.pk}, headers=htmx_headers()
    )
    assert Appointment.objects.get().patient == patient


def test_doctors_cannot_book_here(gp):
    response = signed_in(gp.user).get("/book/")
    assert response.status_code == 403
    assert views.BOOKING_CLOSED in response.content.decode()
    assert signed_in(gp.user).post("/book/", {}).status_code == 403


@pytest.mark.parametrize("role", ["reception", "clinic_admin"])
def test_front_desk_finds_a_patient_with_a_debounced_search(request, role, htmx_headers):
    staff = request.getfixturevalue(role)
    wanted = factories.PatientFactory(user__last_name="Lovelace", insurance_number="INS-LOVE")
    factories.PatientFactory(user__last_name="Hopper")
    client = signed_in(staff)
    page = client.get("/book/").content.decode()
    assert 'hx-trigger="input changed delay:300ms, search"' in page
    for text in ("lovel", "INS-LOVE"):
        fragment = client.get("/book/", {"q": text}, headers=htmx_headers("patient-results")).content.decode()
        assert "<html" not in fragment
        assert f'name="patient" value="{wanted.pk}"' in fragment
        assert "Hopper" not in fragment


def test_patients_get_no_patient_search(patient, htmx_headers):
    factories.PatientFactory(user__last_name="Lovelace")
    client = signed_in(patient.user)
    assert 'id="id_q"' not in client.get("/book/").content.decode()
    fragment = client.get("/book/", {"q": "lovel"}, headers=htmx_headers("patient-results")).content.decode()
    assert "Lovelace" not in fragment


def test_front_desk_books_for_the_chosen_patient(reception, patient, gp, slot, htmx_headers):
    response = signed_in(reception).post(
        "/book/", {"date": slot.date(), "slot": slot_value(gp, slot), "patient": patient.pk}, headers=htmx_headers()
    )
    assert views.BOOKED_FOR in response.content.decode()
    assert Appointment.objects.get().patient == patient


def test_front_desk_must_choose_a_patient(reception, gp, slot, htmx_headers):
    client = signed_in(reception)
    confirm = client.get("/book/", {"date": slot.date(), "slot": slot_value(gp, slot)}, headers=htmx_headers())
    assert "Choose the patient above" in confirm.content.decode()
    response = client.post("/book/", {"date": slot.date(), "slot": slot_value(gp, slot)}, headers=htmx_headers())
    assert response.status_code == 200
    assert forms.PATIENT_REQUIRED in response.content.decode()
    assert not Appointment.objects.exists()


def test_plain_post_by_front_desk_redirects_to_that_day(reception, patient, gp, slot):
    response = signed_in(reception).post(
        "/book/", {"date": slot.date(), "slot": slot_value(gp, slot), "patient": patient.pk}
    )
    assert response["Location"] == f"/my/appointments/?date={slot.date().isoformat()}"


def test_history_restore_gets_the_full_page(patient, gp):
    headers = {"HX-Request": "true", "HX-History-Restore-Request": "true"}
    assert "<html" in signed_in(patient.user).get("/book/", headers=headers).content.decode()


# --- The rules before the click ----------------------------------------------------------


def test_without_a_date_the_page_opens_on_the_first_day_with_free_slots(patient, slot, django_assert_num_queries):
    """ "Next available": every slot of the only doctor is taken up to the Monday of `slot`."""
    doctor = factories.DoctorFactory(
        working_days=[0], available_from=slot.time(), available_to=(slot + timedelta(hours=1)).time()
    )
    first_monday = forms.first_bookable_day()
    while first_monday.weekday() != 0 or first_monday < forms.first_bookable_day():
        first_monday += timedelta(days=1)
    monday = first_monday
    while monday < slot.date():
        for start in booking.grid_starts(doctor, monday):
            factories.AppointmentFactory(doctor=doctor, appointment_time=start)
        monday += timedelta(days=7)
    client = signed_in(patient.user)
    # The page's own queries, then two per week searched up to the one with a free slot (then
    # two for that day's slots), whatever the number of appointments.
    weeks = (slot.date() - forms.first_bookable_day()).days // booking.NEXT_FREE_DAYS_PER_ROUND + 1
    with django_assert_num_queries(BOOK_PAGE_QUERIES + 2 * weeks + 2):
        html = client.get("/book/").content.decode()
    assert f"Free slots on {slot:%A} {slot.day} {slot:%B %Y}" in html
    assert f'value="{slot_value(doctor, slot)}"' in html
    assert "The first day with free slots" in html


def test_a_day_outside_the_booking_window_is_explained(patient, gp, htmx_headers):
    client = signed_in(patient.user)
    too_far = forms.first_bookable_day() + timedelta(days=200)
    html = client.get("/book/", {"date": too_far.isoformat()}, headers=htmx_headers()).content.decode()
    assert "Bookings open 90 days ahead" in html and "No free slots on this day" not in html
    past = forms.first_bookable_day() - timedelta(days=3)
    html = client.get("/book/", {"date": past.isoformat()}, headers=htmx_headers()).content.decode()
    assert "That day can no longer be booked online" in html


def test_booking_inside_the_cutoff_says_first_that_it_cannot_be_changed_online(patient, gp, htmx_headers):
    soon = booking.slots_free(doctor=gp, day=forms.first_bookable_day() + timedelta(days=1))[0]
    if booking.changeable_online(soon):
        soon = booking.slots_free(doctor=gp, day=forms.first_bookable_day())[0]
    client = signed_in(patient.user)
    inside = client.get("/book/", {"slot": slot_value(gp, soon)}, headers=htmx_headers()).content.decode()
    assert booking.changeable_online(soon) is False
    assert "once booked, it cannot be changed or cancelled online" in inside
    later = booking.slots_free(doctor=gp, day=forms.first_bookable_day() + timedelta(days=5))[0]
    outside = client.get("/book/", {"slot": slot_value(gp, later)}, headers=htmx_headers()).content.decode()
    assert "Confirm the appointment" in outside and "cannot be changed or cancelled online" not in outside
