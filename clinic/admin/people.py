"""People in the admin: sign-in accounts, patients, doctors and their time off.

Patients' and doctors' accounts are created, changed and deleted through clinic/accounts.py,
which decides the fields each role may write: reception never sets a password (a new user is
emailed a link to set their own, and the "send a link" action sends it again); the clinic
admin may.
"""

from __future__ import annotations

from typing import Any

from allauth.core import context as allauth_context
from allauth.mfa.models import Authenticator
from allauth.usersessions.models import UserSession
from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminPasswordChangeForm
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from simple_history.admin import SimpleHistoryAdmin

from clinic import access, accounts, booking
from clinic.access import PASSWORD, Role
from clinic.admin.base import ClinicModelAdmin, ReadOnlyInline, ServiceForm
from clinic.models import ACCOUNT_FIELDS, WEEKDAY_NAMES, Appointment, Doctor, MedicalRecord, Patient, TimeOff, User
from clinic.search import SEARCH_HELP

PASSWORD_HELP_CHANGE = "Leave empty to keep the current password."  # noqa: S105 (help text)
PASSWORD_HELP_NEW = "Leave empty to email the new user a link to set their own password."  # noqa: S105 (help text)


def allauth_admins_unregister() -> None:
    """allauth registers admins of its authenticators and sessions, whose pages would show TOTP
    secrets and session keys; the clinic admin sees both on each user's page instead, and acts on
    them there. Called once every app's admin module is loaded (clinic.apps)."""
    for model in (Authenticator, UserSession):
        if admin.site.is_registered(model):
            admin.site.unregister(model)


class UserPasswordForm(AdminPasswordChangeForm):
    """The clinic admin's "set password" page of a user: written through clinic/accounts.py, which
    signs the user out everywhere else (the clinic admin's own session stays, for their own)."""

    def save(self, commit: bool = True) -> User:
        request = allauth_context.request
        password = self.cleaned_data["password1"] if self.cleaned_data.get("set_usable_password", True) else None
        keep = request.session.session_key if self.user.pk == request.user.pk else None
        return accounts.password_set(actor=request.user, user=self.user, password=password, keep_session_key=keep)


