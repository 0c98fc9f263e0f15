"""People in the admin: sign-in accounts, patients, doctors and their time off.

Patients' and doctors' accounts are created, changed and deleted through clinic/accounts.py,
which decides the fields each role may write: reception never sets a password (a new user is
emailed a link to set their own, and the "send a link" action sends it again); the clinic
admin may.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.urls import reverse
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


@admin.register(User)
class UserAdmin(ClinicModelAdmin, DjangoUserAdmin):
    """Sign-in accounts: the clinic admin's alone. Reception edits patients' and doctors' accounts
    on their pages, where the rules of clinic/accounts.py hold."""

    reception_allowed = False
    list_display = ("username", "email", "first_name", "last_name", "is_staff", "is_active")
    list_filter = ("is_staff", "is_superuser", "is_active")

    def save_model(self, request, obj, form, change):
        if not change:
            return super().save_model(request, obj, form, change)
        accounts.user_update(actor=request.user, user=obj, changed=form.changed_data)
        return None


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
