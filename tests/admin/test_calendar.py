"""The front desk's calendar (/admin/calendar/): who sees what, its events endpoint, and every
action through clinic/booking.py with the rule's message.

The browser side (EventCalendar, drag and drop, the side panel) is in
tests/browser/test_calendar.py.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, time, timedelta
from html import unescape

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from clinic import booking
from clinic.access import NOT_ALLOWED
from clinic.admin import calendar
from clinic.models import DOCTOR_OVERLAP, Appointment, EmailOutbox, Patient
from tests import factories

pytestmark = pytest.mark.django_db

Status = Appointment.Status
# A Monday, far enough ahead of the real date that bookings stay in the future: the tests that
# need "now" travel to NOW, an hour before it.
MONDAY = date(2031, 3, 3)
NOW = datetime(2031, 3, 3, 8, 0, tzinfo=UTC)


def at(hour: int, minute: int = 0, *, days: int = 0) -> datetime:
    return datetime.combine(MONDAY + timedelta(days=days), time(hour, minute), tzinfo=UTC)


def events_url(doctors, start: date = MONDAY, end: date | None = None, **extra) -> str:
    ids = ",".join(str(doctor.pk) for doctor in doctors)
    params = {"start": start.isoformat(), "end": (end or start + timedelta(days=1)).isoformat(), "doctors": ids}
    params.update(extra)
    return reverse("admin:calendar-events") + "?" + "&".join(f"{key}={value}" for key, value in params.items())


def move_url(appointment) -> str:
    return reverse("admin:calendar-move", args=[appointment.pk])


def status_url(appointment) -> str:
    return reverse("admin:calendar-status", args=[appointment.pk])


def page_data(response) -> dict[str, str]:
    """The data- attributes the calendar script starts from."""
    html = response.content.decode()
    tag = re.search(r'<div id="clinic-calendar"(.*?)></div>', html, re.S).group(1)
    return {name: unescape(value) for name, value in re.findall(r'data-([\w-]+)="([^"]*)"', tag)}


def appointment_events(response) -> list[dict]:
    assert response.status_code == 200, response.content
    return [event for event in response.json()["events"] if event["extendedProps"]["kind"] == "appointment"]


@pytest.fixture
def now():
    """The clock stopped at NOW; a test asks for it first, so its clients sign in at NOW too."""
    with time_machine.travel(NOW, tick=False):
        yield NOW


@pytest.fixture
def nobody_client(db) -> Client:
    """Staff access to the admin, but no clinic role (no group, no profile)."""
    client = Client()
    client.force_login(factories.UserFactory(is_staff=True))
    return client


def snapshot() -> tuple:
    """What a refused request must leave as it was."""
    return (
        list(Appointment.objects.order_by("pk").values_list("pk", "doctor_id", "appointment_time", "status")),
        EmailOutbox.objects.count(),
        Appointment.history.count(),
    )


# --- Who sees what -------------------------------------------------------------------------


def test_signed_out_people_and_patients_are_sent_to_the_sign_in_page(client, patient):
    for url in [reverse("admin:calendar"), reverse("admin:calendar-events")]:
        assert client.get(url)["Location"].startswith("/admin/login/")
    client.force_login(patient.user)
    assert client.get(reverse("admin:calendar"))["Location"].startswith("/admin/login/")


def test_staff_without_a_clinic_role_get_403_everywhere(nobody_client, clinic):
    assert nobody_client.get(reverse("admin:calendar")).status_code == 403
    response = nobody_client.get(events_url([clinic.doctor]))
    assert (response.status_code, response.json()) == (403, {"detail": NOT_ALLOWED})
    assert nobody_client.get(reverse("admin:calendar-patients") + "?q=ab").status_code == 403
    assert nobody_client.post(status_url(clinic.own_appointment), {"status": "confirmed"}).status_code == 403
    assert "clinic-calendar-link" not in nobody_client.get(reverse("admin:index")).content.decode()


def test_reception_and_the_clinic_admin_see_every_doctor(role_clients, clinic):
    for role in ("reception", "admin"):
        response = role_clients[role].get(reverse("admin:calendar"))
        assert response.status_code == 200
        columns = [resource["id"] for resource in json.loads(page_data(response)["resources"])]
        assert sorted(columns) == sorted([str(clinic.doctor.pk), str(clinic.other_doctor.pk)]), role
        assert 'id="clinic-calendar-link"' in response.content.decode()


def test_a_doctor_sees_their_own_column_and_week_only(doctor_client, clinic):
    for view in ("day", "week"):
        response = doctor_client.get(reverse("admin:calendar") + f"?view={view}&doctor={clinic.other_doctor.pk}")
        assert response.status_code == 200
        assert [r["id"] for r in json.loads(page_data(response)["resources"])] == [str(clinic.doctor.pk)]
    data = page_data(response)
    assert data["can-book"] == "false"
    # Their own visits, with the link to the appointment's page (where its records are).
    assert data["record-url"] == reverse("admin:clinic_appointment_change", args=[0])
    day = clinic.own_appointment.appointment_time.date()
    events = appointment_events(doctor_client.get(events_url([clinic.doctor], start=day)))
    assert [event["id"] for event in events] == [str(clinic.own_appointment.pk)]
    # Another doctor's column is not theirs to open.
    response = doctor_client.get(events_url([clinic.other_doctor]))
    assert response.status_code == 400
    assert response.json()["detail"] == calendar.DOCTORS_UNKNOWN.format(ids=clinic.other_doctor.pk)


def test_reception_never_gets_the_record_link(reception_client, admin_client_, clinic):
    assert page_data(reception_client.get(reverse("admin:calendar")))["record-url"] == ""
    assert page_data(admin_client_.get(reverse("admin:calendar")))["record-url"] != ""


def test_a_doctor_cannot_act_on_another_doctors_appointment(doctor_client, clinic):
    before = snapshot()
    for url, body in [
        (status_url(clinic.other_appointment), {"status": "confirmed"}),
        (move_url(clinic.other_appointment), {"start": "2031-03-03T11:00"}),
    ]:
        response = doctor_client.post(url, body)
        assert (response.status_code, response.json()) == (404, {"detail": calendar.NOT_FOUND})
    assert snapshot() == before


def test_doctors_neither_book_nor_search_patients_nor_drag(doctor_client, clinic, next_monday_10):
    before = snapshot()
    response = doctor_client.get(reverse("admin:calendar-patients") + "?q=" + clinic.own_patient.user.last_name)
    assert response.status_code == 403
    body = {"patient": clinic.own_patient.pk, "doctor": clinic.doctor.pk, "start": "2031-03-03T11:00"}
    response = doctor_client.post(reverse("admin:calendar-book"), body)
    assert (response.status_code, response.json()["detail"]) == (403, NOT_ALLOWED)
    response = doctor_client.post(
        move_url(clinic.own_appointment), {"start": (next_monday_10 + timedelta(hours=2)).isoformat()}
    )
    assert (response.status_code, response.json()["detail"]) == (403, NOT_ALLOWED)
    assert snapshot() == before
    events = appointment_events(doctor_client.get(events_url([clinic.doctor], start=next_monday_10.date())))
    assert [event["startEditable"] for event in events] == [False]


def test_the_page_never_refuses_its_filters(reception_client, clinic):
    for query in ["?date=not-a-date", "?date=9999-12-31", "?view=month&doctors=abc&doctor=x", "?doctors=999999"]:
        response = reception_client.get(reverse("admin:calendar") + query)
        assert response.status_code == 200, query


def test_the_specialization_filter_and_the_chosen_doctors_pick_the_columns(reception_client, db):
    gp = factories.DoctorFactory(specialization="General practice")
    other_gp = factories.DoctorFactory(specialization="General practice")
    cardiologist = factories.DoctorFactory(specialization="Cardiology")

    def columns(query: str) -> list[int]:
        response = reception_client.get(reverse("admin:calendar") + query)
        return sorted(int(r["id"]) for r in json.loads(page_data(response)["resources"]))

    assert columns("") == sorted([gp.pk, other_gp.pk, cardiologist.pk])
    assert columns("?specialization=Cardiology") == [cardiologist.pk]
    assert columns(f"?doctors={gp.pk}&doctors={cardiologist.pk}") == sorted([gp.pk, cardiologist.pk])
    assert columns(f"?view=week&doctor={other_gp.pk}") == [other_gp.pk]


# --- The events ----------------------------------------------------------------------------


def test_events_carry_blocks_time_off_and_closed_hours(now, reception_client):
    doctor = factories.DoctorFactory(available_from=time(9, 0), available_to=time(17, 0), working_days=[0, 1, 2, 3, 4])
    patient = factories.PatientFactory(phone="+1 555 0142", user__first_name="Ada", user__last_name="Lovelace")
    factories.AppointmentFactory(
        patient=patient, doctor=doctor, appointment_time=at(9, days=-30), status=Status.NO_SHOW
    )
    kind = factories.AppointmentTypeFactory(name="Follow-up", doctors=[doctor])
    visit = factories.AppointmentFactory(
        patient=patient,
        doctor=doctor,
        appointment_time=at(10),
        status=Status.CONFIRMED,
        reason="Cough",
        appointment_type=kind,
    )
    cancelled = factories.AppointmentFactory(doctor=doctor, appointment_time=at(11), status=Status.CANCELLED)
    factories.TimeOffFactory(doctor=doctor, starts_at=at(13), ends_at=at(14), reason="Training")

    response = reception_client.get(events_url([doctor], end=MONDAY + timedelta(days=7)))
    assert response.status_code == 200
    events = response.json()["events"]
    blocks = [event for event in events if event["extendedProps"]["kind"] == "appointment"]
    assert blocks == [
        {
            "id": str(visit.pk),
            "resourceIds": [str(doctor.pk)],
            "start": "2031-03-03T10:00:00",
            "end": "2031-03-03T10:30:00",
            "title": "Ada Lovelace",
            "classNames": ["clinic-ev", "clinic-ev--confirmed"],
            "startEditable": True,
            "durationEditable": False,
            "extendedProps": {
                "kind": "appointment",
                "status": "confirmed",
                "statusLabel": "Confirmed",
                "doctor": str(doctor.pk),
                "doctorName": f"Dr {doctor.user.get_full_name()}",
                "patient": patient.pk,
                "patientName": "Ada Lovelace",
                "phone": "+1 555 0142",
                "email": patient.user.email,
                "reason": "Cough",
                "typeName": "Follow-up",
                "noShows": 1,
                # Two hours before the start: check-in is open, and it may still be cancelled.
                "moves": [{"status": "arrived", "label": "Check in"}, {"status": "cancelled", "label": "Cancel…"}],
            },
        }
    ]
    away = [event for event in events if event["extendedProps"]["kind"] == "away"]
    assert [(event["start"], event["end"], event["display"]) for event in away] == [
        ("2031-03-03T13:00:00", "2031-03-03T14:00:00", "background")
    ]
    closed = [(event["start"], event["end"]) for event in events if event["extendedProps"]["kind"] == "closed"]
    assert ("2031-03-03T00:00:00", "2031-03-03T09:00:00") in closed
    assert ("2031-03-03T17:00:00", "2031-03-04T00:00:00") in closed
    # Saturday and Sunday are days off: closed all day.
    assert ("2031-03-08T00:00:00", "2031-03-09T00:00:00") in closed
    assert ("2031-03-09T00:00:00", "2031-03-10T00:00:00") in closed
    assert len(closed) == 5 * 2 + 2

    # Cancelled ones only when asked for.
    shown = appointment_events(reception_client.get(events_url([doctor], cancelled="true")))
    assert [event["id"] for event in shown] == [str(visit.pk), str(cancelled.pk)]


def test_the_moves_offered_are_those_the_booking_rules_allow_now(now, reception, reception_client):
    doctor = factories.DoctorFactory()
    appointments = [
        factories.AppointmentFactory(doctor=doctor, appointment_time=NOW + timedelta(minutes=30)),
        factories.AppointmentFactory(
            doctor=doctor, appointment_time=NOW - timedelta(minutes=30), status=Status.CONFIRMED
        ),
        factories.AppointmentFactory(doctor=doctor, appointment_time=NOW - timedelta(hours=2), status=Status.ARRIVED),
    ]
    events = appointment_events(reception_client.get(events_url([doctor], start=NOW.date())))
    offered = {event["id"]: [move["status"] for move in event["extendedProps"]["moves"]] for event in events}
    for appointment in appointments:
        assert offered[str(appointment.pk)] == booking.moves_allowed(actor=reception, appointment=appointment)
    assert [offered[str(appointment.pk)] for appointment in appointments] == [
        ["confirmed", "arrived", "cancelled"],
        ["arrived", "no_show"],
        ["in_progress", "completed"],
    ]


OUT_OF_RANGE = calendar.DAY_OUT_OF_RANGE.format(earliest=calendar.EARLIEST_DAY, latest=calendar.LATEST_DAY)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"start": "2031-03-01", "end": "2031-05-01"}, calendar.RANGE_TOO_LONG.format(days=calendar.MAX_RANGE_DAYS)),
        ({"start": "2031-03-03", "end": "2031-03-03"}, calendar.RANGE_ORDER),
        ({"start": "2031-03-04", "end": "2031-03-03"}, calendar.RANGE_ORDER),
        ({"start": "2031-13-01"}, "Start: Enter a valid date."),
        ({"start": "yesterday"}, "Start: Enter a valid date."),
        ({"start": "2031-03-03T10:00"}, "Start: Enter a valid date."),
        ({"start": "2031-03-03\x00"}, "Start: Enter a valid date."),
        ({"start": None}, "Start: This field is required."),
        ({"end": None}, "End: This field is required."),
        ({"start": "9999-12-30", "end": "9999-12-31"}, OUT_OF_RANGE),
        ({"start": "0001-01-01", "end": "0001-01-02"}, OUT_OF_RANGE),
        ({"doctors": None}, f"Doctors: {calendar.DOCTORS_REQUIRED}"),
        ({"doctors": ""}, f"Doctors: {calendar.DOCTORS_REQUIRED}"),
        ({"doctors": "1,a"}, f"Doctors: {calendar.DOCTORS_INVALID}"),
        ({"doctors": "-1"}, f"Doctors: {calendar.DOCTORS_INVALID}"),
        ({"doctors": "1" * 40}, f"Doctors: {calendar.DOCTORS_INVALID}"),
        ({"doctors": "1,,2"}, f"Doctors: {calendar.DOCTORS_INVALID}"),
        (
            {"doctors": ",".join(str(n) for n in range(1, 102))},
            f"Doctors: {calendar.TOO_MANY_DOCTORS.format(count=calendar.MAX_DOCTORS)}",
        ),
        ({"doctors": "999999"}, calendar.DOCTORS_UNKNOWN.format(ids="999999")),
    ],
)
def test_a_bad_events_request_is_a_400_never_a_500(reception_client, clinic, query, message):
    params = {"start": "2031-03-03", "end": "2031-03-04", "doctors": str(clinic.doctor.pk), **query}
    params = {key: value for key, value in params.items() if value is not None}
    response = reception_client.get(reverse("admin:calendar-events"), params)
    assert (response.status_code, response.json()["detail"]) == (400, message)


def test_a_mix_of_known_and_unknown_doctors_names_the_unknown_ones(reception_client, clinic):
    params = {"start": "2031-03-03", "end": "2031-03-04", "doctors": f"{clinic.doctor.pk},999998,999999"}
    response = reception_client.get(reverse("admin:calendar-events"), params)
    assert (response.status_code, response.json()["detail"]) == (
        400,
        calendar.DOCTORS_UNKNOWN.format(ids="999998, 999999"),
    )


# --- Constant queries ------------------------------------------------------------------------


def _busy_clinic(doctors: int, appointments: int) -> list:
    """`doctors` doctors, `appointments` appointments spread over their Monday-to-Friday slots
    (distinct patients at any one time), some time off, and a past no-show per patient."""
    team = factories.DoctorFactory.create_batch(doctors)
    patients = factories.PatientFactory.create_batch(max(doctors, 3))
    rows = []
    for n in range(appointments):
        doctor_index = n % doctors
        slot = n // doctors
        start = at(9, days=slot // 16) + timedelta(minutes=30 * (slot % 16))
        rows.append(
            Appointment(
                doctor=team[doctor_index],
                patient=patients[doctor_index % len(patients)],
                appointment_time=start,
                ends_at=start + timedelta(minutes=30),
                blocked_from=start,
                blocked_until=start + timedelta(minutes=30),
                status=Status.CONFIRMED,
            )
        )
    Appointment.objects.bulk_create(rows)
    Appointment.objects.bulk_create(
        Appointment(
            doctor=team[0],
            patient=patient,
            appointment_time=at(9, days=-7 * (i + 1)),
            ends_at=at(9, days=-7 * (i + 1)) + timedelta(minutes=30),
            blocked_from=at(9, days=-7 * (i + 1)),
            blocked_until=at(9, days=-7 * (i + 1)) + timedelta(minutes=30),
            status=Status.NO_SHOW,
        )
        for i, patient in enumerate(patients)
    )
    for doctor in team[:3]:
        factories.TimeOffFactory(doctor=doctor, starts_at=at(12, days=1), ends_at=at(13, days=1))
    return team


# 1 the session, 2 the user with their role, 3 the doctors asked for, 4 the appointments (patients,
# doctors and their users joined), 5 the time off, 6 the patients' no-show counts.
EVENTS_QUERIES = 6


@pytest.mark.parametrize(("doctors", "appointments"), [(1, 10), (10, 10), (50, 50), (10, 500)])
def test_the_events_endpoint_runs_six_queries_however_many_doctors_and_appointments(
    now, reception_client, django_assert_num_queries, doctors, appointments
):
    team = _busy_clinic(doctors, appointments)
    url = events_url(team, end=MONDAY + timedelta(days=7))
    reception_client.get(url)  # the session's idle window is renewed once, by this first request
    with django_assert_num_queries(EVENTS_QUERIES):
        response = reception_client.get(url)
    assert len(appointment_events(response)) == appointments


def test_the_patient_search_runs_four_queries(reception_client, django_assert_num_queries):
    for n in range(15):
        factories.PatientFactory(user__last_name=f"Lovelace{n:02d}")
    url = reverse("admin:calendar-patients") + "?q=lovel"
    reception_client.get(url)
    # 1 the session, 2 the user with their role, 3 the matching patients with their users,
    # 4 their no-show counts.
    with django_assert_num_queries(4):
        response = reception_client.get(url)
    assert len(response.json()["results"]) == calendar.PATIENT_RESULTS


# --- The patient search ----------------------------------------------------------------------


def test_the_patient_search_finds_by_name_phone_and_insurance_with_no_shows(reception_client, doctor):
    ada = factories.PatientFactory(
        user__first_name="Ada", user__last_name="Lovelace", phone="+1 555 0199", insurance_number="INS-ADA"
    )
    factories.PatientFactory(user__first_name="Charles", user__last_name="Babbage")
    factories.AppointmentFactory(
        patient=ada, doctor=doctor, appointment_time=datetime.now(UTC) - timedelta(days=20), status=Status.NO_SHOW
    )
    url = reverse("admin:calendar-patients")
    for term in ["lovel", "ada love", "+1 555 0199", "ins-ada"]:
        results = reception_client.get(url, {"q": term}).json()["results"]
        assert results == [
            {"id": ada.pk, "name": "Ada Lovelace", "phone": "+1 555 0199", "email": ada.user.email, "noShows": 1}
        ], term
    assert reception_client.get(url, {"q": "l"}).json() == {"results": []}
    assert reception_client.get(url, {"q": "a\x00b"}).status_code == 400
    assert reception_client.get(url, {"q": "x" * 101}).status_code == 400


# --- Booking a free time ---------------------------------------------------------------------


def book(client, patient, doctor, start: str, **extra):
    return client.post(
        reverse("admin:calendar-book"), {"patient": patient.pk, "doctor": doctor.pk, "start": start, **extra}
    )


def test_booking_a_free_time_goes_through_the_booking_service(now, reception_client, patient, doctor):
    response = book(reception_client, patient, doctor, "2031-03-03T11:00", reason="Cough")
    assert response.status_code == 201, response.content
    appointment = Appointment.objects.get(pk=response.json()["id"])
    assert (appointment.appointment_time, appointment.status, appointment.reason) == (at(11), Status.PENDING, "Cough")
    assert response.json()["detail"] == calendar.BOOKED.format(
        patient=patient.user.get_full_name(), doctor=f"Dr {doctor.user.get_full_name()}", when="Mon 03 Mar at 11:00"
    )
    assert list(EmailOutbox.objects.filter(appointment=appointment).values_list("kind", flat=True)) == ["booked"]


def test_booking_with_confirm_now_confirms_it(now, reception_client, patient, doctor):
    response = book(reception_client, patient, doctor, "2031-03-03T11:00", confirm="true")
    assert response.status_code == 201
    appointment = Appointment.objects.get(pk=response.json()["id"])
    assert appointment.status == Status.CONFIRMED
    assert response.json()["detail"].startswith("Booked and confirmed")
    # One email, the confirmation: a visit booked and confirmed at the desk is no "request".
    assert list(EmailOutbox.objects.filter(appointment=appointment).values_list("kind", flat=True)) == ["confirmed"]


@pytest.mark.parametrize(
    ("start", "status", "message"),
    [
        ("2031-03-03T10:00", 409, DOCTOR_OVERLAP),
        ("2031-03-03T10:10", 400, booking.OFF_GRID.format(minutes=30, start="09:00")),
        ("2031-03-03T18:00", 400, booking.OUTSIDE_HOURS.format(start="09:00", end="17:00")),
        ("2031-03-03T13:00", 400, booking.IN_TIME_OFF),
        ("2031-03-03T07:00", 400, booking.IN_PAST),
        ("2031-03-03T08:30", 400, booking.TOO_SOON.format(minutes=60)),
        ("tomorrow", 400, "Start: Enter a valid date/time."),
    ],
)
def test_booking_a_taken_or_closed_time_is_refused_and_writes_nothing(
    now, reception_client, patient, doctor, start, status, message
):
    factories.AppointmentFactory(doctor=doctor, appointment_time=at(10))
    factories.TimeOffFactory(doctor=doctor, starts_at=at(13), ends_at=at(14))
    before = snapshot()
    response = book(reception_client, patient, doctor, start)
    assert (response.status_code, response.json()["detail"]) == (status, message)
    assert snapshot() == before


def test_booking_someone_or_with_someone_unknown_is_a_404(now, reception_client, patient, doctor):
    before = snapshot()
    missing = Patient(pk=999999)
    assert book(reception_client, missing, doctor, "2031-03-03T11:00").status_code == 404
    assert reception_client.post(
        reverse("admin:calendar-book"), {"patient": patient.pk, "doctor": 999999, "start": "2031-03-03T11:00"}
    ).json() == {"detail": calendar.NOT_FOUND}
    response = reception_client.post(reverse("admin:calendar-book"), {"doctor": doctor.pk, "start": "2031-03-03T11:00"})
    assert (response.status_code, response.json()["detail"]) == (400, "Patient: This field is required.")
    assert snapshot() == before


# --- Dragging a block ------------------------------------------------------------------------


def test_dragging_a_block_reschedules_it_and_emails_the_patient(now, reception_client, doctor):
    other = factories.DoctorFactory(user__first_name="Gregory", user__last_name="House")
    appointment = factories.AppointmentFactory(doctor=doctor, appointment_time=at(10), status=Status.CONFIRMED)
    response = reception_client.post(move_url(appointment), {"start": "2031-03-03T12:00", "doctor": other.pk})
    assert response.status_code == 200, response.content
    assert response.json() == {
        "detail": calendar.MOVED.format(
            patient=appointment.patient.user.get_full_name(), doctor="Dr Gregory House", when="Mon 03 Mar at 12:00"
        )
    }
    appointment.refresh_from_db()
    assert (appointment.doctor_id, appointment.appointment_time) == (other.pk, at(12))
    assert EmailOutbox.objects.filter(appointment=appointment, kind="rescheduled").count() == 1


@pytest.mark.parametrize(
    ("start", "status", "message"),
    [
        ("2031-03-03T12:00", 409, DOCTOR_OVERLAP),
        ("2031-03-03T17:30", 400, booking.OUTSIDE_HOURS.format(start="09:00", end="17:00")),
        ("2031-03-03T13:00", 400, booking.IN_TIME_OFF),
        ("2031-03-03T09:15", 400, booking.OFF_GRID.format(minutes=30, start="09:00")),
        ("2031-03-03 12:00:00+99:00", 400, "Start: Enter a valid date/time."),
        ("", 400, "Start: This field is required."),
    ],
)
def test_dragging_onto_a_taken_or_closed_time_is_refused_and_changes_nothing(
    now, reception_client, doctor, start, status, message
):
    appointment = factories.AppointmentFactory(doctor=doctor, appointment_time=at(10), status=Status.CONFIRMED)
    factories.AppointmentFactory(doctor=doctor, appointment_time=at(12))
    factories.TimeOffFactory(doctor=doctor, starts_at=at(13), ends_at=at(14))
    before = snapshot()
    response = reception_client.post(move_url(appointment), {"start": start})
    assert (response.status_code, response.json()["detail"]) == (status, message)
    assert snapshot() == before


def test_a_visit_that_has_begun_cannot_be_dragged(now, reception_client, doctor):
    appointment = factories.AppointmentFactory(doctor=doctor, appointment_time=NOW - timedelta(minutes=5))
    before = snapshot()
    response = reception_client.post(move_url(appointment), {"start": "2031-03-03T12:00"})
    assert (response.status_code, response.json()["detail"]) == (400, booking.ALREADY_STARTED)
    assert snapshot() == before


# --- The side panel's moves ------------------------------------------------------------------


def test_each_move_goes_through_the_status_service_with_its_message(now, reception_client, doctor):
    appointment = factories.AppointmentFactory(doctor=doctor, appointment_time=NOW + timedelta(minutes=30))
    name = appointment.patient.user.get_full_name()
    for status, label in [
        (Status.CONFIRMED, "Confirmed"),
        (Status.ARRIVED, "Checked in"),
        (Status.IN_PROGRESS, "With the doctor"),
        (Status.COMPLETED, "Completed"),
    ]:
        response = reception_client.post(status_url(appointment), {"status": status})
        assert response.status_code == 200, response.content
        assert response.json() == {"detail": f"{name}: {label}.", "status": status}
    appointment.refresh_from_db()
    assert appointment.arrived_at == NOW and appointment.started_at == NOW and appointment.completed_at == NOW
    assert set(EmailOutbox.objects.filter(appointment=appointment).values_list("kind", flat=True)) == {"confirmed"}


def test_cancelling_from_the_panel_emails_the_patient(now, doctor_client, clinic):
    response = doctor_client.post(status_url(clinic.own_appointment), {"status": Status.CANCELLED})
    assert response.status_code == 200
    clinic.own_appointment.refresh_from_db()
    assert clinic.own_appointment.status == Status.CANCELLED
    assert EmailOutbox.objects.filter(appointment=clinic.own_appointment, kind="cancelled").exists()


@pytest.mark.parametrize(
    ("starts_in", "current", "move", "message"),
    [
        (timedelta(hours=3), Status.CONFIRMED, Status.ARRIVED, booking.CHECK_IN_NOT_YET.format(minutes=120)),
        (timedelta(days=1), Status.CONFIRMED, Status.ARRIVED, booking.CHECK_IN_OTHER_DAY),
        (timedelta(minutes=-5), Status.CONFIRMED, Status.NO_SHOW, booking.NO_SHOW_TOO_EARLY.format(minutes=15)),
        (timedelta(minutes=-5), Status.CONFIRMED, Status.CANCELLED, booking.ALREADY_STARTED),
        (
            timedelta(hours=1),
            Status.PENDING,
            Status.COMPLETED,
            booking.STATUS_MOVE.format(old="pending", new="completed"),
        ),
        (timedelta(hours=1), Status.CONFIRMED, Status.CONFIRMED, booking.ALREADY_CONFIRMED),
        (timedelta(hours=-1), Status.COMPLETED, Status.NO_SHOW, booking.COMPLETED_IS_FINAL),
    ],
)
def test_a_move_outside_its_window_is_a_400_with_the_rules_message(
    now, reception_client, doctor, starts_in, current, move, message
):
    appointment = factories.AppointmentFactory(doctor=doctor, appointment_time=NOW + starts_in, status=current)
    before = snapshot()
    response = reception_client.post(status_url(appointment), {"status": move})
    assert (response.status_code, response.json()["detail"]) == (400, message)
    assert snapshot() == before


def test_an_unknown_status_is_a_400(reception_client, clinic):
    before = snapshot()
    for body in [{"status": "deleted"}, {"status": "pending"}, {}]:
        assert reception_client.post(status_url(clinic.own_appointment), body).status_code == 400
    assert (
        reception_client.post(reverse("admin:calendar-status", args=[999999]), {"status": "confirmed"}).status_code
        == 404
    )
    assert snapshot() == before


def test_the_posts_refuse_a_request_without_the_csrf_token(now, reception, clinic, patient):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(reception)
    before = snapshot()
    for url, body in [
        (status_url(clinic.own_appointment), {"status": "confirmed"}),
        (move_url(clinic.own_appointment), {"start": "2031-03-03T12:00"}),
        (
            reverse("admin:calendar-book"),
            {"patient": patient.pk, "doctor": clinic.doctor.pk, "start": "2031-03-03T11:00"},
        ),
    ]:
        assert strict.post(url, body).status_code == 403
    assert snapshot() == before
    # With the page's token in the header, the same request goes through.
    token = page_data(strict.get(reverse("admin:calendar")))["csrf-token"]
    response = strict.post(status_url(clinic.own_appointment), {"status": "confirmed"}, headers={"X-CSRFToken": token})
    assert response.status_code == 200


def test_a_get_on_an_action_is_refused(reception_client, clinic):
    assert reception_client.get(status_url(clinic.own_appointment)).status_code == 405
    assert reception_client.get(reverse("admin:calendar-book")).status_code == 405
    assert reception_client.post(reverse("admin:calendar-events")).status_code == 405
