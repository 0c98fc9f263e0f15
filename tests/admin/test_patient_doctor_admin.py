"""Patients and doctors in the admin: accounts through clinic/accounts.py, doctors' days and schedules."""

from __future__ import annotations

from datetime import time

import pytest
from django.urls import reverse

from clinic.models import EMAIL_TAKEN, Doctor, Patient, TimeOff, User
from tests import factories

pytestmark = pytest.mark.django_db


WALK_IN = {
    "username": "walkin",
    "email": "walkin@example.test",
    "first_name": "Wanda",
    "last_name": "Walker",
    "phone": "+1 555 7777",
    "insurance_number": "INS-777777",
}


def test_reception_registers_a_patient_who_is_emailed_a_link_to_set_their_password(
    reception_client, mailoutbox, django_capture_on_commit_callbacks
):
    form = reception_client.get(reverse("admin:clinic_patient_add")).content.decode()
    assert 'name="password"' not in form
    # A password sent anyway is no field of reception's form: it sets nothing.
    with django_capture_on_commit_callbacks(execute=True):
        response = reception_client.post(
            reverse("admin:clinic_patient_add"), {**WALK_IN, "password": "Reception-knows-9", **_no_inlines()}
        )
    assert response.status_code == 302, response.content.decode()[:3000]
    patient = Patient.objects.get(user__username="walkin")
    assert (patient.phone, patient.insurance_number, patient.user.get_full_name()) == (
        "+1 555 7777",
        "INS-777777",
        "Wanda Walker",
    )
    assert not patient.user.has_usable_password()
    assert [message.to for message in mailoutbox] == [["walkin@example.test"]]
    assert "/accounts/password/reset/key/" in mailoutbox[0].body


