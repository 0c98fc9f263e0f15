"""Forms of the booking pages and of patient sign-up. They parse input; the rules live in
`clinic.booking`, `clinic.accounts` and `clinic.access`."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

from allauth.account import app_settings as allauth_settings
from allauth.account.forms import LoginForm, SignupForm
from allauth.core import context as allauth_context
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.mfa.adapter import get_adapter as get_mfa_adapter
from allauth.mfa.base.forms import AuthenticateForm, ReauthenticateForm
from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.template.response import TemplateResponse
from django.utils import timezone

from clinic import access, accounts, booking, lockout, second_factor
from clinic.models import AppointmentType, Doctor, Patient, WaitlistEntry
from clinic.search import names_matching, patients_for_front_desk

if TYPE_CHECKING:
    from django.http import HttpRequest

    from clinic.models import User

# Error messages: tests assert on these.
SLOT_INVALID = "That slot is not available any more. Please pick another one."
PATIENT_REQUIRED = "Choose the patient to book for."
DAY_TOO_SOON = "That day can no longer be booked online: the first day open for booking is {first}."
DAY_TOO_FAR = "Bookings open {days} days ahead: the last day open for booking is {last}."
PATIENT_SEARCH_MIN = 2
PATIENT_SEARCH_LIMIT = 10
DOCTORS_SHOWN = 12


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs: dict | None = None) -> None:
        super().__init__(attrs=attrs, format="%Y-%m-%d")


def parse_start(value: str) -> datetime:
    """An aware slot start from its ISO form (as the slot buttons send it)."""
    try:
        start = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValidationError(SLOT_INVALID, code="slot_invalid")
    if timezone.is_naive(start):
        raise ValidationError(SLOT_INVALID, code="slot_invalid")
    return start


def first_bookable_day() -> date:
    """The clinic-local date of the earliest start the booking window allows now."""
    return timezone.localdate(booking.BookingWindow.at().earliest)


class SlotFinderForm(forms.Form):
    """Which doctors and which day to show free slots for; for staff, also whom to book for.

    A chosen slot travels as `<doctor id>@<ISO start>`, the value of the slot's button.
    """

    appointment_type = forms.TypedChoiceField(label="Type of visit", required=False, coerce=int, empty_value=None)
    specialization = forms.ChoiceField(label="Specialization", required=False)
    doctor_q = forms.CharField(label="Doctor's name", required=False, max_length=100)
    date = forms.DateField(label="Date", required=False, widget=DateInput())
    patient = forms.ModelChoiceField(label="Patient", queryset=Patient.objects.none(), required=False)
    q = forms.CharField(label="Find a patient", required=False, max_length=100)
    slot = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, user: User, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self._day: date | None = None
        self._shown: list[Doctor] | None = None
        self.next_available = False
        self.books_for_others = access.is_staff_role(user)
        self.doctors = access.doctors_visible_to(user)
        # The visit types offered here, read once (the page renders them without a query).
        self.types = {kind.pk: kind for kind in access.appointment_types_visible_to(user).filter(active=True)}
        self.fields["appointment_type"].choices = [("", "A usual visit")] + [
            (kind.pk, f"{kind.name} ({kind.duration_minutes} min)") for kind in self.types.values()
        ]
        specializations = self.doctors.order_by("specialization").values_list("specialization", flat=True).distinct()
        self.fields["specialization"].choices = [("", "Any specialization")] + [(s, s) for s in specializations]
        earliest, latest = booking.BookingWindow.at().earliest, booking.BookingWindow.at().latest
        self.fields["date"].widget.attrs.update(
            min=timezone.localdate(earliest).isoformat(), max=timezone.localdate(latest).isoformat()
        )
        self.fields["doctor_q"].widget.attrs.update(type="search", autocomplete="off")
        if self.books_for_others:
            self.fields["patient"].queryset = access.patients_visible_to(user)
        else:
            # Patients book for themselves: whom to book for is not theirs to say.
            del self.fields["patient"], self.fields["q"]

    def clean_appointment_type(self) -> AppointmentType | None:
        chosen = self.cleaned_data.get("appointment_type")
        return None if chosen is None else self.types[chosen]

    def clean_date(self) -> date | None:
        return self.cleaned_data.get("date")

    def clean_slot(self) -> tuple[Doctor, datetime] | None:
        value = self.cleaned_data.get("slot")
        if not value:
            return None
        doctor_id, _, iso = value.partition("@")
        if not doctor_id.isdigit():
            raise ValidationError(SLOT_INVALID, code="slot_invalid")
        doctor = self.doctors.filter(pk=int(doctor_id)).first()
        if doctor is None:
            raise ValidationError(SLOT_INVALID, code="slot_invalid")
        return doctor, parse_start(iso)

    # --- What the page shows ----------------------------------------------------------

    def day(self) -> date:
        """The day asked for; without one, the first day with a free slot for the doctors shown
        ("next available"), or the first bookable day when none has."""
        if self._day is None:
            asked = self.cleaned_data.get("date") if self.is_bound and self.is_valid() else None
            self.next_available = asked is None
            found = asked or booking.next_free_day(
                doctors=self.shown_doctors(), from_day=first_bookable_day(), appointment_type=self.chosen_type()
            )
            self._day = found or first_bookable_day()
        return self._day

    def day_outside_window(self) -> str:
        """Why the chosen day has no slots to offer when it lies outside the booking window, or ""."""
        day, window = self.day(), booking.BookingWindow.at()
        first, last = timezone.localdate(window.earliest), timezone.localdate(window.latest)
        if day < first:
            return DAY_TOO_SOON.format(first=f"{first:%A %-d %B %Y}")
        if day > last:
            return DAY_TOO_FAR.format(days=settings.BOOKING_HORIZON_DAYS, last=f"{last:%A %-d %B %Y}")
        return ""

    def shown_doctors(self) -> list[Doctor]:
        """The matching doctors the page lists (at most DOCTORS_SHOWN), read once."""
        if self._shown is None:
            self._shown = list(self.matching_doctors()[:DOCTORS_SHOWN])
        return self._shown

    def matching_doctors(self) -> QuerySet[Doctor]:
        doctors = self.doctors
        data = self.cleaned_data if self.is_bound and self.is_valid() else {}
        if data.get("appointment_type"):
            doctors = doctors.filter(appointment_types=data["appointment_type"])
        if data.get("specialization"):
            doctors = doctors.filter(specialization=data["specialization"])
        words = (data.get("doctor_q") or "").split()
        if words:
            doctors = doctors.filter(names_matching(words))
        return doctors

    def free_slots(self) -> list[tuple[Doctor, list[datetime]]]:
        """Each matching doctor (at most DOCTORS_SHOWN) with their free starts on the chosen day."""
        day = self.day()
        doctors = self.shown_doctors()
        free = booking.slots_free_for(doctors=doctors, day=day, appointment_type=self.chosen_type())
        return [(doctor, free[doctor.pk]) for doctor in doctors]

    def chosen_type(self) -> AppointmentType | None:
        return self.cleaned_data.get("appointment_type") if self.is_bound and self.is_valid() else None

    def chosen_patient(self) -> Patient | None:
        if self.books_for_others:
            return self.cleaned_data.get("patient") if self.is_bound and self.is_valid() else None
        return access.patient_of(self.user)

    def patient_matches(self) -> list[Patient]:
        """Staff's patient search (clinic/search.py): by name, username or email, or the exact phone
        or insurance number."""
        if not self.books_for_others or not self.is_bound or not self.is_valid():
            return []
        text = self.cleaned_data.get("q", "").strip()
        if len(text) < PATIENT_SEARCH_MIN:
            return []
        matches = patients_for_front_desk(self.user, text, limit=PATIENT_SEARCH_LIMIT)
        chosen = self.chosen_patient()
        if chosen is not None:
            counted = {match.pk: match.no_shows for match in matches}
            if chosen.pk not in counted:
                counted = booking.no_shows_by_patient([chosen.pk])
            chosen.no_shows = counted.get(chosen.pk, 0)
        return matches


class BookingForm(SlotFinderForm):
    """The confirmation step: a chosen slot, an optional reason and, for staff, the patient."""

    reason = forms.CharField(
        label="Reason for the visit (optional)",
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def clean_slot(self) -> tuple[Doctor, datetime]:
        slot = super().clean_slot()
        if slot is None:
            raise ValidationError(SLOT_INVALID, code="slot_invalid")
        return slot

    def clean(self) -> dict:
        data = super().clean()
        if self.books_for_others and not data.get("patient"):
            self.add_error("patient", PATIENT_REQUIRED)
        return data


class RescheduleForm(forms.Form):
    """A new start for an appointment, with its doctor."""

    slot = forms.CharField()

    def clean_slot(self) -> datetime:
        return parse_start(self.cleaned_data["slot"])


class OfferClaimForm(forms.Form):
    """A claim from a waitlist offer's page: its own time, or (`slot`, "doctor@start") another."""

    slot = forms.CharField(required=False)

    def clean_slot(self) -> tuple[Doctor, datetime] | None:
        value = self.cleaned_data.get("slot")
        if not value:
            return None
        doctor_id, _, iso = value.partition("@")
        doctor = (
            Doctor.objects.select_related("user").filter(pk=int(doctor_id)).first() if doctor_id.isdigit() else None
        )
        if doctor is None:
            raise ValidationError(SLOT_INVALID, code="slot_invalid")
        return doctor, parse_start(iso)


