"""What the patient receives: subject, text and HTML bodies, and the calendar invite."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from clinic import emails
from clinic.models import Appointment
from tests.emails.conftest import calendar_of
from tests.factories import AppointmentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def appointment(patient, doctor):
    start = datetime(2031, 1, 13, 10, 0, tzinfo=UTC)
    return AppointmentFactory(
        patient=patient, doctor=doctor, appointment_time=start, ends_at=start + timedelta(minutes=30), reason=""
    )


def bodies(message) -> tuple[str, str]:
    (html, mimetype) = message.alternatives[0]
    assert mimetype == "text/html"
    return message.body, html


def test_the_booked_email_says_the_request_is_received_with_clinic_details(appointment, settings):
    settings.CLINIC_NAME = "Hill Clinic"
    settings.CLINIC_ADDRESS = "2 Hill Road, Shelbyville"
    settings.CLINIC_PHONE = "+1 555 0199"

    message = emails.appointment_booked_email(appointment)

    assert message.subject == "Hill Clinic: your appointment request is received"
    assert message.to == [appointment.patient.user.email]
    for body in bodies(message):
        assert "Your appointment request is received" in body
        assert "Hill Clinic" in body
        assert "2 Hill Road, Shelbyville" in body
        assert "+1 555 0199" in body
        assert "Monday 13 January 2031, 10:00–10:30 (UTC)" in body
        assert str(appointment.doctor) in body


def test_the_invite_has_a_stable_uid_utc_times_organizer_and_attendee(appointment):
    message = emails.appointment_booked_email(appointment)
    part, event, calendar = calendar_of(message.message())

    assert part.get_content_type() == "text/calendar"
    assert part.get_param("method") == "REQUEST"
    assert calendar["METHOD"] == "REQUEST"
    assert str(event["UID"]) == f"appointment-{appointment.pk}@clinic.localhost"
    assert event["SEQUENCE"] == 0
    assert event.decoded("DTSTART") == appointment.appointment_time
    assert event.decoded("DTSTART").utcoffset() == timedelta(0)
    assert event.decoded("DTEND") == appointment.ends_at
    assert str(event["ORGANIZER"]) == "mailto:appointments@clinic.localhost"
    assert str(event["ATTENDEE"]) == f"mailto:{appointment.patient.user.email}"
    assert event["STATUS"] == "TENTATIVE"
    assert "Riverside Clinic" in str(event["LOCATION"])
    assert str(calendar["X-WR-TIMEZONE"]) == "UTC"

    appointment.status = Appointment.Status.CONFIRMED
    again = calendar_of(emails.appointment_confirmed_email(appointment).message())[1]
    assert str(again["UID"]) == str(event["UID"])
    assert again["STATUS"] == "CONFIRMED"


def test_times_are_shown_in_the_clinics_zone_and_the_invite_stays_in_utc(appointment, settings):
    settings.TIME_ZONE = "Europe/Berlin"

    message = emails.appointment_booked_email(appointment)

    text, html = bodies(message)
    assert "Monday 13 January 2031, 11:00–11:30 (Europe/Berlin)" in text
    assert "11:00–11:30 (Europe/Berlin)" in html
    _, event, calendar = calendar_of(message.message())
    assert event.to_ical().decode().count("DTSTART:20310113T100000Z") == 1
    assert str(calendar["X-WR-TIMEZONE"]) == "Europe/Berlin"
    assert "Europe/Berlin" in str(event["DESCRIPTION"])


def test_a_cancelled_appointment_gets_a_cancel_invite_with_its_raised_sequence(appointment):
    appointment.status = Appointment.Status.CANCELLED
    appointment.sequence = 3
    appointment.save()

    message = emails.appointment_cancelled_email(appointment)

    assert message.subject.endswith("your appointment is cancelled")
    part, event, calendar = calendar_of(message.message())
    assert part.get_param("method") == "CANCEL"
    assert calendar["METHOD"] == "CANCEL"
    assert event["STATUS"] == "CANCELLED"
    assert event["SEQUENCE"] == 3


def test_each_kind_has_its_own_subject(appointment):
    # The series email is about a series (tests/test_series.py).
    subjects = {kind: function(appointment).subject for kind, function in emails.EMAILS.items() if kind != "series"}

    assert subjects == {
        "booked": "Riverside Clinic: your appointment request is received",
        "confirmed": "Riverside Clinic: your appointment is confirmed",
        "rescheduled": "Riverside Clinic: your appointment has changed",
        "cancelled": "Riverside Clinic: your appointment is cancelled",
        "reminder": "Riverside Clinic: reminder of your appointment on Monday 13 January at 10:00",
    }


def test_the_html_body_escapes_what_the_patient_typed_and_the_text_body_keeps_it(appointment):
    appointment.reason = "<b>knee</b> & back"
    appointment.patient.user.first_name = "Seán O'Brien"

    text, html = bodies(emails.appointment_booked_email(appointment))

    assert "&lt;b&gt;knee&lt;/b&gt; &amp; back" in html
    assert "<b>knee</b>" not in html
    assert "Reason: <b>knee</b> & back" in text
    assert "Hello Seán O'Brien," in text


def test_a_repeated_notice_carries_the_same_message_id(appointment):
    first = emails.appointment_booked_email(appointment)
    second = emails.appointment_booked_email(appointment)

    assert first.extra_headers["Message-ID"] == f"<appointment-{appointment.pk}-booked-0@clinic.localhost>"
    assert second.extra_headers["Message-ID"] == first.extra_headers["Message-ID"]


# --- Wording that fits each notice -------------------------------------------------------

# The appointment fixture starts on Monday 13 January 2031 at 10:00 UTC.


def test_the_cancelled_email_says_how_to_book_again_and_offers_no_change(appointment, settings):
    settings.SITE_URL = "https://clinic.example.test"
    settings.CLINIC_PHONE = "+1 555 0199"
    appointment.status = Appointment.Status.CANCELLED

    for body in bodies(emails.appointment_cancelled_email(appointment)):
        assert "Your appointment below is cancelled" in body
        assert "https://clinic.example.test/book/" in body
        assert "+1 555 0199" in body
        assert "change or cancel" not in body.lower()
        assert "sign in" not in body.lower()


@pytest.mark.parametrize(
    ("now", "when", "subject_when"),
    [
        # EMAIL_REMINDER_HOURS=24 and the schedule on time
        (datetime(2031, 1, 12, 9, 55, tzinfo=UTC), "tomorrow, Monday 13 January at 10:00", "tomorrow at 10:00"),
        # a shorter reminder window, or the reminder late: the same day
        (datetime(2031, 1, 13, 4, 0, tzinfo=UTC), "today, Monday 13 January at 10:00", "today at 10:00"),
        # EMAIL_REMINDER_HOURS=48
        (
            datetime(2031, 1, 11, 10, 0, tzinfo=UTC),
            "on Monday 13 January 2031 at 10:00",
            "on Monday 13 January at 10:00",
        ),
    ],
)
def test_the_reminder_names_the_appointments_local_day_and_time_as_seen_when_it_is_sent(
    appointment, now, when, subject_when
):
    appointment.status = Appointment.Status.CONFIRMED

    with time_machine.travel(now, tick=False):
        message = emails.appointment_reminder_email(appointment)

    assert message.subject == f"Riverside Clinic: reminder of your appointment {subject_when}"
    for body in bodies(message):
        assert f"A reminder of your appointment {when}." in body
        assert "hours from now" not in body


def test_the_reminders_today_and_tomorrow_are_the_clinics_days(appointment, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    appointment.status = Appointment.Status.CONFIRMED

    # 23:30 UTC on Sunday is already Monday in Berlin, where the visit is at 11:00.
    with time_machine.travel(datetime(2031, 1, 12, 23, 30, tzinfo=UTC), tick=False):
        message = emails.appointment_reminder_email(appointment)

    assert message.subject.endswith("reminder of your appointment today at 11:00")
    assert "A reminder of your appointment today, Monday 13 January at 11:00." in message.body


def test_a_notice_sent_inside_the_patients_change_cutoff_asks_them_to_call_instead_of_signing_in(appointment, settings):
    settings.SITE_URL = "https://clinic.example.test"
    settings.PATIENT_CHANGE_CUTOFF_HOURS = 24
    appointment.status = Appointment.Status.CONFIRMED

    with time_machine.travel(appointment.appointment_time - timedelta(days=3), tick=False):
        early = bodies(emails.appointment_confirmed_email(appointment))
    with time_machine.travel(appointment.appointment_time - timedelta(hours=20), tick=False):
        late = bodies(emails.appointment_reminder_email(appointment))

    text, html = early
    link = emails.manage_url(appointment)
    assert link.startswith("https://clinic.example.test/a/")
    assert (
        f"To change or cancel: {link}\n(or sign in at https://clinic.example.test/my/appointments/, or call us" in text
    )
    assert f'<a href="{link}">Change or cancel this appointment</a>' in html
    assert 'sign in at <a href="https://clinic.example.test/my/appointments/">' in html
    for body in late:
        assert "sign in" not in body.lower()
        assert "call us on +1 555 0100" in body
        assert "within 24 hours of the start" in body
        # The link still shows the appointment (its page says why it cannot be changed online).
        assert link in body


def test_the_rescheduled_email_fits_a_new_doctor_as_well_as_a_new_time(appointment):
    for body in bodies(emails.appointment_rescheduled_email(appointment)):
        assert "Your appointment has changed" in body
        assert "new time" not in body
        assert "updates the event in your calendar" in body
        assert "We will confirm it shortly" in body, "a pending appointment stays to be confirmed"

    appointment.status = Appointment.Status.CONFIRMED
    for body in bodies(emails.appointment_rescheduled_email(appointment)):
        assert "It is confirmed" in body
