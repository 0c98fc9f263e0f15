"""/my/waitlist/: a patient joins (prefilled from /book/), sees and leaves their entries; a
refusal is a form error; staff keep the waitlist in the admin."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from clinic import booking, views
from clinic.models import WaitlistEntry
from tests import factories
from tests.pages.conftest import signed_in
from tests.pages.html import inline_code, unlabelled_controls

pytestmark = pytest.mark.django_db


def test_book_links_to_the_waitlist_for_each_doctor_with_the_day(patient, gp, day):
    html = signed_in(patient.user).get("/book/", {"date": day.isoformat()}).content.decode()
    assert f"/my/waitlist/?doctor={gp.pk}&amp;date_from={day.isoformat()}" in html


def test_a_patient_joins_from_the_prefilled_form_and_leaves_again(patient, gp, day):
    client = signed_in(patient.user)
    page = client.get("/my/waitlist/", {"doctor": gp.pk, "date_from": day.isoformat()})
    html = page.content.decode()
    assert f'<option value="{gp.pk}" selected>' in html and f'value="{day.isoformat()}"' in html
    assert unlabelled_controls(html) == [] and inline_code(html) == (0, [], 0)
    response = client.post(
        "/my/waitlist/",
        {
            "doctor": gp.pk,
            "date_from": day.isoformat(),
            "date_to": (day + timedelta(days=3)).isoformat(),
            "part_of_day": "morning",
        },
        follow=True,
    )
    assert views.WAITLIST_JOINED in response.content.decode()
    entry = WaitlistEntry.objects.get()
    assert (entry.patient, entry.doctor, entry.part_of_day) == (patient, gp, "morning")
    response = client.post("/my/waitlist/", {"action": "withdraw", "entry": entry.pk}, follow=True)
    entry.refresh_from_db()
    assert entry.status == "withdrawn" and views.WAITLIST_WITHDRAWN in response.content.decode()


def test_a_refused_entry_is_a_form_error(patient, gp):
    today = timezone.localdate()
    response = signed_in(patient.user).post(
        "/my/waitlist/",
        {
            "doctor": gp.pk,
            "date_from": (today + timedelta(days=5)).isoformat(),
            "date_to": today.isoformat(),
            "part_of_day": "any",
        },
    )
    assert response.status_code == 400
    assert booking.WAITLIST_RANGE_ORDER in response.content.decode()
    assert not WaitlistEntry.objects.exists()


def test_someone_elses_entry_cannot_be_withdrawn(patient, gp, day):
    theirs = factories.PatientFactory()
    entry = booking.waitlist_join(actor=theirs.user, patient=theirs, doctor=gp, date_from=day, date_to=day)
    client = signed_in(patient.user)
    assert client.post("/my/waitlist/", {"action": "withdraw", "entry": entry.pk}).status_code == 404
    assert client.post("/my/waitlist/", {"action": "withdraw", "entry": "1e400"}).status_code == 404
    entry.refresh_from_db()
    assert entry.status == "waiting"
    assert f"waitlist-{entry.pk}" not in client.get("/my/waitlist/").content.decode()


def test_staff_are_sent_to_the_admin(reception):
    response = signed_in(reception).get("/my/waitlist/")
    assert response.status_code == 403 and views.WAITLIST_FOR_PATIENTS in response.content.decode()


@pytest.mark.parametrize("entries", [1, 5])
def test_the_page_runs_the_same_queries_however_many_entries(patient, gp, day, entries, django_assert_num_queries):
    for n in range(entries):
        booking.waitlist_join(
            actor=patient.user, patient=patient, doctor=gp, date_from=day, date_to=day + timedelta(days=n)
        )
    client = signed_in(patient.user)
    # session, user with role flags, the patient, specializations, doctors, visit types, the entries
    with django_assert_num_queries(7):
        client.get("/my/waitlist/")
