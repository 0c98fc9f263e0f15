"""Who may see and change what. The API, the pages and the admin all ask here.

Selectors (`*_visible_to`) return the querysets a user may see, with the joins
their callers need; an object outside them is a 404 by construction. Checks
(`can_*`) answer whether a user may take an action on an object they can see;
a refusal is a 403.

- patient: self (may edit contact fields); all doctors; own appointments (book,
  reschedule, cancel); own medical records, read only.
- doctor: patients with an appointment with them; all doctors, own profile
  editable; own appointments (confirm, cancel); records of their patients, and
  writes on records of their own appointments.
- reception: everything on patients, doctors and appointments; no medical records.
- clinic admin (superuser): everything.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING

from django.conf import settings
from django.core import signing
from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

from clinic.models import (
    ACCOUNT_FIELDS,
    Appointment,
    AppointmentSeries,
    AppointmentType,
    Doctor,
    MedicalRecord,
    Patient,
    TimeOff,
    WaitlistEntry,
    WaitlistOffer,
    WebhookDelivery,
    WebhookEndpoint,
)

if TYPE_CHECKING:
    from clinic.models import User

RECEPTION_GROUP = "Reception"
NOT_ALLOWED = "You do not have permission to perform this action."

# Fields each role may write on a patient or doctor it may change. A password is the user's
# own: only the clinic admin, who already sees everything, may set another user's.
PATIENT_SELF_FIELDS = frozenset({"email", "first_name", "last_name", "phone"})
PATIENT_STAFF_FIELDS = frozenset({*ACCOUNT_FIELDS, *Patient.PROFILE_FIELDS})
DOCTOR_SELF_FIELDS = frozenset({"first_name", "last_name", "email", *Doctor.PROFILE_FIELDS})
DOCTOR_STAFF_FIELDS = frozenset({*ACCOUNT_FIELDS, *Doctor.PROFILE_FIELDS})
PASSWORD = "password"  # noqa: S105 (a field name)


class Role(enum.StrEnum):
    ANONYMOUS = "anonymous"
    NONE = "none"  # signed in, but neither patient, doctor nor staff
    PATIENT = "patient"
    DOCTOR = "doctor"
    RECEPTION = "reception"
    ADMIN = "admin"


STAFF_ROLES = frozenset({Role.RECEPTION, Role.ADMIN})


def _role_sql(select: str) -> str:
    """SQL reading a user's reception membership and profile ids by user id.

    Written out rather than composed with Exists/Subquery: the ORM takes about
    ten times longer to compile that queryset than the database takes to run it,
    and this runs on every authenticated request.
    """
    from django.contrib.auth.models import Group

    from clinic.models import User

    q = connection.ops.quote_name
    return (
        f"SELECT {select}, "  # noqa: S608 (table names from the models; values are parameters)
        f"EXISTS (SELECT 1 FROM {q(User.groups.through._meta.db_table)} ug "
        f"JOIN {q(Group._meta.db_table)} g ON g.id = ug.group_id "
        f"WHERE ug.user_id = u.id AND g.name = %s) AS clinic_in_reception, "
        f"(SELECT d.id FROM {q(Doctor._meta.db_table)} d WHERE d.user_id = u.id) AS clinic_doctor_id, "
        f"(SELECT p.id FROM {q(Patient._meta.db_table)} p WHERE p.user_id = u.id) AS clinic_patient_id "
        f"FROM {q(User._meta.db_table)} u WHERE u.id = %s"
    )


def user_with_role(user_id: int) -> User | None:
    """The user with what `role_of` needs, in one query, so `access` asks nothing more about them."""
    from clinic.models import User

    return next(iter(User.objects.raw(_role_sql("u.*"), [RECEPTION_GROUP, user_id])), None)


def _role_flags(user: User) -> tuple[bool, int | None, int | None]:
    if not hasattr(user, "clinic_in_reception"):
        with connection.cursor() as cursor:
            cursor.execute(_role_sql("u.id"), [RECEPTION_GROUP, user.pk])
            row = cursor.fetchone()
        _, in_reception, user.clinic_doctor_id, user.clinic_patient_id = row or (None, False, None, None)
        user.clinic_in_reception = bool(in_reception)
    return user.clinic_in_reception, user.clinic_doctor_id, user.clinic_patient_id


def role_of(user: User) -> Role:
    """The user's role, worked out once per user object (one query at most)."""
    cached = getattr(user, "_clinic_role", None)
    if cached is not None:
        return cached
    if not user.is_authenticated or not user.is_active:
        role = Role.ANONYMOUS
    elif user.is_superuser:
        role = Role.ADMIN
    else:
        in_reception, doctor_id, patient_id = _role_flags(user)
        if user.is_staff and in_reception:
            role = Role.RECEPTION
        elif doctor_id is not None:
            role = Role.DOCTOR
        elif patient_id is not None:
            role = Role.PATIENT
        else:
            role = Role.NONE
    user._clinic_role = role
    return role


