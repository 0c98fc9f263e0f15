"""Accounts: patients registering themselves, staff creating, changing and deleting patients
and doctors, and the links that let a user set their own password.

Each service takes the acting user and asks `clinic.access` itself, so the API, the admin
and the pages cannot disagree about who may write which field: a field outside what the
actor may write is refused with a field error, never dropped.

A password is its user's own. Only the clinic admin may set another user's; an account
created without one (by reception, say) is emailed a link to choose it, through allauth's
password-reset flow on the worker, and staff can send that link again.

The address a user signs in with, resets their password with and is counted against by the
lockout is the one on record: allauth's `EmailAddress` rows are kept equal to `User.email`,
so an address the user no longer has finds nothing.

Signing out everywhere: a changed or reset password (whoever sets it, on any page or the API)
and a deactivated account end the user's other signed-in sessions (allauth's user sessions)
and blacklist every outstanding refresh token of theirs; a user ends their own sessions, the
clinic admin anyone's, and the clinic admin resets a lost second factor.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.usersessions.models import UserSession
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from clinic import access, webhooks
from clinic.access import NOT_ALLOWED, PASSWORD, RECEPTION_GROUP
from clinic.models import ACCOUNT_FIELDS, EMAIL_TAKEN, Doctor, Patient, User

if TYPE_CHECKING:
    from collections.abc import Iterable

# Error messages: tests assert on these.
USERNAME_TAKEN = "A user with that username already exists."
EMAIL_REQUIRED = "An email address is required."
FIELD_NOT_WRITABLE = "You may not change this field."
PASSWORD_NOT_YOURS = "Only the clinic admin sets another user's password."  # noqa: S105 (a message)
PASSWORD_LINK_NOTE = "Leave it out: the new user is emailed a link to set their own password."  # noqa: S105 (a message)
# The history row of a profile whose user's password the clinic admin set.
PASSWORD_SET_REASON = "Password set by the clinic admin"  # noqa: S105 (a history note)

Profile = Patient | Doctor


# --- Creating accounts -----------------------------------------------------------------


def patient_register(
    *,
    username: str,
    email: str,
    password: str,
    first_name: str = "",
    last_name: str = "",
    phone: str = "",
    insurance_number: str = "",
) -> Patient:
    """A patient signing up (the sign-up page or `/registrations/`): their own account and password."""
    return _profile_create(
        model=Patient,
        actor=None,
        account={"username": username, "email": email, "first_name": first_name, "last_name": last_name},
        password=password,
        profile={"phone": phone, "insurance_number": insurance_number},
    )


def patient_create(*, actor: User, password: str | None = None, **fields: Any) -> Patient:
    """Staff create a patient: the account fields and the patient's own (`Patient.PROFILE_FIELDS`)."""
    if not access.can_create_patient(actor):
        raise PermissionDenied(NOT_ALLOWED)
    return _staff_create(model=Patient, actor=actor, password=password, fields=fields)


def doctor_create(*, actor: User, password: str | None = None, **fields: Any) -> Doctor:
    """Staff create a doctor: the account fields and the practice (`Doctor.PROFILE_FIELDS`)."""
    if not access.can_create_doctor(actor):
        raise PermissionDenied(NOT_ALLOWED)
    return _staff_create(model=Doctor, actor=actor, password=password, fields=fields)


def _staff_create(*, model: type[Profile], actor: User, password: str | None, fields: dict[str, Any]) -> Profile:
    if password and not access.can_set_password(actor):
        raise ValidationError({PASSWORD: [f"{PASSWORD_NOT_YOURS} {PASSWORD_LINK_NOTE}"]})
    unknown = set(fields) - set(ACCOUNT_FIELDS) - set(model.PROFILE_FIELDS)
    if unknown:
        raise ValidationError({name: [FIELD_NOT_WRITABLE] for name in sorted(unknown)})
    return _profile_create(
        model=model,
        actor=actor,
        account={name: fields.get(name, "") for name in ACCOUNT_FIELDS},
        password=password or None,
        profile={name: value for name, value in fields.items() if name in model.PROFILE_FIELDS},
    )


@transaction.atomic
def _profile_create(
    *,
    model: type[Profile],
    actor: User | None,
    account: dict[str, str],
    password: str | None,
    profile: dict[str, Any],
) -> Profile:
    """Create a user and their profile, or raise ValidationError and write nothing.

    Without a password the account cannot sign in until its user follows the emailed link.
    """
    user = User(**account)
    _check_identity(user, password=password)
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.full_clean(exclude=[PASSWORD])
    user.save()
    _email_address_sync(user)
    created = model(user=user, **profile)
    created.full_clean()
    created._history_user = actor or user
    created.save()
    if not password:
        _password_link_queue(user)
    if isinstance(created, Patient):
        webhooks.emit(webhooks.Event.PATIENT_CREATED, patient=created)
    return created