@admin.register(User)
class UserAdmin(ClinicModelAdmin, DjangoUserAdmin):
    """Sign-in accounts: the clinic admin's alone. Reception edits patients' and doctors' accounts
    on their pages, where the rules of clinic/accounts.py hold. Each user's page shows their second
    factor and where they are signed in, and can sign them out everywhere."""

    reception_allowed = False
    change_password_form = UserPasswordForm
    list_display = ("username", "email", "first_name", "last_name", "is_staff", "is_active")
    list_filter = ("is_staff", "is_superuser", "is_active")
    actions = ("end_sessions", "reset_second_factor")
    readonly_fields = ("second_factor", "signed_in")

    def get_fieldsets(self, request, obj=None):
        fieldsets = list(super().get_fieldsets(request, obj))
        if obj is not None:
            fieldsets.append(("Sign-in", {"fields": ("second_factor", "signed_in")}))
        return fieldsets

    def save_model(self, request, obj, form, change):
        if not change:
            return super().save_model(request, obj, form, change)
        accounts.user_update(actor=request.user, user=obj, changed=form.changed_data)
        return None

    def get_urls(self):
        end = path(
            "<path:object_id>/end-sessions/",
            self.admin_site.admin_view(self.end_sessions_view),
            name="clinic_user_end_sessions",
        )
        return [end, *super().get_urls()]

    @admin.display(description="Second factor")
    def second_factor(self, user: User) -> str:
        kinds = {a.type: a for a in Authenticator.objects.filter(user_id=user.pk)}
        app = kinds.get(Authenticator.Type.TOTP)
        if app is None:
            return "None: signs in with a password only."
        used = f", last used {app.last_used_at:%d %b %Y %H:%M}" if app.last_used_at else ""
        codes = kinds.get(Authenticator.Type.RECOVERY_CODES)
        left = f"; {len(codes.wrap().get_unused_codes())} recovery codes left" if codes else ""
        return f"Authenticator app since {app.created_at:%d %b %Y}{used}{left}."

    @admin.display(description="Signed in")
    def signed_in(self, user: User) -> str:
        sessions = UserSession.objects.filter(user_id=user.pk).order_by("-created_at")
        return (
            format_html_join(
                "",
                "<div>Since {} from {} ({})</div>",
                ((f"{s.created_at:%d %b %Y %H:%M}", s.ip, s.user_agent or "unknown browser") for s in sessions),
            )
            or "Nowhere (sign-ins through the sign-in page are listed here)."
        )

    @admin.action(description="Sign out everywhere (sessions and API tokens)", permissions=["change"])
    def end_sessions(self, request, queryset):
        self.run_for_each(
            request,
            queryset,
            lambda user: accounts.sessions_end(
                actor=request.user, user=user, keep_session_key=request.session.session_key
            ),
            "{count} user{s} signed out everywhere.",
        )

    @admin.action(description="Reset the second factor (a lost phone) and sign out", permissions=["change"])
    def reset_second_factor(self, request, queryset):
        self.run_for_each(
            request,
            queryset,
            lambda user: accounts.second_factor_reset(actor=request.user, user=user),
            "The second factor of {count} user{s} removed: they set up a new one at their next sign-in.",
        )

    def end_sessions_view(self, request, object_id):
        """The "Sign out everywhere" button of a user's page (a POST)."""
        user = self.get_object(request, unquote(object_id))
        if user is None:
            raise Http404
        if not self.has_change_permission(request, user):
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        ended = accounts.sessions_end(actor=request.user, user=user, keep_session_key=request.session.session_key)
        self.message_user(
            request,
            f"{user.get_username()} signed out everywhere ({ended} session{'s' if ended != 1 else ''} ended).",
            messages.SUCCESS,
        )
        return HttpResponseRedirect(reverse("admin:clinic_user_change", args=[user.pk]))


# --- Patients and doctors: their accounts -----------------------------------------------------


class AccountFieldsForm(ServiceForm):
    """The sign-in fields of a patient's or doctor's user, edited with the profile."""

    username = forms.CharField(max_length=150)
    email = forms.EmailField()
    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)
    password = forms.CharField(
        widget=forms.PasswordInput(render_value=False), required=False, strip=False, help_text=PASSWORD_HELP_CHANGE
    )

    create_service: Any = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            for name in ACCOUNT_FIELDS:
                if name in self.fields:
                    self.initial.setdefault(name, getattr(self.instance.user, name))
        elif PASSWORD in self.fields:
            self.fields[PASSWORD].help_text = PASSWORD_HELP_NEW

    def apply(self, instance: Patient | Doctor) -> Patient | Doctor:
        data = self.cleaned_data
        if instance.pk is None:
            fields = {name: data[name] for name in (*ACCOUNT_FIELDS, *self._meta.model.PROFILE_FIELDS) if name in data}
            return type(self).create_service(actor=self.actor, password=data.get(PASSWORD) or None, **fields)
        changes = {name: data[name] for name in self.changed_data}
        return accounts.profile_update(actor=self.actor, profile=instance, changes=changes)