def is_staff_role(user: User) -> bool:
    return role_of(user) in STAFF_ROLES


def patient_of(user: User) -> Patient | None:
    """The user's own patient profile, if they have one."""
    try:
        return user.patient
    except (Patient.DoesNotExist, AttributeError):
        return None


# --- Selectors -------------------------------------------------------------------


def patients_visible_to(user: User) -> QuerySet[Patient]:
    qs = Patient.objects.select_related("user")
    role = role_of(user)
    if role in STAFF_ROLES:
        return qs
    if role is Role.DOCTOR:
        seen = Appointment.objects.filter(doctor_id=_doctor_id(user)).values("patient_id")
        return qs.filter(pk__in=seen)
    if role is Role.PATIENT:
        return qs.filter(pk=_patient_id(user))
    return qs.none()


def doctors_visible_to(user: User) -> QuerySet[Doctor]:
    qs = Doctor.objects.select_related("user")
    if role_of(user) in (Role.ANONYMOUS,):
        return qs.none()
    return qs


def time_off_visible_to(user: User) -> QuerySet[TimeOff]:
    if role_of(user) is Role.ANONYMOUS:
        return TimeOff.objects.none()
    return TimeOff.objects.select_related("doctor__user")


def appointments_visible_to(user: User) -> QuerySet[Appointment]:
    qs = Appointment.objects.select_related("patient__user", "doctor__user", "appointment_type")
    role = role_of(user)
    if role in STAFF_ROLES:
        return qs
    if role is Role.DOCTOR:
        return qs.filter(doctor_id=_doctor_id(user))
    if role is Role.PATIENT:
        return qs.filter(patient_id=_patient_id(user))
    return qs.none()


def medical_records_visible_to(user: User) -> QuerySet[MedicalRecord]:
    qs = MedicalRecord.objects.select_related("patient__user", "author", "appointment")
    role = role_of(user)
    if role is Role.ADMIN:
        return qs
    if role is Role.DOCTOR:
        seen = Appointment.objects.filter(doctor_id=_doctor_id(user)).values("patient_id")
        return qs.filter(patient_id__in=seen)
    if role is Role.PATIENT:
        return qs.filter(patient_id=_patient_id(user))
    return qs.none()


def appointment_types_visible_to(user: User) -> QuerySet[AppointmentType]:
    """Visit types: patients see the active ones they may book online; staff and doctors all."""
    role = role_of(user)
    if role is Role.ANONYMOUS:
        return AppointmentType.objects.none()
    qs = AppointmentType.objects.all()
    if role in STAFF_ROLES or role is Role.DOCTOR:
        return qs
    return qs.filter(active=True, bookable_online=True)


def can_book_series(user: User) -> bool:
    """Book a course of visits: the front desk and the clinic admin."""
    return role_of(user) in STAFF_ROLES


def waitlist_visible_to(user: User) -> QuerySet[WaitlistEntry]:
    """Waitlist entries: staff see all, a patient their own; doctors none (the front desk runs it)."""
    qs = WaitlistEntry.objects.select_related("patient__user", "doctor__user", "appointment_type")
    role = role_of(user)
    if role in STAFF_ROLES:
        return qs
    if role is Role.PATIENT:
        return qs.filter(patient_id=_patient_id(user))
    return qs.none()


