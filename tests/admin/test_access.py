"""Every admin page for every staff role: 200 where the role may look, 403 where it may not,
302 (back to the index) for an object outside a doctor's view."""

from __future__ import annotations

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

ROLES = ("admin", "reception", "doctor")


def _url(name: str, *args) -> str:
    return reverse(f"admin:{name}", args=args)


def _history_row(model, pk) -> int:
    return model.history.filter(id=pk).latest("history_date").history_id


# (page, how to build its URL from the clinic, expected status for admin / reception / doctor)
PAGES = {
    "index": (lambda c: _url("index"), (200, 200, 200)),
    # Patients: the doctor reads their own patients only.
    "patient changelist": (lambda c: _url("clinic_patient_changelist"), (200, 200, 200)),
    "patient add": (lambda c: _url("clinic_patient_add"), (200, 200, 403)),
    "patient change, own": (lambda c: _url("clinic_patient_change", c.own_patient.pk), (200, 200, 200)),
    "patient change, other": (lambda c: _url("clinic_patient_change", c.other_patient.pk), (200, 200, 302)),
    "patient history, own": (lambda c: _url("clinic_patient_history", c.own_patient.pk), (200, 200, 200)),
    "patient history, other": (lambda c: _url("clinic_patient_history", c.other_patient.pk), (200, 200, 403)),
    "patient delete": (lambda c: _url("clinic_patient_delete", c.own_patient.pk), (200, 200, 403)),
    # Doctors: everyone reads all; a doctor changes only their own profile.
    "doctor changelist": (lambda c: _url("clinic_doctor_changelist"), (200, 200, 200)),
    "doctor add": (lambda c: _url("clinic_doctor_add"), (200, 200, 403)),
    "doctor change, own": (lambda c: _url("clinic_doctor_change", c.doctor.pk), (200, 200, 200)),
    "doctor change, other": (lambda c: _url("clinic_doctor_change", c.other_doctor.pk), (200, 200, 200)),
    "doctor history": (lambda c: _url("clinic_doctor_history", c.other_doctor.pk), (200, 200, 200)),
    # Appointments: the doctor sees their own only.
    "appointment changelist": (lambda c: _url("clinic_appointment_changelist"), (200, 200, 200)),
    "appointment add": (lambda c: _url("clinic_appointment_add"), (200, 200, 403)),
    "appointment change, own": (lambda c: _url("clinic_appointment_change", c.own_appointment.pk), (200, 200, 200)),
    "appointment change, other": (
        lambda c: _url("clinic_appointment_change", c.other_appointment.pk),
        (200, 200, 302),
    ),
    "appointment history, own": (
        lambda c: _url("clinic_appointment_history", c.own_appointment.pk),
        (200, 200, 200),
    ),
    "appointment history, other": (
        lambda c: _url("clinic_appointment_history", c.other_appointment.pk),
        (200, 200, 403),
    ),
    "appointment delete": (lambda c: _url("clinic_appointment_delete", c.own_appointment.pk), (200, 200, 403)),
    # Medical records: never reception; the doctor sees their patients' records.
    "record changelist": (lambda c: _url("clinic_medicalrecord_changelist"), (200, 403, 200)),
    "record add": (lambda c: _url("clinic_medicalrecord_add"), (200, 403, 200)),
    "record change, own": (lambda c: _url("clinic_medicalrecord_change", c.own_record.pk), (200, 403, 200)),
    "record change, other": (lambda c: _url("clinic_medicalrecord_change", c.other_record.pk), (200, 403, 302)),
    "record history, own": (lambda c: _url("clinic_medicalrecord_history", c.own_record.pk), (200, 403, 200)),
    "record history, other": (lambda c: _url("clinic_medicalrecord_history", c.other_record.pk), (200, 403, 403)),
    "record delete": (lambda c: _url("clinic_medicalrecord_delete", c.own_record.pk), (200, 403, 403)),
    # Time off: everyone reads; a doctor manages their own.
    "time off changelist": (lambda c: _url("clinic_timeoff_changelist"), (200, 200, 200)),
    "time off add": (lambda c: _url("clinic_timeoff_add"), (200, 200, 200)),
    # Sign-in accounts: the clinic admin only (reception edits accounts on patients' and doctors' pages).
    "user changelist": (lambda c: _url("clinic_user_changelist"), (200, 403, 403)),
    "user add": (lambda c: _url("clinic_user_add"), (200, 403, 403)),
    "user change": (lambda c: _url("clinic_user_change", c.own_patient.user_id), (200, 403, 403)),
    "user history": (lambda c: _url("clinic_user_history", c.own_patient.user_id), (200, 403, 403)),
    "user password": (lambda c: _url("auth_user_password_change", c.own_patient.user_id), (200, 403, 403)),
    # The email outbox and the task queue: the clinic admin only.
    "email outbox": (lambda c: _url("clinic_emailoutbox_changelist"), (200, 403, 403)),
    "task queue failures": (lambda c: _url("django_q_failure_changelist"), (200, 403, 403)),
    "task queue successes": (lambda c: _url("django_q_success_changelist"), (200, 403, 403)),
    "task queue schedules": (lambda c: _url("django_q_schedule_changelist"), (200, 403, 403)),
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("page", PAGES)
def test_admin_page_answers_each_role_as_its_access_allows(role, page, role_clients, clinic):
    build_url, expected = PAGES[page]
    response = role_clients[role].get(build_url(clinic))
    assert response.status_code == expected[ROLES.index(role)], (role, page, response.status_code)


@pytest.mark.parametrize("role", ROLES)
def test_patient_change_page_shows_records_inline_only_to_roles_that_may_see_records(role, role_clients, clinic):
    response = role_clients[role].get(_url("clinic_patient_change", clinic.own_patient.pk))
    assert response.status_code == 200
    assert ("Feeling better." in response.content.decode()) is (role != "reception")
    assert str(clinic.own_appointment.reason) in response.content.decode()


def test_reception_gets_403_on_every_medical_record_url(reception_client, clinic):
    record = clinic.own_record
    version = _history_row(type(record), record.pk)
    urls = [
        _url("clinic_medicalrecord_changelist"),
        _url("clinic_medicalrecord_add"),
        _url("clinic_medicalrecord_change", record.pk),
        _url("clinic_medicalrecord_delete", record.pk),
        _url("clinic_medicalrecord_history", record.pk),
        _url("clinic_medicalrecord_simple_history", record.pk, version),
        _url("clinic_medicalrecord_change", 999_999),
    ]
    for url in urls:
        assert reception_client.get(url).status_code == 403, url
        assert reception_client.post(url, {"notes": "x"}).status_code == 403, url


def test_reception_sees_no_medical_record_menu_entry_nor_inline(reception_client, clinic):
    index = reception_client.get(_url("index")).content.decode()
    assert _url("clinic_medicalrecord_changelist") not in index
    assert _url("clinic_appointment_changelist") in index
    change = reception_client.get(_url("clinic_appointment_change", clinic.own_appointment.pk)).content.decode()
    assert "medicalrecord" not in change
    assert "Feeling better." not in change


def test_clinic_admin_index_lists_the_task_queue(admin_client_):
    index = admin_client_.get(_url("index")).content.decode()
    assert _url("django_q_failure_changelist") in index
    assert _url("django_q_schedule_changelist") in index


def test_doctor_changelists_show_only_their_own_appointments_and_records(doctor_client, clinic):
    appointments = doctor_client.get(_url("clinic_appointment_changelist")).content.decode()
    assert _url("clinic_appointment_change", clinic.own_appointment.pk) in appointments
    assert _url("clinic_appointment_change", clinic.other_appointment.pk) not in appointments
    records = doctor_client.get(_url("clinic_medicalrecord_changelist")).content.decode()
    assert _url("clinic_medicalrecord_change", clinic.own_record.pk) in records
    assert _url("clinic_medicalrecord_change", clinic.other_record.pk) not in records


def test_history_of_a_record_cannot_be_reverted_from_the_admin(admin_client_, clinic):
    record = clinic.own_record
    version = _history_row(type(record), record.pk)
    url = _url("clinic_medicalrecord_simple_history", record.pk, version)
    assert admin_client_.get(url).status_code == 200
    assert admin_client_.post(url, {"notes": "rewritten"}).status_code == 403


def test_anonymous_visitors_are_sent_to_the_admin_login(client, db):
    response = client.get(_url("clinic_appointment_changelist"))
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]


