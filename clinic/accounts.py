"""Accounts: patients registering themselves, and staff creating patients and doctors."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction

from clinic.models import EMAIL_TAKEN, Doctor, Patient, User

USERNAME_TAKEN = "A user with that username already exists."
EMAIL_REQUIRED = "An email address is required."


def _check_identity(*, username: str, email: str, password: str | None, exclude_pk: int | None = None) -> None:
    """Username and email free in any case; password through Django's validators."""
    errors: dict[str, list[str]] = {}
    others = User.objects.exclude(pk=exclude_pk) if exclude_pk else User.objects.all()
    if username and others.filter(username__iexact=username).exists():
        errors["username"] = [USERNAME_TAKEN]
    if not email:
        errors["email"] = [EMAIL_REQUIRED]
    elif others.filter(email__iexact=email).exists():
        errors["email"] = [EMAIL_TAKEN]
    if password is not None:
        try:
            validate_password(password, user=User(username=username, email=email))
        except ValidationError as exc:
            errors["password"] = list(exc.messages)
    if errors:
        raise ValidationError(errors)


@transaction.atomic
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
    """Create a user and their patient profile, or raise ValidationError and write nothing."""
    _check_identity(username=username, email=email, password=password)
    user = User(username=username, email=email, first_name=first_name, last_name=last_name)
    user.set_password(password)
    user.full_clean(exclude=["password"])
    user.save()
    patient = Patient(user=user, phone=phone, insurance_number=insurance_number)
    patient.full_clean()
    patient._history_user = user
    patient.save()
    return patient


@transaction.atomic
def doctor_create(*, username: str, email: str, password: str | None = None, **fields: Any) -> Doctor:
    """Create a doctor's user and profile (staff only; callers check access)."""
    user_fields = {k: fields.pop(k) for k in ("first_name", "last_name") if k in fields}
    _check_identity(username=username, email=email, password=password)
    user = User(username=username, email=email, **user_fields)
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.full_clean(exclude=["password"])
    user.save()
    doctor = Doctor(user=user, **fields)
    doctor.full_clean()
    doctor.save()
    return doctor


USER_FIELDS = frozenset({"username", "email", "first_name", "last_name"})


@transaction.atomic
def profile_update(*, profile: Patient | Doctor, changes: dict[str, Any]) -> Patient | Doctor:
    """Apply already-authorised `changes` to a patient or doctor and their user."""
    user = profile.user
    user_changes = {k: v for k, v in changes.items() if k in USER_FIELDS}
    password = changes.get("password")
    if user_changes or password:
        _check_identity(
            username=user_changes.get("username", ""),
            email=user_changes.get("email", user.email),
            password=password,
            exclude_pk=user.pk,
        )
        for name, value in user_changes.items():
            setattr(user, name, value)
        if password:
            user.set_password(password)
        user.full_clean(exclude=["password"])
        user.save()
    for name, value in changes.items():
        if name not in USER_FIELDS and name != "password":
            setattr(profile, name, value)
    profile.full_clean()
    profile.save()
    return profile


@transaction.atomic
def profile_delete(*, profile: Patient | Doctor) -> None:
    """Delete a patient's or doctor's profile and, unless they are staff, their login too.

    Appointments or records hanging on the profile refuse the delete (ProtectedError) and
    nothing is deleted.
    """
    user = profile.user
    profile.delete()
    if not user.is_staff:
        user.delete()
