"""clinic.access: each role, and what it sees, worked out in one query at most."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser

from clinic import access
from clinic.access import Role
from clinic.models import User
from tests.factories import (
    AdminFactory,
    AppointmentFactory,
    DoctorFactory,
    MedicalRecordFactory,
    PatientFactory,
    ReceptionFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def _fresh(user):
    return User.objects.get(pk=user.pk)


def test_each_kind_of_user_gets_its_role(django_assert_max_num_queries):
    users = {
        Role.ADMIN: AdminFactory(),
        Role.RECEPTION: ReceptionFactory(),
        Role.DOCTOR: DoctorFactory().user,
        Role.PATIENT: PatientFactory().user,
        Role.NONE: UserFactory(),
    }
    for role, user in users.items():
        user = _fresh(user)
        # The reception group, the doctor profile and the patient profile in one query.
        with django_assert_max_num_queries(1):
            assert access.role_of(user) is role
            assert access.role_of(user) is role
    assert access.role_of(AnonymousUser()) is Role.ANONYMOUS


def test_staff_outside_the_reception_group_is_not_reception():
    user = UserFactory(is_staff=True)
    assert access.role_of(_fresh(user)) is Role.NONE


def test_an_inactive_user_has_no_role():
    user = PatientFactory(user__is_active=False).user
    assert access.role_of(_fresh(user)) is Role.ANONYMOUS


def test_users_fetched_with_roles_need_no_further_query(django_assert_num_queries):
    doctor = DoctorFactory()
    patient = PatientFactory()
    reception = ReceptionFactory()
    with django_assert_num_queries(3):  # each user with its role flags, one query each
        as_doctor = access.user_with_role(doctor.user_id)
        as_patient = access.user_with_role(patient.user_id)
        as_reception = access.user_with_role(reception.pk)
        assert (access.role_of(as_doctor), access._doctor_id(as_doctor)) == (Role.DOCTOR, doctor.pk)
        assert (access.role_of(as_patient), access._patient_id(as_patient)) == (Role.PATIENT, patient.pk)
        assert access.role_of(as_reception) is Role.RECEPTION
        assert as_doctor.username == doctor.user.username
    assert access.user_with_role(10**9) is None


def test_selectors_scope_rows_to_each_role():
    mine = AppointmentFactory()
    other = AppointmentFactory()
    record = MedicalRecordFactory(appointment=mine, patient=mine.patient)
    MedicalRecordFactory(appointment=other, patient=other.patient)
    patient_user, doctor_user = _fresh(mine.patient.user), _fresh(mine.doctor.user)

    assert list(access.appointments_visible_to(patient_user)) == [mine]
    assert list(access.appointments_visible_to(doctor_user)) == [mine]
    assert list(access.patients_visible_to(patient_user)) == [mine.patient]
    assert list(access.patients_visible_to(doctor_user)) == [mine.patient]
    assert list(access.medical_records_visible_to(patient_user)) == [record]
    assert list(access.medical_records_visible_to(doctor_user)) == [record]
    assert access.doctors_visible_to(patient_user).count() == 2

    reception = _fresh(ReceptionFactory())
    assert access.appointments_visible_to(reception).count() == 2
    assert access.patients_visible_to(reception).count() == 2
    assert not access.medical_records_visible_to(reception).exists()

    admin = _fresh(AdminFactory())
    assert access.medical_records_visible_to(admin).count() == 2

    nobody = AnonymousUser()
    for selector in (
        access.appointments_visible_to,
        access.patients_visible_to,
        access.doctors_visible_to,
        access.medical_records_visible_to,
    ):
        assert not selector(nobody).exists()


def test_action_checks_follow_the_roles_table():
    appointment = AppointmentFactory()
    patient_user, doctor_user = _fresh(appointment.patient.user), _fresh(appointment.doctor.user)
    stranger = _fresh(PatientFactory().user)
    reception = _fresh(ReceptionFactory())

    assert access.can_cancel_appointment(patient_user, appointment)
    assert access.can_reschedule_appointment(patient_user, appointment)
    assert not access.can_confirm_appointment(patient_user, appointment)
    assert access.can_confirm_appointment(doctor_user, appointment)
    assert not access.can_reschedule_appointment(doctor_user, appointment)
    assert not access.can_cancel_appointment(stranger, appointment)
    assert access.can_delete_appointment(reception, appointment)
    assert not access.can_delete_appointment(patient_user, appointment)
    assert access.can_create_medical_record(doctor_user, appointment)
    assert not access.can_create_medical_record(reception, appointment)
    assert access.patient_fields_writable_by(patient_user, appointment.patient) == access.PATIENT_SELF_FIELDS
    assert access.patient_fields_writable_by(stranger, appointment.patient) == frozenset()