class DayForm(forms.Form):
    """The day shown to doctors and the front desk, or offered for a reschedule."""

    date = forms.DateField(label="Day", required=False, widget=DateInput())


class ClinicLoginForm(LoginForm):
    """allauth's sign-in, with a label that says what it takes."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["login"].label = "Username or email"


class SecondFactorCheckMixin:
    """The code step of allauth's sign-in (and of re-authentication), checked as `/api/token/`
    checks `otp` (clinic/second_factor.py): each code once, a wrong one counted by the lockout,
    and no code tried at all while this user is locked out from this client."""

    user: User

    def clean_code(self) -> str:
        request = allauth_context.request
        if lockout.is_locked_out(request=request, user=self.user):
            raise ImmediateHttpResponse(lockout.lockout_response(request))
        code = self.cleaned_data["code"]
        authenticator = second_factor.code_verify(user=self.user, code=code)
        if authenticator is None:
            if lockout.second_factor_failed(request=request, user=self.user):
                raise ImmediateHttpResponse(lockout.lockout_response(request))
            raise get_mfa_adapter().validation_error("incorrect_code")
        authenticator.user = self.user
        self.authenticator = authenticator
        return code


class SecondFactorForm(SecondFactorCheckMixin, AuthenticateForm):
    """The second step of signing in, for a user with an authenticator app."""


class SecondFactorReauthenticateForm(SecondFactorCheckMixin, ReauthenticateForm):
    """Confirming a sensitive change (setting up or removing a factor) with a code."""


class PatientSignupForm(SignupForm):
    """allauth's sign-up, creating the user together with their patient profile."""

    first_name = forms.CharField(label="First name", max_length=150, required=False)
    last_name = forms.CharField(label="Last name", max_length=150, required=False)
    phone = forms.CharField(label="Phone", max_length=32, widget=forms.TextInput(attrs={"autocomplete": "tel"}))
    insurance_number = forms.CharField(label="Insurance number", max_length=64, required=False)

    field_order = [
        "first_name",
        "last_name",
        "email",
        "username",
        "phone",
        "insurance_number",
        "password1",
        "password2",
    ]

    def save(self, request: HttpRequest) -> User:
        data = self.cleaned_data
        username = data["username"] if allauth_settings.PRESERVE_USERNAME_CASING else data["username"].lower()
        patient = accounts.patient_register(
            username=username,
            email=data["email"],
            password=data["password1"],
            first_name=data.get("first_name", ""),
            last_name=data.get("last_name", ""),
            phone=data.get("phone", ""),
            insurance_number=data.get("insurance_number", ""),
        )
        return patient.user

    def try_save(self, request: HttpRequest):
        try:
            return super().try_save(request)
        except ValidationError as exc:
            # Someone took the username or email between validation and saving.
            for field, messages in exc.message_dict.items():
                field = "password1" if field == "password" else field
                self.add_error(field if field in self.fields else None, messages)
            raise ImmediateHttpResponse(TemplateResponse(request, "account/signup.html", {"form": self}))


