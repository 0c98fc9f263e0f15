"""What the patient receives: subject, text and HTML bodies, and the calendar invite."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

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
    subjects = {kind: function(appointment).subject for kind, function in emails.EMAILS.items()}

    assert subjects == {
        "booked": "Riverside Clinic: your appointment request is received",
        "confirmed": "Riverside Clinic: your appointment is confirmed",
        "rescheduled": "Riverside Clinic: your appointment has moved",
        "cancelled": "Riverside Clinic: your appointment is cancelled",
        "reminder": "Riverside Clinic: reminder of your appointment tomorrow",
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