# --- Changing accounts -----------------------------------------------------------------


def fields_writable_by(actor: User, profile: Profile) -> frozenset[str]:
    """The fields of `profile` (and its user) that `actor` may change."""
    if isinstance(profile, Doctor):
        return access.doctor_fields_writable_by(actor, profile)
    return access.patient_fields_writable_by(actor, profile)


@transaction.atomic
def profile_update(*, actor: User, profile: Profile, changes: dict[str, Any]) -> Profile:
    """Apply `changes` (field → new value) to a patient or doctor and their user.

    Values equal to the current ones are no change, so a full PUT of the current state passes;
    a changed field the actor may not write is refused (ValidationError, nothing written).
    A password is always a change; an empty one means "keep the current password".
    """
    writable = fields_writable_by(actor, profile)
    if not writable:
        raise PermissionDenied(NOT_ALLOWED)
    user = profile.user
    current = {
        **{name: getattr(user, name) for name in ACCOUNT_FIELDS},
        **{name: getattr(profile, name) for name in profile.PROFILE_FIELDS},
    }
    changed = {
        name: value
        for name, value in changes.items()
        if (name == PASSWORD and value) or (name != PASSWORD and current.get(name, object()) != value)
    }
    refused = {name: [FIELD_NOT_WRITABLE] for name in changed if name not in writable}
    if refused:
        raise ValidationError(refused)
    password = changed.pop(PASSWORD, None)
    account = {name: value for name, value in changed.items() if name in ACCOUNT_FIELDS}
    if account or password:
        for name, value in account.items():
            setattr(user, name, value)
        _check_identity(user, password=password)
        if password:
            user.set_password(password)
        user.full_clean(exclude=[PASSWORD])
        user.save()
        if "email" in account:
            _email_address_sync(user)
        if password:
            _sign_out_everywhere(user)
    for name, value in changed.items():
        if name not in ACCOUNT_FIELDS:
            setattr(profile, name, value)
    profile.full_clean()
    profile._history_user = actor
    if password:
        profile._change_reason = PASSWORD_SET_REASON
    profile.save()
    if changed and isinstance(profile, Patient):
        webhooks.emit(webhooks.Event.PATIENT_UPDATED, patient=profile)
    return profile


# The login's fields that are part of a patient as integrators see them (the FHIR Patient's name,
# email and active): the clinic admin changing one is a `patient.updated`.
PATIENT_ACCOUNT_FIELDS = frozenset({"first_name", "last_name", "email", "is_active"})


@transaction.atomic
def user_update(*, actor: User, user: User, changed: Iterable[str]) -> User:
    """Save a sign-in account the clinic admin edited in the admin (`changed`: the fields it changed)."""
    if not access.can_set_password(actor):
        raise PermissionDenied(NOT_ALLOWED)
    changed = set(changed)
    if "email" in changed:
        _check_identity(user, password=None)
    user.save()
    if "email" in changed:
        _email_address_sync(user)
    if "is_active" in changed and not user.is_active:
        _sign_out_everywhere(user)
    if changed & PATIENT_ACCOUNT_FIELDS and (patient := Patient.objects.filter(user=user).first()):
        webhooks.emit(webhooks.Event.PATIENT_UPDATED, patient=patient)
    return user


@transaction.atomic
def profile_delete(*, actor: User, profile: Profile) -> None:
    """Delete a patient's or doctor's profile and their login, unless the login has another role.

    Appointments or records hanging on the profile refuse the delete (ProtectedError) and
    nothing is deleted.
    """
    allowed = access.can_delete_doctor if isinstance(profile, Doctor) else access.can_delete_patient
    if not allowed(actor, profile):
        raise PermissionDenied(NOT_ALLOWED)
    user = profile.user
    profile._history_user = actor
    profile.delete()
    other_profile = Patient if isinstance(profile, Doctor) else Doctor
    keeps_login = (
        user.is_superuser
        or user.groups.filter(name=RECEPTION_GROUP).exists()
        or other_profile.objects.filter(user=user).exists()
    )
    if not keeps_login:
        user.delete()


# --- Passwords ------------------------------------------------------------------------