class WaitlistForm(forms.Form):
    """Join the waitlist: a doctor or any doctor of a specialization, a range of days, and
    optionally a visit type and a part of the day. The rules live in `booking.waitlist_join`."""

    doctor = forms.ModelChoiceField(label="Doctor", queryset=Doctor.objects.none(), required=False)
    specialization = forms.ChoiceField(label="Or any doctor of", required=False)
    appointment_type = forms.ModelChoiceField(
        label="Type of visit", queryset=AppointmentType.objects.none(), required=False, empty_label="A usual visit"
    )
    date_from = forms.DateField(label="From", widget=DateInput())
    date_to = forms.DateField(label="Until", widget=DateInput())
    part_of_day = forms.ChoiceField(label="Time of day", choices=WaitlistEntry.PartOfDay.choices, initial="any")

    def __init__(self, *args, user: User, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        doctors = access.doctors_visible_to(user)
        self.fields["doctor"].queryset = doctors
        self.fields["doctor"].empty_label = "Any doctor of the specialization below"
        specializations = doctors.order_by("specialization").values_list("specialization", flat=True).distinct()
        self.fields["specialization"].choices = [("", "—")] + [(s, s) for s in specializations]
        self.fields["appointment_type"].queryset = access.appointment_types_visible_to(user).filter(active=True)

    def add_service_errors(self, exc: ValidationError) -> None:
        """A refusal of `booking.waitlist_join` shown on its field."""
        if not hasattr(exc, "error_dict"):
            self.add_error(None, exc)
            return
        for name, errors in exc.error_dict.items():
            self.add_error(name if name in self.fields else None, errors)
