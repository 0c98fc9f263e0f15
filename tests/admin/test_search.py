"""Staff search in the admin: by the start of a name, username or email, or an exact insurance
number or phone; scoped to what the role may see; indexed on PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from clinic.admin import base as clinic_admin_module
from clinic.models import Patient
from clinic.search import patients_matching
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(staff_doctor, next_monday_10):
    """Ada Lovelace (the staff doctor's patient, a record too), Grace Hopper (another doctor's),
    and Alan Turing with no appointment."""
    ada = factories.PatientFactory(
        user__first_name="Ada",
        user__last_name="Lovelace",
        user__username="ada.l",
        user__email="countess@example.test",
        phone="+44 20 7946 0001",
        insurance_number="INS-ADA-1815",
    )
    grace = factories.PatientFactory(user__first_name="Grace", user__last_name="Hopper", user__username="ghopper")
    alan = factories.PatientFactory(user__first_name="Alan", user__last_name="Turing", user__username="aturing")
    ada_visit = factories.AppointmentFactory(patient=ada, doctor=staff_doctor, appointment_time=next_monday_10)
    factories.MedicalRecordFactory(appointment=ada_visit)
    other_doctor = factories.DoctorFactory(user__last_name="Knuth", specialization="Cardiology")
    factories.AppointmentFactory(patient=grace, doctor=other_doctor, appointment_time=next_monday_10)
    return {"ada": ada, "grace": grace, "alan": alan, "knuth": other_doctor}


def _found(client, changelist: str, term: str) -> set[int]:
    response = client.get(reverse(f"admin:{changelist}"), {"q": term})
    assert response.status_code == 200
    return {obj.pk for obj in response.context["cl"].result_list}


def _patients(client, term: str) -> set[int]:
    return _found(client, "clinic_patient_changelist", term)


def _liskovs(doctor, start, hours) -> None:
    """Appointments of a new patient named Liskov each, one hour apart."""
    for hour in hours:
        factories.AppointmentFactory(
            patient__user__last_name="Liskov", doctor=doctor, appointment_time=start + timedelta(hours=hour)
        )


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("love", {"ada"}),  # surname start, any case
        ("ADA", {"ada"}),  # first name
        ("ada lovelace", {"ada"}),  # every word must match
        ("ada hopper", set()),
        ("ghop", {"grace"}),  # username start
        ("countess@", {"ada"}),  # email start
        ("ins-ada-1815", {"ada"}),  # the insurance number, exactly
        ("INS-ADA", set()),  # not a part of it
        ("+44 20 7946 0001", {"ada"}),  # the phone, exactly, spaces and all
        ("7946", set()),
        ("velace", set()),  # a name is found by its start, not any part
    ],
)
def test_the_clinic_admin_finds_patients_by_name_start_or_exact_number(admin_client_, people, term, expected):
    assert _patients(admin_client_, term) == {people[name].pk for name in expected}


def test_appointments_and_records_are_found_by_their_patient(admin_client_, people):
    ada, grace = people["ada"], people["grace"]
    appointments = _found(admin_client_, "clinic_appointment_changelist", "lovelace")
    assert appointments == set(ada.appointments.values_list("pk", flat=True))
    records = _found(admin_client_, "clinic_medicalrecord_changelist", "INS-ADA-1815")
    assert records == set(ada.medical_records.values_list("pk", flat=True))
    assert _found(admin_client_, "clinic_medicalrecord_changelist", "hopper") == set()  # no record of hers
    assert _found(admin_client_, "clinic_appointment_changelist", "grace") == set(
        grace.appointments.values_list("pk", flat=True)
    )


def test_appointments_are_found_by_their_doctor_name_or_specialization(admin_client_, people):
    knuths = set(people["knuth"].appointments.values_list("pk", flat=True))
    assert knuths
    assert _found(admin_client_, "clinic_appointment_changelist", "knu") == knuths
    assert _found(admin_client_, "clinic_appointment_changelist", "cardio") == knuths


def test_a_doctors_search_finds_only_their_own_patients(doctor_client, people):
    assert _patients(doctor_client, "lovelace") == {people["ada"].pk}
    assert _patients(doctor_client, "hopper") == set()
    assert _patients(doctor_client, "turing") == set()
    assert _found(doctor_client, "clinic_appointment_changelist", "hopper") == set()
    assert _found(doctor_client, "clinic_medicalrecord_changelist", "hopper") == set()
    assert _found(doctor_client, "clinic_medicalrecord_changelist", "ada") == set(
        people["ada"].medical_records.values_list("pk", flat=True)
    )


def test_reception_searches_appointments_but_has_no_records(reception_client, people):
    assert _found(reception_client, "clinic_appointment_changelist", "hopper") == set(
        people["grace"].appointments.values_list("pk", flat=True)
    )
    response = reception_client.get(reverse("admin:clinic_medicalrecord_changelist"), {"q": "ada"})
    assert response.status_code == 403


def test_past_the_limit_the_search_says_so_and_keeps_to_it(admin_client_, monkeypatch, next_monday_10):
    monkeypatch.setattr(clinic_admin_module, "SEARCH_MATCHES", 2)
    _liskovs(factories.DoctorFactory(), next_monday_10, range(3))
    response = admin_client_.get(reverse("admin:clinic_appointment_changelist"), {"q": "liskov"})
    assert len(response.context["cl"].result_list) == 2
    notes = [str(message) for message in get_messages(response.wsgi_request)]
    assert notes == ["More than 2 patients match: the results are those of 2 of them. Add a word to narrow the search."]
    # The patients list pages through every match instead.
    assert len(_patients(admin_client_, "liskov")) == 3


def test_the_patient_autocomplete_uses_the_same_search_without_a_note(admin_client_, people, monkeypatch):
    monkeypatch.setattr(clinic_admin_module, "SEARCH_MATCHES", 0)
    response = admin_client_.get(
        reverse("admin:autocomplete"),
        {"app_label": "clinic", "model_name": "appointment", "field_name": "patient", "term": "ins-ada-1815"},
    )
    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [str(people["ada"].pk)]
    assert list(get_messages(response.wsgi_request)) == []


def test_a_search_runs_the_same_queries_for_one_match_as_for_many(admin_client_, next_monday_10):
    url = reverse("admin:clinic_appointment_changelist")
    doctor = factories.DoctorFactory()
    _liskovs(doctor, next_monday_10, range(1))
    admin_client_.get(url, {"q": "liskov"})
    with CaptureQueriesContext(connection) as one:
        admin_client_.get(url, {"q": "liskov"})
    _liskovs(doctor, next_monday_10, range(1, 20))
    with CaptureQueriesContext(connection) as many:
        admin_client_.get(url, {"q": "liskov"})
    assert len(many) == len(one), "\n".join(q["sql"] for q in many.captured_queries)


@pytest.mark.postgres
def test_postgresql_answers_every_search_test_from_an_index(people):
    """With sequential scans priced out, a plan still reading a whole table means some test of
    the search has no index whose expression matches it (migration 0005)."""
    term = "ada lovelace"
    queryset = patients_matching(Patient.objects.all(), term)
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Seq Scan" not in plan, plan
    for index in (
        "user_last_name_upper_prefix_idx",
        "user_first_name_upper_prefix_idx",
        "user_username_upper_prefix_idx",
        "user_email_upper_prefix_idx",
        "patient_insurance_upper_idx",
        "patient_phone_idx",
    ):
        assert index in plan, plan
    assert set(queryset) == {people["ada"].pk}


def test_a_nul_character_in_the_autocomplete_term_is_a_400_with_a_message(admin_client_, people):
    from clinic.admin.site import TERM_INVALID

    response = admin_client_.get(
        reverse("admin:autocomplete"),
        {"app_label": "clinic", "model_name": "appointment", "field_name": "patient", "term": "Ada\x00"},
    )
    assert response.status_code == 400
    assert response.json() == {"error": TERM_INVALID}


@pytest.mark.parametrize("model", ["patient", "appointment", "medicalrecord", "doctor"])
def test_a_nul_character_in_a_changelist_search_is_searched_without_it(admin_client_, people, model):
    response = admin_client_.get(reverse(f"admin:clinic_{model}_changelist"), {"q": "Love\x00lace"})
    assert response.status_code == 200
    if model != "doctor":
        assert "Lovelace" in response.content.decode()