def waitlist_offers_visible_to(user: User) -> QuerySet[WaitlistOffer]:
    """The offers of the waitlist entries `user` sees."""
    return WaitlistOffer.objects.select_related("entry__patient__user", "doctor__user", "appointment").filter(
        entry__in=waitlist_visible_to(user).values("pk")
    )


def can_manage_webhooks(user: User) -> bool:
    """Webhooks are the clinic admin's alone: reception and doctors neither see nor change them."""
    return role_of(user) is Role.ADMIN


def webhook_endpoints_visible_to(user: User) -> QuerySet[WebhookEndpoint]:
    """The registered webhook endpoints: all of them for the clinic admin, none for anyone else."""
    qs = WebhookEndpoint.objects.all()
    return qs if can_manage_webhooks(user) else qs.none()


def webhook_deliveries_visible_to(user: User) -> QuerySet[WebhookDelivery]:
    """The webhook deliveries (with their endpoint): the clinic admin's alone."""
    qs = WebhookDelivery.objects.select_related("endpoint")
    return qs if can_manage_webhooks(user) else qs.none()


def can_export_appointments(user: User) -> bool:
    """The CSV export: the front desk and doctors (their own, by `appointments_visible_to`); not patients."""
    return role_of(user) in {Role.RECEPTION, Role.ADMIN, Role.DOCTOR}


def can_use_waitlist(user: User) -> bool:
    return role_of(user) in STAFF_ROLES | {Role.PATIENT}


def can_join_waitlist(user: User, patient: Patient) -> bool:
    """Patients join (and leave) for themselves; reception and the clinic admin for anyone."""
    return can_book_for(user, patient)


def series_visible_to(user: User) -> QuerySet[AppointmentSeries]:
    """Series of visits: staff see all, a doctor theirs, a patient their own."""
    qs = AppointmentSeries.objects.select_related("patient__user", "doctor__user", "appointment_type")
    role = role_of(user)
    if role in STAFF_ROLES:
        return qs
    if role is Role.DOCTOR:
        return qs.filter(doctor_id=_doctor_id(user))
    if role is Role.PATIENT:
        return qs.filter(patient_id=_patient_id(user))
    return qs.none()


def can_manage_appointment_types(user: User) -> bool:
    """Create, change and retire visit types, and say which doctors offer them: the front desk."""
    return role_of(user) in STAFF_ROLES


def calendar_doctors_visible_to(user: User) -> QuerySet[Doctor]:
    """The doctors whose columns `user` opens in the staff calendar: every doctor for the front
    desk and the clinic admin, their own for a doctor; none for anyone else."""
    role = role_of(user)
    if role in STAFF_ROLES:
        return doctors_visible_to(user)
    if role is Role.DOCTOR:
        return doctors_visible_to(user).filter(user_id=user.pk)
    return Doctor.objects.none()


def can_open_calendar(user: User) -> bool:
    return role_of(user) in STAFF_ROLES | {Role.DOCTOR}


# --- Checks: sign-in, sessions and the second factor -------------------------------


def second_factor_required(user: User) -> bool:
    """Whether `user` must sign in with a second factor: with MFA_REQUIRED_FOR_STAFF on, every
    active user who may open the admin (reception, the clinic admin, doctors with staff access)."""
    return bool(
        getattr(settings, "MFA_REQUIRED_FOR_STAFF", False)
        and user.is_authenticated
        and user.is_active
        and (user.is_staff or user.is_superuser)
    )


def can_remove_own_second_factor(user: User) -> bool:
    """Patients (and staff while the requirement is off) may turn their second factor off."""
    return not second_factor_required(user)


def can_end_sessions(actor: User, user: User) -> bool:
    """Everyone ends their own sessions; the clinic admin anyone's."""
    return actor.is_authenticated and (actor.pk == user.pk or role_of(actor) is Role.ADMIN)


def can_reset_second_factor(actor: User, user: User) -> bool:
    """Removing someone's authenticator (a lost phone), so they set up a new one: the clinic admin."""
    return role_of(actor) is Role.ADMIN


# --- Checks: patients --------------------------------------------------------------