class ProfileAdmin(ClinicModelAdmin, SimpleHistoryAdmin):
    """A patient's or doctor's page: the account fields the user may write (all of them, read
    only, for a user who may only look), deletes and password links through clinic/accounts.py."""

    profile_heading = ""
    actions = ("send_password_links",)

    def account_fields(self, request, obj) -> list[str]:
        writable = accounts.fields_writable_by(request.user, obj if obj is not None else self.model())
        shown = [name for name in ACCOUNT_FIELDS if name in writable] or list(ACCOUNT_FIELDS)
        if PASSWORD in writable:
            shown.append(PASSWORD)
        return shown

    def get_fieldsets(self, request, obj=None):
        return [
            ("Account", {"fields": self.account_fields(request, obj)}),
            (self.profile_heading, {"fields": self.model.PROFILE_FIELDS}),
        ]

    def delete_model(self, request, obj):
        accounts.profile_delete(actor=request.user, profile=obj)

    def delete_queryset(self, request, queryset):
        for profile in queryset.select_related("user"):
            accounts.profile_delete(actor=request.user, profile=profile)

    @admin.action(description="Email a link to set their password", permissions=["change"])
    def send_password_links(self, request, queryset):
        self.run_for_each(
            request,
            queryset.select_related("user"),
            lambda profile: accounts.password_link_send(actor=request.user, user=profile.user),
            "{count} link{s} to set a password sent by email.",
        )


# --- Patients --------------------------------------------------------------------------------


class PatientForm(AccountFieldsForm):
    create_service = staticmethod(accounts.patient_create)

    class Meta:
        model = Patient
        fields = list(Patient.PROFILE_FIELDS)


class AppointmentOfPatientInline(ReadOnlyInline):
    """The patient's appointments the user may see."""

    model = Appointment
    fk_name = "patient"
    fields = ("appointment_time", "doctor", "status", "reason")
    viewer_roles = frozenset({Role.ADMIN, Role.RECEPTION, Role.DOCTOR})
    verbose_name_plural = "appointments"

    def get_queryset(self, request):
        return access.appointments_visible_to(request.user).order_by("-appointment_time", "-id")


class RecordOfPatientInline(ReadOnlyInline):
    """The patient's medical records, for roles that may see records (never reception)."""

    model = MedicalRecord
    fk_name = "patient"
    fields = ("created_at", "appointment_time", "author", "notes")
    viewer_roles = frozenset({Role.ADMIN, Role.DOCTOR})
    verbose_name_plural = "medical records"

    def get_queryset(self, request):
        return access.medical_records_visible_to(request.user).select_related("appointment")

    @admin.display(description="Appointment")
    def appointment_time(self, record: MedicalRecord):
        return record.appointment.appointment_time


@admin.register(Patient)
class PatientAdmin(ProfileAdmin):
    form = PatientForm
    profile_heading = "Patient"
    doctor_actions = frozenset({"view"})
    list_display = ("name", "username", "email", "phone", "insurance_number", "created_at")
    list_select_related = ("user",)
    search_fields = ("user__first_name", "user__last_name", "user__username", "user__email", *Patient.PROFILE_FIELDS)
    search_path = ""  # the patients themselves
    search_help_text = SEARCH_HELP
    # Newest first: the primary key orders 100,000 patients without a sort.
    ordering = ("-id",)
    visible_to = staticmethod(access.patients_visible_to)
    object_checks = {"change": access.can_change_patient, "delete": access.can_delete_patient}
    inlines = (AppointmentOfPatientInline, RecordOfPatientInline)

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None:
            fieldsets.append(("Attendance", {"fields": ("no_shows",)}))
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        return ("no_shows",) if obj is not None else ()

    @admin.display(description="No-shows in the last 12 months")
    def no_shows(self, patient: Patient) -> int:
        return booking.no_shows_by_patient([patient.pk]).get(patient.pk, 0)

    @admin.display(description="Name", ordering="user__last_name")
    def name(self, patient: Patient) -> str:
        return patient.user.get_full_name() or patient.user.username

    @admin.display(description="Username", ordering="user__username")
    def username(self, patient: Patient) -> str:
        return patient.user.username

    @admin.display(description="Email", ordering="user__email")
    def email(self, patient: Patient) -> str:
        return patient.user.email


# --- Doctors ---------------------------------------------------------------------------------