def test_the_clinic_admin_may_set_a_new_patients_password(admin_client_):
    response = admin_client_.post(
        reverse("admin:clinic_patient_add"), {**WALK_IN, "password": "a-Strong-pass-4-tests", **_no_inlines()}
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    assert Patient.objects.get(user__username="walkin").user.check_password("a-Strong-pass-4-tests")


def test_reception_cannot_change_a_patients_or_doctors_password(reception_client, patient, doctor):
    for model, profile in (("patient", patient), ("doctor", doctor)):
        page = reception_client.get(reverse(f"admin:clinic_{model}_change", args=[profile.pk])).content.decode()
        assert 'name="password"' not in page
    response = reception_client.post(
        reverse("admin:clinic_patient_change", args=[patient.pk]),
        {
            "username": patient.user.username,
            "email": patient.user.email,
            "first_name": patient.user.first_name,
            "last_name": patient.user.last_name,
            "password": "Reception-knows-9",
            "phone": patient.phone,
            "insurance_number": patient.insurance_number,
            **_no_inlines(),
        },
    )
    assert response.status_code == 302
    patient.user.refresh_from_db()
    assert not patient.user.check_password("Reception-knows-9")


def test_changing_a_patient_to_an_email_in_use_is_a_form_error(reception_client, patient):
    taken = factories.UserFactory(email="taken@example.test")
    response = reception_client.post(
        reverse("admin:clinic_patient_change", args=[patient.pk]),
        {
            "username": patient.user.username,
            "email": taken.email.upper(),
            "first_name": patient.user.first_name,
            "last_name": patient.user.last_name,
            "password": "",
            "phone": "+1 555 0000",
            "insurance_number": patient.insurance_number,
            **_no_inlines(),
        },
    )
    assert response.status_code == 200
    assert EMAIL_TAKEN in response.content.decode()
    patient.refresh_from_db()
    assert patient.phone != "+1 555 0000"


def test_patients_are_found_by_insurance_number_and_name(reception_client):
    wanted = factories.PatientFactory(insurance_number="INS-424242", user__last_name="Zyskowski")
    factories.PatientFactory.create_batch(3)
    for term in ("INS-424242", "Zyskowski"):
        response = reception_client.get(reverse("admin:clinic_patient_changelist"), {"q": term})
        assert [p.pk for p in response.context["cl"].result_list] == [wanted.pk]


def test_doctor_working_days_are_checkboxes_and_save_as_weekday_numbers(reception_client, doctor):
    url = reverse("admin:clinic_doctor_change", args=[doctor.pk])
    page = reception_client.get(url).content.decode()
    assert page.count('type="checkbox" name="working_days"') == 7
    response = reception_client.post(
        url,
        {
            "username": doctor.user.username,
            "email": doctor.user.email,
            "first_name": doctor.user.first_name,
            "last_name": doctor.user.last_name,
            "password": "",
            "specialization": "Cardiology",
            "available_from": "08:00",
            "available_to": "12:00",
            "slot_minutes": "20",
            "working_days": ["4", "0", "2"],
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    doctor.refresh_from_db()
    assert doctor.working_days == [0, 2, 4]
    assert (doctor.specialization, doctor.available_from, doctor.slot_minutes) == ("Cardiology", time(8), 20)


def test_reception_adds_a_doctor_with_their_account(reception_client):
    response = reception_client.post(
        reverse("admin:clinic_doctor_add"),
        {
            "username": "drnew",
            "email": "drnew@example.test",
            "first_name": "Nina",
            "last_name": "New",
            "password": "",
            "specialization": "Dermatology",
            "available_from": "09:00",
            "available_to": "17:00",
            "slot_minutes": "30",
            "working_days": ["0", "1"],
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    doctor = Doctor.objects.get(user__username="drnew")
    assert doctor.working_days == [0, 1]
    assert not doctor.user.has_usable_password()


def test_doctor_hours_in_the_wrong_order_are_a_form_error(reception_client, doctor):
    response = reception_client.post(
        reverse("admin:clinic_doctor_change", args=[doctor.pk]),
        {
            "username": doctor.user.username,
            "email": doctor.user.email,
            "specialization": doctor.specialization,
            "available_from": "17:00",
            "available_to": "09:00",
            "slot_minutes": "30",
            "working_days": ["0"],
        },
    )
    assert response.status_code == 200
    doctor.refresh_from_db()
    assert doctor.available_from == time(9)


def test_doctor_list_links_each_doctor_to_their_schedule(reception_client, clinic):
    page = reception_client.get(reverse("admin:clinic_doctor_changelist")).content.decode()
    schedule = reverse("admin:clinic_appointment_changelist") + f"?doctor__id__exact={clinic.doctor.pk}"
    assert schedule in page
    listed = reception_client.get(schedule).context["cl"].result_list
    assert [a.pk for a in listed] == [clinic.own_appointment.pk]


def test_a_doctor_edits_their_own_profile_but_not_their_username(doctor_client, staff_doctor):
    url = reverse("admin:clinic_doctor_change", args=[staff_doctor.pk])
    page = doctor_client.get(url).content.decode()
    assert 'name="username"' not in page
    response = doctor_client.post(
        url,
        {
            "email": staff_doctor.user.email,
            "first_name": "Ada",
            "last_name": staff_doctor.user.last_name,
            "specialization": "Neurology",
            "available_from": "09:00",
            "available_to": "17:00",
            "slot_minutes": "30",
            "working_days": ["0", "1", "2"],
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    staff_doctor.refresh_from_db()
    assert (staff_doctor.specialization, staff_doctor.user.first_name) == ("Neurology", "Ada")


def test_a_doctor_cannot_edit_another_doctor(doctor_client, doctor):
    url = reverse("admin:clinic_doctor_change", args=[doctor.pk])
    assert 'name="specialization"' not in doctor_client.get(url).content.decode()
    response = doctor_client.post(url, {"specialization": "Taken over", "working_days": ["0"]})
    assert response.status_code == 403
    doctor.refresh_from_db()
    assert doctor.specialization == "General practice"


@pytest.mark.parametrize("model", ["patient", "doctor"])
def test_deleting_a_patient_or_doctor_in_the_admin_deletes_their_login(reception_client, model):
    profile = factories.PatientFactory() if model == "patient" else factories.DoctorFactory(user__is_staff=True)
    response = reception_client.post(reverse(f"admin:clinic_{model}_delete", args=[profile.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not type(profile).objects.filter(pk=profile.pk).exists()
    assert not User.objects.filter(pk=profile.user_id).exists()


def test_delete_selected_deletes_the_logins_too_and_keeps_a_login_with_another_role(admin_client_):
    patients = factories.PatientFactory.create_batch(2)
    staff_patient = factories.PatientFactory(user=factories.ReceptionFactory())
    response = admin_client_.post(
        reverse("admin:clinic_patient_changelist"),
        {"action": "delete_selected", "post": "yes", "_selected_action": [p.pk for p in [*patients, staff_patient]]},
    )
    assert response.status_code == 302
    assert not Patient.objects.exists()
    assert list(User.objects.filter(pk__in=[p.user_id for p in patients])) == []
    assert User.objects.filter(pk=staff_patient.user_id).exists()


def test_reception_sends_a_patient_the_link_to_set_their_password_again(
    reception_client, patient, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = reception_client.post(
            reverse("admin:clinic_patient_changelist"),
            {"action": "send_password_links", "_selected_action": [patient.pk]},
            follow=True,
        )
    assert "1 link to set a password sent by email." in response.content.decode()
    assert [message.to for message in mailoutbox] == [[patient.user.email]]
    assert "/accounts/password/reset/key/" in mailoutbox[0].body


def _no_inlines() -> dict[str, str]:
    data = {}
    for prefix in ("appointments", "medical_records"):
        data.update(
            {
                f"{prefix}-TOTAL_FORMS": "0",
                f"{prefix}-INITIAL_FORMS": "0",
                f"{prefix}-MIN_NUM_FORMS": "0",
                f"{prefix}-MAX_NUM_FORMS": "0",
            }
        )
    return data


def test_a_doctor_records_time_off_for_themselves_only(doctor_client, staff_doctor, doctor):
    url = reverse("admin:clinic_timeoff_add")
    data = {
        "starts_at_0": "2031-01-06",
        "starts_at_1": "09:00:00",
        "ends_at_0": "2031-01-10",
        "ends_at_1": "17:00:00",
        "reason": "Conference",
    }
    refused = doctor_client.post(url, {**data, "doctor": doctor.pk})
    assert refused.status_code == 200
    assert not TimeOff.objects.exists()
    accepted = doctor_client.post(url, {**data, "doctor": staff_doctor.pk})
    assert accepted.status_code == 302
    assert TimeOff.objects.get().doctor == staff_doctor