def password_link_send(*, actor: User, user: User) -> None:
    """Email `user` a link to set their own password (allauth's reset flow, on the worker)."""
    if not access.can_send_password_link(actor, user):
        raise PermissionDenied(NOT_ALLOWED)
    if not user.email:
        raise ValidationError({"email": [EMAIL_REQUIRED]})
    _password_link_queue(user)


def _password_link_queue(user: User) -> None:
    from clinic.adapters import password_set_email_enqueue

    user_id = user.pk
    transaction.on_commit(lambda: password_set_email_enqueue(User.objects.get(pk=user_id)), robust=True)


@transaction.atomic
def password_set(*, actor: User, user: User, password: str | None, keep_session_key: str | None = None) -> User:
    """Set `user`'s password (None: no password, no password sign-in) — their own, or anyone's
    for the clinic admin — and sign them out everywhere else (`keep_session_key`: the session
    making the change, when it is the user's own)."""
    if actor.pk != user.pk and not access.can_set_password(actor):
        raise PermissionDenied(NOT_ALLOWED)
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save(update_fields=[PASSWORD])
    password_changed(user=user, keep_session_key=keep_session_key)
    return user


def password_changed(*, user: User, keep_session_key: str | None = None) -> None:
    """After `user`'s password changed (allauth's change and reset pages call this through the
    account adapter): end their other sessions and blacklist their refresh tokens."""
    _sign_out_everywhere(user, keep_session_key=keep_session_key)


# --- Sessions, tokens and the second factor -------------------------------------------------


def sessions_end(*, actor: User, user: User, keep_session_key: str | None = None) -> int:
    """End `user`'s signed-in sessions (but `keep_session_key`'s) and blacklist their refresh
    tokens; the number of sessions ended. A user ends their own; the clinic admin anyone's."""
    if not access.can_end_sessions(actor, user):
        raise PermissionDenied(NOT_ALLOWED)
    return _sign_out_everywhere(user, keep_session_key=keep_session_key)


@transaction.atomic
def second_factor_reset(*, actor: User, user: User) -> int:
    """Remove `user`'s authenticator app and recovery codes (a lost phone) and sign them out
    everywhere: they sign in with their password again and, if staff, set up a new app before
    anything else. The clinic admin only; the number of authenticators removed."""
    if not access.can_reset_second_factor(actor, user):
        raise PermissionDenied(NOT_ALLOWED)
    removed, _ = Authenticator.objects.filter(user_id=user.pk).delete()
    _sign_out_everywhere(user)
    return removed


def _sign_out_everywhere(user: User, *, keep_session_key: str | None = None) -> int:
    """End every session of `user` that allauth's sign-in recorded (but `keep_session_key`'s),
    and blacklist every refresh token of theirs that has not expired."""
    sessions = UserSession.objects.filter(user_id=user.pk)
    if keep_session_key:
        sessions = sessions.exclude(session_key=keep_session_key)
    ended = 0
    for session in sessions:
        session.end()  # deletes the session from the session store, then the row
        ended += 1
    live = OutstandingToken.objects.filter(user_id=user.pk, expires_at__gt=timezone.now(), blacklistedtoken=None)
    BlacklistedToken.objects.bulk_create([BlacklistedToken(token=token) for token in live], ignore_conflicts=True)
    return ended


# --- Internals -------------------------------------------------------------------------


def _check_identity(user: User, *, password: str | None) -> None:
    """Username and email free in any case; a password through Django's validators, against
    the user it is for (its username, names and email as they will be)."""
    errors: dict[str, list[str]] = {}
    others = User.objects.exclude(pk=user.pk) if user.pk else User.objects.all()
    if user.username and others.filter(username__iexact=user.username).exists():
        errors["username"] = [USERNAME_TAKEN]
    if not user.email:
        errors["email"] = [EMAIL_REQUIRED]
    elif others.filter(email__iexact=user.email).exists():
        errors["email"] = [EMAIL_TAKEN]
    if password is not None:
        try:
            validate_password(password, user=user)
        except ValidationError as exc:
            errors[PASSWORD] = list(exc.messages)
    if errors:
        raise ValidationError(errors)


def _email_address_sync(user: User) -> None:
    """Make the user's address on record their one allauth address, primary and verified;
    any other address of theirs is forgotten (no sign-in, no reset, no lockout count)."""
    EmailAddress.objects.filter(user=user).exclude(email__iexact=user.email).delete()
    if user.email:
        EmailAddress.objects.update_or_create(
            user=user, email__iexact=user.email, defaults={"email": user.email, "primary": True, "verified": True}
        )