class DoctorForm(AccountFieldsForm):
    create_service = staticmethod(accounts.doctor_create)

    working_days = forms.TypedMultipleChoiceField(
        choices=list(enumerate(WEEKDAY_NAMES)),
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
        help_text="The days the doctor sees patients.",
    )

    class Meta:
        model = Doctor
        fields = list(Doctor.PROFILE_FIELDS)

    def clean_working_days(self) -> list[int]:
        return sorted(self.cleaned_data["working_days"])


@admin.register(Doctor)
class DoctorAdmin(ProfileAdmin):
    form = DoctorForm
    profile_heading = "Practice"
    doctor_actions = frozenset({"view", "change"})
    list_display = ("name", "specialization", "hours", "slot_minutes", "days", "schedule")
    list_select_related = ("user",)
    list_filter = ("specialization",)
    search_fields = ("user__first_name", "user__last_name", "user__username", "user__email", "specialization")
    ordering = ("user__last_name", "user__first_name", "id")
    visible_to = staticmethod(access.doctors_visible_to)
    object_checks = {"change": access.can_change_doctor, "delete": access.can_delete_doctor}

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None:
            fieldsets.append(("Schedule", {"fields": ("visit_types", "schedule")}))
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        return ("visit_types", "schedule") if obj is not None else ()

    @admin.display(description="Visit types offered")
    def visit_types(self, doctor: Doctor) -> str:
        kinds = list(doctor.appointment_types.order_by("name"))
        if not kinds:
            return "None: every visit is one slot long."
        url = reverse("admin:clinic_appointmenttype_changelist")
        return format_html_join(
            ", ",
            '<a href="{}">{} ({} min)</a>',
            ((f"{url}{kind.pk}/change/", kind.name, kind.duration_minutes) for kind in kinds),
        )

    @admin.display(description="Name", ordering="user__last_name")
    def name(self, doctor: Doctor) -> str:
        return f"Dr {doctor.user.get_full_name() or doctor.user.username}"

    @admin.display(description="Hours")
    def hours(self, doctor: Doctor) -> str:
        return f"{doctor.available_from:%H:%M}–{doctor.available_to:%H:%M}"

    @admin.display(description="Working days")
    def days(self, doctor: Doctor) -> str:
        return ", ".join(WEEKDAY_NAMES[day][:3] for day in sorted(doctor.working_days))

    @admin.display(description="Schedule")
    def schedule(self, doctor: Doctor) -> str:
        url = reverse("admin:clinic_appointment_changelist") + "?" + urlencode({"doctor__id__exact": doctor.pk})
        return format_html('<a href="{}">Appointments</a>', url)


# --- Time off --------------------------------------------------------------------------------


def _manages_time_off(user, time_off: TimeOff) -> bool:
    return access.can_manage_time_off(user, time_off.doctor)


@admin.register(TimeOff)
class TimeOffAdmin(ClinicModelAdmin):
    doctor_actions = frozenset({"view", "add", "change", "delete"})
    list_display = ("doctor", "starts_at", "ends_at", "reason")
    list_select_related = ("doctor__user",)
    autocomplete_fields = ("doctor",)
    search_fields = ("doctor__user__last_name", "reason")
    date_hierarchy = "starts_at"
    ordering = ("-starts_at",)
    visible_to = staticmethod(access.time_off_visible_to)
    object_checks = {"change": _manages_time_off, "delete": _manages_time_off}

    def save_model(self, request, obj, form, change):
        booking.time_off_save(actor=request.user, time_off=obj)

    def delete_model(self, request, obj):
        booking.time_off_delete(actor=request.user, time_off=obj)

    def delete_queryset(self, request, queryset):
        for time_off in queryset.select_related("doctor"):
            booking.time_off_delete(actor=request.user, time_off=time_off)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "doctor":
            doctors = access.doctors_visible_to(request.user)
            if access.role_of(request.user) is Role.DOCTOR:
                doctors = doctors.filter(user_id=request.user.pk)
            kwargs["queryset"] = doctors
        return super().formfield_for_foreignkey(db_field, request, **kwargs)