def can_create_patient(user: User) -> bool:
    return role_of(user) in STAFF_ROLES


def can_set_password(user: User) -> bool:
    """Whether `user` may set another user's password (on creating or changing their account)."""
    return role_of(user) is Role.ADMIN


def can_send_password_link(user: User, account: User) -> bool:
    """Reception and the clinic admin email a patient or doctor a link to set their own password
    (to the address on record: the link is the user's, not the sender's)."""
    return role_of(user) in STAFF_ROLES and not account.is_superuser


def patient_fields_writable_by(user: User, patient: Patient) -> frozenset[str]:
    """The patient fields `user` may change; empty when they may change none."""
    role = role_of(user)
    if role in STAFF_ROLES:
        return PATIENT_STAFF_FIELDS | ({PASSWORD} if can_set_password(user) else set())
    if role is Role.PATIENT and patient.user_id == user.pk:
        return PATIENT_SELF_FIELDS
    return frozenset()


def can_change_patient(user: User, patient: Patient) -> bool:
    return bool(patient_fields_writable_by(user, patient))


def can_delete_patient(user: User, patient: Patient) -> bool:
    return role_of(user) in STAFF_ROLES


# --- Checks: doctors ---------------------------------------------------------------


def can_create_doctor(user: User) -> bool:
    return role_of(user) in STAFF_ROLES


def doctor_fields_writable_by(user: User, doctor: Doctor) -> frozenset[str]:
    role = role_of(user)
    if role in STAFF_ROLES:
        return DOCTOR_STAFF_FIELDS | ({PASSWORD} if can_set_password(user) else set())
    if role is Role.DOCTOR and doctor.user_id == user.pk:
        return DOCTOR_SELF_FIELDS
    return frozenset()


def can_change_doctor(user: User, doctor: Doctor) -> bool:
    return bool(doctor_fields_writable_by(user, doctor))


def can_delete_doctor(user: User, doctor: Doctor) -> bool:
    return role_of(user) in STAFF_ROLES


def can_manage_time_off(user: User, doctor: Doctor) -> bool:
    role = role_of(user)
    return role in STAFF_ROLES or (role is Role.DOCTOR and doctor.user_id == user.pk)


# --- Checks: appointments ----------------------------------------------------------


def can_book_for(user: User, patient: Patient) -> bool:
    """Patients book for themselves; reception and the clinic admin for anyone."""
    role = role_of(user)
    return role in STAFF_ROLES or (role is Role.PATIENT and patient.user_id == user.pk)


def can_book(user: User) -> bool:
    return role_of(user) in STAFF_ROLES | {Role.PATIENT}


def can_confirm_appointment(user: User, appointment: Appointment) -> bool:
    role = role_of(user)
    return role in STAFF_ROLES or (role is Role.DOCTOR and appointment.doctor_id == _doctor_id(user))


def can_cancel_appointment(user: User, appointment: Appointment) -> bool:
    role = role_of(user)
    if role in STAFF_ROLES:
        return True
    if role is Role.DOCTOR:
        return appointment.doctor_id == _doctor_id(user)
    if role is Role.PATIENT:
        return appointment.patient_id == _patient_id(user)
    return False


def can_move_visit(user: User, appointment: Appointment) -> bool:
    """Check a patient in, start and complete the visit, mark a no-show: the front desk, the
    clinic admin and the appointment's own doctor. Patients never move a visit past confirmed."""
    role = role_of(user)
    return role in STAFF_ROLES or (role is Role.DOCTOR and appointment.doctor_id == _doctor_id(user))


def can_reschedule_appointment(user: User, appointment: Appointment) -> bool:
    role = role_of(user)
    return role in STAFF_ROLES or (role is Role.PATIENT and appointment.patient_id == _patient_id(user))


def can_edit_appointment_details(user: User, appointment: Appointment) -> bool:
    """Change patient, doctor or reason outright: front-desk work."""
    return role_of(user) in STAFF_ROLES


def can_open_appointment_form(user: User, appointment: Appointment) -> bool:
    """Staff edit an appointment's details; its doctor confirms or cancels it from the same form."""
    return can_edit_appointment_details(user, appointment) or can_confirm_appointment(user, appointment)


