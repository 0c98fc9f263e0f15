"""/my/appointments/: a patient's upcoming and past appointments, a doctor's or the front desk's day,
cancel, reschedule and confirm in place."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from clinic import access, booking, forms, views
from clinic.models import DOCTOR_OVERLAP, Appointment
from tests import factories
from tests.pages.conftest import signed_in
from tests.pages.html import inline_code, unlabelled_controls

pytestmark = pytest.mark.django_db

Status = Appointment.Status


@pytest.fixture
def upcoming(patient, gp, slot):
    return factories.AppointmentFactory(patient=patient, doctor=gp, appointment_time=slot, reason="Check-up")


def test_signing_in_is_required(client):
    assert client.get("/my/appointments/")["Location"].startswith("/accounts/login/")


def test_patient_sees_own_upcoming_and_past_appointments_only(patient, gp, upcoming):
    past = factories.AppointmentFactory(
        patient=patient, doctor=gp, appointment_time=datetime.now(UTC) - timedelta(days=3)
    )
    someone_elses = factories.AppointmentFactory(doctor=gp, appointment_time=upcoming.appointment_time.replace(hour=15))
    html = signed_in(patient.user).get("/my/appointments/").content.decode()
    upcoming_part, past_part = html.split('id="past-heading"')
    assert f'id="appointment-{upcoming.pk}"' in upcoming_part
    assert f'id="appointment-{past.pk}"' in past_part
    assert f'id="appointment-{someone_elses.pk}"' not in html
    assert unlabelled_controls(html) == [] and inline_code(html) == (0, [], 0)


def test_patient_list_runs_a_constant_number_of_queries(patient, gp, slot, django_assert_num_queries):
    for hour in (9, 10, 11, 12):
        factories.AppointmentFactory(patient=patient, doctor=gp, appointment_time=slot.replace(hour=hour))
    client = signed_in(patient.user)
    # session, user with role flags, upcoming (with patient, doctor and their users), past
    with django_assert_num_queries(4):
        client.get("/my/appointments/")


def test_htmx_request_gets_the_list_fragment(patient, upcoming):
    html = signed_in(patient.user).get("/my/appointments/", headers={"HX-Request": "true"}).content.decode()
    assert "<html" not in html and f'id="appointment-{upcoming.pk}"' in html


def test_another_patients_appointment_is_not_found(patient, gp, slot):
    theirs = factories.AppointmentFactory(doctor=gp, appointment_time=slot)
    client = signed_in(patient.user)
    assert client.get(f"/my/appointments/{theirs.pk}/").status_code == 404
    assert client.get(f"/my/appointments/{theirs.pk}/?action=cancel", headers={"HX-Request": "true"}).status_code == 404
    assert client.post(f"/my/appointments/{theirs.pk}/", {"action": "cancel"}).status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == Status.PENDING


def test_cancel_asks_first_then_cancels_in_place(patient, upcoming, htmx_headers):
    client = signed_in(patient.user)
    url = f"/my/appointments/{upcoming.pk}/"
    ask = client.get(url, {"action": "cancel"}, headers=htmx_headers()).content.decode()
    assert "Cancel this appointment?" in ask and "<html" not in ask
    upcoming.refresh_from_db()
    assert upcoming.status == Status.PENDING
    done = client.post(url, {"action": "cancel"}, headers=htmx_headers())
    assert done.status_code == 200
    assert views.CANCELLED in done.content.decode() and "Cancelled" in done.content.decode()
    upcoming.refresh_from_db()
    assert upcoming.status == Status.CANCELLED


def test_plain_requests_get_the_full_page_and_a_redirect(patient, upcoming):
    client = signed_in(patient.user)
    url = f"/my/appointments/{upcoming.pk}/"
    page = client.get(url, {"action": "cancel"}).content.decode()
    assert "<html" in page and "Cancel this appointment?" in page
    response = client.post(url, {"action": "cancel"})
    assert response.status_code == 302 and response["Location"] == "/my/appointments/"
    assert views.CANCELLED in client.get("/my/appointments/").content.decode()


def test_cancelling_within_the_cutoff_is_a_message_in_place(patient, gp, in_two_hours, htmx_headers):
    soon = factories.AppointmentFactory(patient=patient, doctor=gp, appointment_time=in_two_hours)
    response = signed_in(patient.user).post(
        f"/my/appointments/{soon.pk}/", {"action": "cancel"}, headers=htmx_headers()
    )
    assert response.status_code == 200
    assert booking.PATIENT_CUTOFF.format(hours=24) in response.content.decode()
    soon.refresh_from_db()
    assert soon.status == Status.PENDING


def test_cancelling_twice_is_a_message(patient, upcoming, htmx_headers):
    upcoming.status = Status.CANCELLED
    upcoming.save()
    response = signed_in(patient.user).post(
        f"/my/appointments/{upcoming.pk}/", {"action": "cancel"}, headers=htmx_headers()
    )
    assert response.status_code == 200 and booking.CANCELLED_IS_FINAL in response.content.decode()


def test_reschedule_offers_free_slots_and_moves_in_place(patient, gp, upcoming, slot, htmx_headers):
    client = signed_in(patient.user)
    url = f"/my/appointments/{upcoming.pk}/"
    offer = client.get(url, {"action": "reschedule", "date": slot.date()}, headers=htmx_headers()).content.decode()
    later = slot.replace(hour=14)
    assert f'name="slot" value="{later.isoformat()}"' in offer
    assert f'name="slot" value="{slot.isoformat()}"' not in offer
    moved = client.post(url, {"action": "reschedule", "slot": later.isoformat()}, headers=htmx_headers())
    assert "has moved to" in moved.content.decode()
    upcoming.refresh_from_db()
    assert upcoming.appointment_time == later


def test_rescheduling_onto_a_taken_slot_is_a_message_with_fresh_slots(patient, gp, upcoming, slot, htmx_headers):
    taken = factories.AppointmentFactory(doctor=gp, appointment_time=slot.replace(hour=14))
    response = signed_in(patient.user).post(
        f"/my/appointments/{upcoming.pk}/",
        {"action": "reschedule", "slot": taken.appointment_time.isoformat(), "date": slot.date()},
        headers=htmx_headers(),
    )
    html = response.content.decode()
    assert response.status_code == 200 and DOCTOR_OVERLAP in html
    assert f'name="slot" value="{slot.replace(hour=15).isoformat()}"' in html
    upcoming.refresh_from_db()
    assert upcoming.appointment_time == slot


def test_a_mangled_reschedule_slot_is_a_message(patient, upcoming, htmx_headers):
    response = signed_in(patient.user).post(
        f"/my/appointments/{upcoming.pk}/", {"action": "reschedule", "slot": "soon"}, headers=htmx_headers()
    )
    assert response.status_code == 200 and forms.SLOT_INVALID in response.content.decode()


def test_a_patient_cannot_confirm(patient, upcoming, htmx_headers):
    assert ">Confirm<" not in signed_in(patient.user).get("/my/appointments/").content.decode()
    response = signed_in(patient.user).post(
        f"/my/appointments/{upcoming.pk}/", {"action": "confirm"}, headers=htmx_headers()
    )
    assert response.status_code == 200 and access.NOT_ALLOWED in response.content.decode()
    upcoming.refresh_from_db()
    assert upcoming.status == Status.PENDING


def test_doctor_sees_their_day_and_confirms_or_cancels(gp, upcoming, slot, htmx_headers):
    other_doctors = factories.AppointmentFactory(appointment_time=slot)
    client = signed_in(gp.user)
    day = client.get("/my/appointments/", {"date": slot.date()}).content.decode()
    assert "My day" in day and f'id="appointment-{upcoming.pk}"' in day
    assert f'id="appointment-{other_doctors.pk}"' not in day
    assert ">Confirm<" in day and "Reschedule" not in day
    assert unlabelled_controls(day) == [] and inline_code(day) == (0, [], 0)
    fragment = client.get("/my/appointments/", {"date": slot.date()}, headers=htmx_headers("appointments"))
    assert "<html" not in fragment.content.decode()

    confirmed = client.post(f"/my/appointments/{upcoming.pk}/", {"action": "confirm"}, headers=htmx_headers())
    assert views.CONFIRMED in confirmed.content.decode()
    upcoming.refresh_from_db()
    assert upcoming.status == Status.CONFIRMED
    client.post(f"/my/appointments/{upcoming.pk}/", {"action": "cancel"}, headers=htmx_headers())
    upcoming.refresh_from_db()
    assert upcoming.status == Status.CANCELLED


def test_doctor_cannot_reschedule_nor_reach_another_doctors_appointment(gp, upcoming, slot, htmx_headers):
    client = signed_in(gp.user)
    response = client.post(
        f"/my/appointments/{upcoming.pk}/",
        {"action": "reschedule", "slot": slot.replace(hour=14).isoformat()},
        headers=htmx_headers(),
    )
    assert response.status_code == 200 and access.NOT_ALLOWED in response.content.decode()
    other = factories.AppointmentFactory(appointment_time=slot)
    assert client.post(f"/my/appointments/{other.pk}/", {"action": "confirm"}).status_code == 404


def test_front_desk_sees_everyones_day_and_can_cancel(reception, upcoming, slot, htmx_headers):
    other = factories.AppointmentFactory(appointment_time=slot)
    client = signed_in(reception)
    day = client.get("/my/appointments/", {"date": slot.date()}).content.decode()
    assert f'id="appointment-{upcoming.pk}"' in day and f'id="appointment-{other.pk}"' in day
    response = client.post(f"/my/appointments/{other.pk}/", {"action": "cancel"})
    assert response["Location"] == f"/my/appointments/?date={slot.date().isoformat()}"
    other.refresh_from_db()
    assert other.status == Status.CANCELLED


def test_the_front_desk_checks_a_patient_in_and_completes_the_visit_from_the_day_list(reception, gp, htmx_headers):
    from django.utils import timezone

    midday = booking.day_bounds(timezone.localdate())[0] + timedelta(hours=12)
    with time_machine.travel(midday, tick=False):
        soon = factories.AppointmentFactory(
            doctor=gp, appointment_time=midday + timedelta(minutes=20), status=Status.CONFIRMED
        )
        client = signed_in(reception)
        day = client.get("/my/appointments/").content.decode()
        assert 'name="status" value="arrived"' in day and "Check in" in day
        assert 'value="no_show"' not in day  # not before fifteen minutes after the start
        url = f"/my/appointments/{soon.pk}/"
        checked_in = client.post(url, {"action": "move", "status": "arrived"}, headers=htmx_headers())
        assert views.MOVED.format(status="Checked in") in checked_in.content.decode()
        assert 'value="completed"' in checked_in.content.decode()
        done = client.post(url, {"action": "move", "status": "completed"}, headers=htmx_headers()).content.decode()
        assert views.MOVED.format(status="Completed") in done and 'name="action"' not in done
    soon.refresh_from_db()
    assert (soon.status, soon.arrived_at, soon.completed_at) == (Status.COMPLETED, midday, midday)


def test_a_patient_is_offered_no_visit_moves_and_is_refused_one(patient, gp, htmx_headers):
    from django.utils import timezone

    midday = booking.day_bounds(timezone.localdate())[0] + timedelta(hours=12)
    with time_machine.travel(midday, tick=False):
        soon = factories.AppointmentFactory(patient=patient, doctor=gp, appointment_time=midday + timedelta(minutes=20))
        client = signed_in(patient.user)
        assert 'value="arrived"' not in client.get("/my/appointments/").content.decode()
        refused = client.post(
            f"/my/appointments/{soon.pk}/", {"action": "move", "status": "arrived"}, headers=htmx_headers()
        )
    assert access.NOT_ALLOWED in refused.content.decode()
    soon.refresh_from_db()
    assert soon.status == Status.PENDING


def test_unknown_action_is_a_message(patient, upcoming, htmx_headers):
    response = signed_in(patient.user).post(
        f"/my/appointments/{upcoming.pk}/", {"action": "delete"}, headers=htmx_headers()
    )
    assert response.status_code == 200 and "Unknown action." in response.content.decode()
    assert Appointment.objects.filter(pk=upcoming.pk, status=Status.PENDING).exists()


def test_home_sends_people_where_they_belong(client, patient):
    assert client.get("/")["Location"] == "/accounts/login/"
    assert signed_in(patient.user).get("/")["Location"] == "/my/appointments/"


def test_a_patient_cancels_a_visit_of_a_series_and_the_later_ones_after_asking(patient, gp, slot):
    booked = booking.series_book(
        actor=factories.ReceptionFactory(), patient=patient, doctor=gp, start=slot, every_weeks=1, count=3
    )
    first, second, third = booked.appointments
    client = signed_in(patient.user)
    page = client.get("/my/appointments/").content.decode()
    assert f"/my/appointments/{second.pk}/?action=cancel_following" in page
    asked = client.get(f"/my/appointments/{second.pk}/", {"action": "cancel_following"}).content.decode()
    assert "Cancel this appointment and the later ones of its series?" in asked
    response = client.post(f"/my/appointments/{second.pk}/", {"action": "cancel_following"})
    assert response.status_code == 302
    assert views.CANCELLED_FOLLOWING.format(count=2) in client.get("/my/appointments/").content.decode()
    statuses = dict(Appointment.objects.values_list("pk", "status"))
    assert [statuses[a.pk] for a in (first, second, third)] == [Status.PENDING, Status.CANCELLED, Status.CANCELLED]


def test_inside_the_cutoff_a_patient_gets_no_buttons_and_is_told_why(patient, gp, in_two_hours):
    soon = factories.AppointmentFactory(patient=patient, doctor=gp, appointment_time=in_two_hours)
    html = signed_in(patient.user).get("/my/appointments/").content.decode()
    row = html.split(f'id="appointment-{soon.pk}"')[1].split("</article>")[0]
    assert "Reschedule" not in row and "Cancel…" not in row
    assert "cannot be changed online within 24 hours" in row and "+1 555 0100" in row


def test_inside_the_cutoff_the_front_desk_still_can(reception, patient, gp, in_two_hours):
    soon = factories.AppointmentFactory(patient=patient, doctor=gp, appointment_time=in_two_hours)
    html = signed_in(reception).get("/my/appointments/", {"date": in_two_hours.date().isoformat()}).content.decode()
    row = html.split(f'id="appointment-{soon.pk}"')[1].split("</article>")[0]
    assert "Reschedule" in row and "Cancel…" in row and "cannot be changed online" not in row