def test_reception_cannot_open_any_sign_in_account_nor_set_a_password(
    reception_client, reception, clinic_admin, clinic
):
    for user in (clinic.own_patient.user, reception, clinic_admin, clinic.doctor.user):
        assert reception_client.get(_url("clinic_user_change", user.pk)).status_code == 403
        refused = reception_client.post(
            _url("auth_user_password_change", user.pk),
            {"password1": "Reception-knows-9", "password2": "Reception-knows-9", "usable_password": "true"},
        )
        assert refused.status_code == 403
        user.refresh_from_db()
        assert not user.check_password("Reception-knows-9")


def test_a_doctors_patient_autocomplete_offers_only_their_patients(doctor_client, clinic):
    response = doctor_client.get(
        reverse("admin:autocomplete"),
        {"app_label": "clinic", "model_name": "medicalrecord", "field_name": "patient", "term": ""},
    )
    assert response.status_code == 200
    assert [int(row["id"]) for row in response.json()["results"]] == [clinic.own_patient.pk]


def test_reception_cannot_autocomplete_from_medical_record_forms(reception_client, clinic):
    response = reception_client.get(
        reverse("admin:autocomplete"),
        {"app_label": "clinic", "model_name": "medicalrecord", "field_name": "patient", "term": ""},
    )
    assert response.status_code == 403