def can_delete_appointment(user: User, appointment: Appointment) -> bool:
    return role_of(user) in STAFF_ROLES


def is_patient_acting(user: User) -> bool:
    """Patients are bound by the change cut-off; staff and doctors are not."""
    return role_of(user) is Role.PATIENT


# --- Manage links ------------------------------------------------------------------
#
# A patient's notice carries a signed link that opens that one appointment without signing
# in, and stands for its patient there. It is bound to the appointment and its `sequence`, so
# a newer notice (a reschedule, a cancellation) makes older links stale, and it ends at the
# start. Only live (pending or confirmed) appointments of active patients open.

MANAGE_LINK_SALT = "clinic.manage-link"


def manage_token(appointment: Appointment, *, sequence: int | None = None) -> str:
    """The token of `appointment`'s manage link, for the notice of `sequence` (by default its current one)."""
    version = appointment.sequence if sequence is None else sequence
    return signing.Signer(salt=MANAGE_LINK_SALT).sign_object([appointment.pk, version])


def appointment_for_manage_token(token: str, *, now: datetime | None = None) -> Appointment | None:
    """The appointment a manage link opens now, or None for a tampered, stale or expired one."""
    pair = _unsigned_pair(token, salt=MANAGE_LINK_SALT)
    if pair is None:
        return None
    pk, sequence = pair
    return (
        Appointment.objects.select_related("doctor__user", "patient__user", "appointment_type")
        .filter(
            pk=pk,
            sequence=sequence,
            status__in=(Appointment.Status.PENDING, Appointment.Status.CONFIRMED),
            appointment_time__gt=now or timezone.now(),
            patient__user__is_active=True,
        )
        .first()
    )


OFFER_LINK_SALT = "clinic.waitlist-offer"


def _unsigned_pair(token: str, *, salt: str) -> tuple[int, int] | None:
    """The two ids a link's token was signed over with `salt`, or None for anything else."""
    try:
        payload = signing.Signer(salt=salt).unsign_object(token)
    except (signing.BadSignature, ValueError, UnicodeError):
        return None
    if not (isinstance(payload, list) and len(payload) == 2 and all(type(n) is int for n in payload)):
        return None
    return payload[0], payload[1]


def offer_token(offer: WaitlistOffer) -> str:
    """The token of the claim link in an offer's email."""
    return signing.Signer(salt=OFFER_LINK_SALT).sign_object([offer.pk, offer.entry_id])


def offer_for_token(token: str) -> WaitlistOffer | None:
    """The offer a claim link names, or None for a tampered one or an inactive patient. Whether
    it still books its time is the claim's question (clinic.booking.waitlist_claim)."""
    pair = _unsigned_pair(token, salt=OFFER_LINK_SALT)
    if pair is None:
        return None
    pk, entry_id = pair
    return (
        WaitlistOffer.objects.select_related(
            "entry__patient__user", "entry__appointment_type", "doctor__user", "appointment"
        )
        .filter(pk=pk, entry_id=entry_id, entry__patient__user__is_active=True)
        .first()
    )


# --- Checks: medical records -------------------------------------------------------


def can_create_medical_record(user: User, appointment: Appointment) -> bool:
    role = role_of(user)
    return role is Role.ADMIN or (role is Role.DOCTOR and appointment.doctor_id == _doctor_id(user))


def can_change_medical_record(user: User, record: MedicalRecord) -> bool:
    role = role_of(user)
    return role is Role.ADMIN or (role is Role.DOCTOR and record.appointment.doctor_id == _doctor_id(user))


def can_delete_medical_record(user: User, record: MedicalRecord) -> bool:
    return role_of(user) is Role.ADMIN


def can_see_medical_records(user: User) -> bool:
    return role_of(user) in {Role.ADMIN, Role.DOCTOR, Role.PATIENT}


def _doctor_id(user: User) -> int | None:
    if not user.is_authenticated:
        return None
    return _role_flags(user)[1]


def _patient_id(user: User) -> int | None:
    if not user.is_authenticated:
        return None
    return _role_flags(user)[2]
