"""The clinic's staff admin.

Thin by design: who sees what comes from clinic/access.py (querysets and
`can_*` checks), and every write of an appointment, a medical record or a
patient's or doctor's account goes through the services in clinic/booking.py,
clinic/records.py and clinic/accounts.py, so the admin obeys the same rules,
and queues the same emails, as the API and the booking pages.

Roles: the clinic admin (superuser) may do everything; reception (staff in the
"Reception" group) has the model permissions the group grants and never sees
medical records; a doctor with staff access sees their own appointments and
their patients' records, confirms and cancels their appointments, and writes
records for them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from axes.admin import AccessAttemptAdmin as AxesAccessAttemptAdmin
from axes.admin import AccessLogAdmin as AxesAccessLogAdmin
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import flatten_fieldsets, unquote
from django.contrib.admin.widgets import RelatedFieldWidgetWrapper
from django.contrib.auth import get_permission_codename
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Max, Min, Model, Q, QuerySet
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.text import Truncator
from simple_history.admin import SimpleHistoryAdmin

from clinic import access, accounts, audit, booking, records
from clinic.access import Role
from clinic.models import (
    WEEKDAY_NAMES,
    Appointment,
    AppointmentQuerySet,
    Doctor,
    EmailOutbox,
    MedicalRecord,
    Patient,
    RecordAccess,
    TimeOff,
    User,
)
from clinic.pagination import EstimatedCountPaginator
from clinic.search import SEARCH_HELP, names_matching, patients_matching

if TYPE_CHECKING:
    from django.http import HttpRequest

Status = Appointment.Status

NOT_ALLOWED = booking.NOT_ALLOWED
# A search by patient (or doctor) looks at the rows of at most this many matching people.
SEARCH_MATCHES = 500


class PatientSearchMixin:
    """Search an admin's rows by their patient (`search_path` leads from the row to it; empty
    for the patients themselves): the matching patients first, by index, then their rows
    through the row's patient index. Searching through the joins instead would read every
    row of a million-row table. Past `SEARCH_MATCHES` people the search asks for more words."""

    search_path = "patient"
    search_help_text = SEARCH_HELP

    def get_search_results(self, request, queryset, search_term):
        if not search_term.split():
            return queryset, False
        if not self.search_path:  # the patients themselves, a page at a time
            return queryset.filter(pk__in=patients_matching(queryset, search_term)), False
        return queryset.filter(**{f"{self.search_path}_id__in": self.patient_ids(request, search_term)}), False

    def patient_ids(self, request, search_term: str) -> list[int]:
        """The ids of the patients the user may see whom the search names, at most SEARCH_MATCHES."""
        return self.matching_ids(request, patients_matching(access.patients_visible_to(request.user), search_term))

    @staticmethod
    def matching_ids(request, ids: QuerySet, kind: str = "patients") -> list[int]:
        """At most SEARCH_MATCHES of the ids, with a note on the page when there are more."""
        found = list(ids[: SEARCH_MATCHES + 1])
        if len(found) > SEARCH_MATCHES:
            match = request.resolver_match
            if match is None or match.url_name != "autocomplete":
                messages.warning(
                    request,
                    f"More than {SEARCH_MATCHES} {kind} match: the results are those of {SEARCH_MATCHES} of them. "
                    "Add a word to narrow the search.",
                )
            found = found[:SEARCH_MATCHES]
        return found


NEW_ACCOUNT_PASSWORD_HELP = "The new account needs a password."  # noqa: S105 (help text)


class RangeDatesQuerySet(AppointmentQuerySet):
    """The admin's appointment queryset: `datetimes()` for the date hierarchy from the first and
    last appointment (two index lookups) instead of a DISTINCT over every row. Each year, month
    or day between them is offered, including an empty one."""

    def datetimes(self, field_name, kind, order="ASC", tzinfo=None):
        if kind not in ("year", "month", "day"):
            return super().datetimes(field_name, kind, order, tzinfo)
        bounds = self.aggregate(first=Min(field_name), last=Max(field_name))
        if bounds["first"] is None:
            return []
        zone = tzinfo or timezone.get_current_timezone()
        first, last = (timezone.localtime(bounds[end], zone) for end in ("first", "last"))
        cursor = first.replace(hour=0, minute=0, second=0, microsecond=0)
        if kind in ("year", "month"):
            cursor = cursor.replace(day=1)
        if kind == "year":
            cursor = cursor.replace(month=1)
        periods = []
        while cursor <= last:
            periods.append(cursor)
            if kind == "day":
                cursor += timedelta(days=1)  # wall-clock arithmetic: the next local midnight
            elif kind == "month":
                cursor = cursor.replace(year=cursor.year + cursor.month // 12, month=cursor.month % 12 + 1)
            else:
                cursor = cursor.replace(year=cursor.year + 1)
        return periods if order == "ASC" else periods[::-1]


# --- Roles ---------------------------------------------------------------------------


class RoleAccessMixin:
    """Permissions per role, through clinic/access.py.

    The clinic admin may do everything; reception has the model permissions of its
    group (when `reception_allowed`); a doctor may take `doctor_actions`; anyone
    else may take none. On an object, `allows_object` adds the access checks.
    """

    doctor_actions: frozenset[str] = frozenset()
    reception_allowed = True
    #: Actions nobody may take here, the clinic admin included (logs and queues are read only).
    refused_actions: frozenset[str] = frozenset()
    #: The access selector of this admin's rows (wrap in staticmethod), e.g. access.patients_visible_to.
    visible_to: Callable[[Any], QuerySet] | None = None
    #: Per action, the access check on one object (user, obj) -> bool; "view" defaults to visibility.
    object_checks: dict[str, Callable[[Any, Model], bool]] = {}

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        if self.visible_to is None:
            return super().get_queryset(request)
        # The changelist adds list_select_related only to a queryset without joins: add them here.
        return (
            self.visible_to(request.user)
            .select_related(*self.list_select_related)
            .order_by(*self.get_ordering(request))
        )

    def _allows(self, request: HttpRequest, action: str, obj: Model | None = None) -> bool:
        if action in self.refused_actions:
            return False
        user = request.user
        role = access.role_of(user)
        if role is Role.ADMIN:
            allowed = True
        elif role is Role.RECEPTION:
            opts = self.opts
            allowed = self.reception_allowed and any(
                user.has_perm(f"{opts.app_label}.{get_permission_codename(granted, opts)}")
                for granted in ((action, "change") if action == "view" else (action,))
            )
        elif role is Role.DOCTOR:
            allowed = action in self.doctor_actions
        else:
            allowed = False
        return allowed and (obj is None or self.allows_object(request, action, obj))

    def allows_object(self, request: HttpRequest, action: str, obj: Model) -> bool:
        """The access check on one object: `object_checks[action]`, or for viewing (and for any
        action without a check of its own, unless it is "add"), that it is in the user's queryset."""
        check = self.object_checks.get(action)
        if check is not None:
            return check(request.user, obj)
        return action == "add" or self.is_visible(request, obj)

    def is_visible(self, request: HttpRequest, obj: Model) -> bool:
        if access.role_of(request.user) is Role.ADMIN:
            return True
        cache = request.__dict__.setdefault("_clinic_visible", {})
        key = (obj._meta.label, obj.pk)
        if key not in cache:
            cache[key] = self.get_queryset(request).filter(pk=obj.pk).exists()
        return cache[key]

    def has_module_permission(self, request: HttpRequest) -> bool:
        return any(self._allows(request, action) for action in ("view", "add", "change", "delete"))

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._allows(request, "view", obj) or self._allows(request, "change", obj)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return self._allows(request, "add")

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._allows(request, "change", obj)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._allows(request, "delete", obj)

    # A role without access to the model gets 403 on every URL of it, before any lookup.

    def _refuse_unless_allowed(self, request: HttpRequest) -> None:
        if not self.has_module_permission(request):
            raise PermissionDenied

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        self._refuse_unless_allowed(request)
        return super().changeform_view(request, object_id, form_url, extra_context)

    def delete_view(self, request, object_id, extra_context=None):
        self._refuse_unless_allowed(request)
        return super().delete_view(request, object_id, extra_context)

    def history_view(self, request, object_id, extra_context=None):
        self._refuse_unless_allowed(request)
        return super().history_view(request, object_id, extra_context)


class BigTableMixin:
    """A changelist sized for big tables: counts that stay cheap (clinic/pagination.py), no
    second count of the whole table, and no per-choice filter counts, each a scan of it."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER


class ReadOnlyLogMixin(BigTableMixin, RoleAccessMixin):
    """A log or queue kept by the system: for the clinic admin alone, and nobody writes to it here."""

    refused_actions = frozenset({"add", "change", "delete"})
    reception_allowed = False


class ClinicHistoryAdmin(BigTableMixin, RoleAccessMixin, SimpleHistoryAdmin):
    """A clinical model: history viewable (never reverted around the services), sized for big tables."""

    list_per_page = 50

    def revert_disabled(self, request, obj=None) -> bool:
        return True

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        self._refuse_unless_allowed(request)
        if request.method == "POST":
            raise PermissionDenied
        return super().history_form_view(request, object_id, version_id, extra_context)


class RecordReadsLogMixin:
    """Logs every page that shows medical records (clinic.audit): a record's change page and
    history, the records list, and the records inlines of a patient or an appointment."""

    def _log_record_reads(self, request: HttpRequest, record_ids: list[int]) -> None:
        audit.record_reads_log(
            user=request.user, request=request, record_ids=record_ids, channel=RecordAccess.Channel.ADMIN
        )

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        response = super().render_change_form(request, context, add, change, form_url, obj)
        shown = [obj.pk] if isinstance(obj, MedicalRecord) and obj.pk is not None else []
        for inline in context.get("inline_admin_formsets", ()):
            if inline.formset.model is MedicalRecord:
                # The inline's forms, built once: the page renders these same instances.
                shown.extend(form.instance.pk for form in inline.formset.initial_forms)
        if shown:
            self._log_record_reads(request, shown)
        return response

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        changelist = (getattr(response, "context_data", None) or {}).get("cl")
        if self.model is MedicalRecord and changelist is not None:
            self._log_record_reads(request, [record.pk for record in changelist.result_list])
        return response

    def history_view(self, request, object_id, extra_context=None):
        response = super().history_view(request, object_id, extra_context)
        self._log_history_read(request, object_id, response)
        return response

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        response = super().history_form_view(request, object_id, version_id, extra_context)
        self._log_history_read(request, object_id, response)
        return response

    def _log_history_read(self, request: HttpRequest, object_id: str, response) -> None:
        # A record's history shows its notes, old and new.
        if self.model is MedicalRecord and response.status_code == 200:
            self._log_record_reads(request, [int(unquote(object_id))])


# --- Forms that write through the services ------------------------------------------


class _DryRun(Exception):
    """Raised to roll back a trial run of a service."""


class ServiceForm(forms.ModelForm):
    """A model form whose write is a service call.

    `clean()` runs the service once inside a savepoint and rolls it back, so every
    rule the service enforces shows as a form error and nothing is written; the
    admin's `save_model` then runs it for real. The model's own validation is the
    service's job, so `_post_clean` leaves the instance alone.
    """

    actor: User | None = None
    # The fields the admin shows for this user and object; declared fields outside it are dropped.
    shown_fields: tuple[str, ...] | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.shown_fields is not None:
            for name in list(self.fields):
                if name not in self.shown_fields:
                    del self.fields[name]

    def apply(self, instance: Model) -> Model:
        raise NotImplementedError

    def _post_clean(self) -> None:
        pass

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self._errors:
            return cleaned
        instance = self.instance
        if instance.pk is not None:
            instance = type(instance)._default_manager.get(pk=instance.pk)
        try:
            with transaction.atomic():
                self.apply(instance)
                raise _DryRun
        except _DryRun:
            pass
        except PermissionDenied as exc:
            raise ValidationError(str(exc) or NOT_ALLOWED, code="permission_denied")
        except ValidationError as exc:
            self._add_service_error(exc)
        return cleaned

    def _add_service_error(self, exc: ValidationError) -> None:
        if not hasattr(exc, "error_dict"):
            self.add_error(None, exc)
            return
        for field, errors in exc.error_dict.items():
            target = field if field in self.fields else None
            if field == NON_FIELD_ERRORS:
                target = None
            self.add_error(target, errors)


class ServiceAdminMixin:
    """save_model runs the form's service; the saved object's state is copied into the admin's object."""

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        attrs: dict[str, Any] = {"actor": request.user}
        if kwargs.get("fields", ()) is not None:
            readonly = set(self.get_readonly_fields(request, obj))
            shown = flatten_fieldsets(self.get_fieldsets(request, obj))
            attrs["shown_fields"] = tuple(name for name in shown if name not in readonly)
        return type(form.__name__, (form,), attrs)

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        formfield = super().formfield_for_dbfield(db_field, request, **kwargs)
        if formfield is not None and isinstance(formfield.widget, RelatedFieldWidgetWrapper):
            # No deleting a patient or doctor from inside another form.
            formfield.widget.can_delete_related = False
        return formfield

    def save_model(self, request, obj, form, change):
        saved = form.apply(obj)
        obj.__dict__.update(saved.__dict__)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ValidationError as exc:
            # A rule that held when the form was checked broke before the write (another
            # booking took the slot meanwhile): the transaction is rolled back; say why.
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())


# --- Users ---------------------------------------------------------------------------


@admin.register(User)
class UserAdmin(BigTableMixin, RoleAccessMixin, DjangoUserAdmin):
    """Sign-in accounts. Only the clinic admin grants staff status, groups and permissions."""

    list_display = ("username", "email", "first_name", "last_name", "is_staff", "is_active")
    list_filter = ("is_staff", "is_superuser", "is_active")

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if access.role_of(request.user) is not Role.ADMIN:
            # The front desk manages the accounts of patients and doctors, not of staff.
            qs = qs.filter(is_superuser=False, is_staff=False)
        return qs

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if access.role_of(request.user) is not Role.ADMIN:
            readonly += ["is_staff", "is_superuser", "groups", "user_permissions", "last_login", "date_joined"]
        return readonly


# --- Patients ------------------------------------------------------------------------


class AccountFieldsForm(ServiceForm):
    """The sign-in fields of a patient's or doctor's user, edited with the profile."""

    username = forms.CharField(max_length=150)
    email = forms.EmailField()
    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)
    password = forms.CharField(
        widget=forms.PasswordInput(render_value=False),
        required=False,
        strip=False,
        help_text="Leave empty to keep the current password.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            user = self.instance.user
            for name in ("username", "email", "first_name", "last_name"):
                if name in self.fields:
                    self.initial.setdefault(name, getattr(user, name))

    def changes(self, writable: frozenset[str]) -> dict[str, Any]:
        """The changed fields the actor may write (a new password only when one is given)."""
        changed = {name: self.cleaned_data[name] for name in self.changed_data if name in writable}
        if not changed.get("password"):
            changed.pop("password", None)
        return changed


class PatientForm(AccountFieldsForm):
    class Meta:
        model = Patient
        fields = ["phone", "insurance_number"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is None and "password" in self.fields:
            self.fields["password"].required = True
            self.fields["password"].help_text = NEW_ACCOUNT_PASSWORD_HELP

    def apply(self, instance: Patient) -> Patient:
        data = self.cleaned_data
        if instance.pk is None:
            if not access.can_create_patient(self.actor):
                raise PermissionDenied(NOT_ALLOWED)
            return accounts.patient_register(
                username=data["username"],
                email=data["email"],
                password=data["password"],
                first_name=data.get("first_name", ""),
                last_name=data.get("last_name", ""),
                phone=data.get("phone", ""),
                insurance_number=data.get("insurance_number", ""),
            )
        writable = access.patient_fields_writable_by(self.actor, instance)
        if not writable:
            raise PermissionDenied(NOT_ALLOWED)
        return accounts.profile_update(profile=instance, changes=self.changes(writable))


class ReadOnlyInline(admin.TabularInline):
    """Rows shown on a parent's page, read only, to `viewer_roles`; each links to its own page."""

    viewer_roles: frozenset[Role] = frozenset()
    extra = 0
    show_change_link = True
    can_delete = False

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_view_permission(self, request, obj=None) -> bool:
        return access.role_of(request.user) in self.viewer_roles

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


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
class PatientAdmin(PatientSearchMixin, RecordReadsLogMixin, ServiceAdminMixin, ClinicHistoryAdmin):
    form = PatientForm
    doctor_actions = frozenset({"view"})
    list_display = ("name", "username", "email", "phone", "insurance_number", "created_at")
    list_select_related = ("user",)
    search_fields = (
        "user__first_name",
        "user__last_name",
        "user__username",
        "user__email",
        "phone",
        "insurance_number",
    )
    search_path = ""  # the patients themselves
    # Newest first: the primary key orders 100,000 patients without a sort.
    ordering = ("-id",)
    visible_to = staticmethod(access.patients_visible_to)
    object_checks = {"change": access.can_change_patient, "delete": access.can_delete_patient}
    inlines = (AppointmentOfPatientInline, RecordOfPatientInline)

    def get_fieldsets(self, request, obj=None):
        return (
            ("Account", {"fields": ("username", "email", "first_name", "last_name", "password")}),
            ("Patient", {"fields": ("phone", "insurance_number")}),
        )

    @admin.display(description="Name", ordering="user__last_name")
    def name(self, patient: Patient) -> str:
        return patient.user.get_full_name() or patient.user.username

    @admin.display(description="Username", ordering="user__username")
    def username(self, patient: Patient) -> str:
        return patient.user.username

    @admin.display(description="Email", ordering="user__email")
    def email(self, patient: Patient) -> str:
        return patient.user.email


# --- Doctors -------------------------------------------------------------------------


class DoctorForm(AccountFieldsForm):
    working_days = forms.TypedMultipleChoiceField(
        choices=[(number, name) for number, name in enumerate(WEEKDAY_NAMES)],
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
        help_text="The days the doctor sees patients.",
    )

    PROFILE_FIELDS = ("specialization", "available_from", "available_to", "slot_minutes", "working_days")

    class Meta:
        model = Doctor
        fields = ["specialization", "available_from", "available_to", "slot_minutes", "working_days"]

    def clean_working_days(self) -> list[int]:
        return sorted(self.cleaned_data["working_days"])

    def apply(self, instance: Doctor) -> Doctor:
        data = self.cleaned_data
        if instance.pk is None:
            if not access.can_create_doctor(self.actor):
                raise PermissionDenied(NOT_ALLOWED)
            profile = {name: data[name] for name in self.PROFILE_FIELDS if name in data}
            return accounts.doctor_create(
                username=data["username"],
                email=data["email"],
                password=data.get("password") or None,
                first_name=data.get("first_name", ""),
                last_name=data.get("last_name", ""),
                **profile,
            )
        writable = access.doctor_fields_writable_by(self.actor, instance)
        if not writable:
            raise PermissionDenied(NOT_ALLOWED)
        return accounts.profile_update(profile=instance, changes=self.changes(writable))


@admin.register(Doctor)
class DoctorAdmin(ServiceAdminMixin, ClinicHistoryAdmin):
    form = DoctorForm
    doctor_actions = frozenset({"view", "change"})
    list_display = ("name", "specialization", "hours", "slot_minutes", "days", "schedule")
    list_select_related = ("user",)
    list_filter = ("specialization",)
    search_fields = ("user__first_name", "user__last_name", "user__username", "user__email", "specialization")
    ordering = ("user__last_name", "user__first_name", "id")
    visible_to = staticmethod(access.doctors_visible_to)
    object_checks = {"change": access.can_change_doctor, "delete": access.can_delete_doctor}

    def get_fieldsets(self, request, obj=None):
        account = ["username", "email", "first_name", "last_name", "password"]
        if obj is not None and "username" not in access.doctor_fields_writable_by(request.user, obj):
            account = ["email", "first_name", "last_name"]
        fieldsets = [
            ("Account", {"fields": account}),
            (
                "Practice",
                {"fields": ("specialization", "available_from", "available_to", "slot_minutes", "working_days")},
            ),
        ]
        if obj is not None:
            fieldsets.append(("Schedule", {"fields": ("schedule",)}))
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        return ("schedule",) if obj is not None else ()

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


@admin.register(TimeOff)
class TimeOffAdmin(BigTableMixin, RoleAccessMixin, admin.ModelAdmin):
    doctor_actions = frozenset({"view", "add", "change", "delete"})
    list_display = ("doctor", "starts_at", "ends_at", "reason")
    list_select_related = ("doctor__user",)
    autocomplete_fields = ("doctor",)
    search_fields = ("doctor__user__last_name", "reason")
    date_hierarchy = "starts_at"
    ordering = ("-starts_at",)
    visible_to = staticmethod(access.time_off_visible_to)
    object_checks = {
        "change": lambda user, time_off: access.can_manage_time_off(user, time_off.doctor),
        "delete": lambda user, time_off: access.can_manage_time_off(user, time_off.doctor),
    }

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "doctor":
            doctors = access.doctors_visible_to(request.user)
            if access.role_of(request.user) is Role.DOCTOR:
                doctors = doctors.filter(user_id=request.user.pk)
            kwargs["queryset"] = doctors
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


# --- Appointments --------------------------------------------------------------------


class AppointmentForm(ServiceForm):
    class Meta:
        model = Appointment
        fields = ["patient", "doctor", "appointment_time", "status", "reason"]

    def apply(self, instance: Appointment) -> Appointment:
        data = self.cleaned_data
        if instance.pk is None:
            return booking.appointment_book(
                actor=self.actor,
                patient=data["patient"],
                doctor=data["doctor"],
                start=data["appointment_time"],
                reason=data.get("reason") or "",
            )
        return booking.appointment_change(
            actor=self.actor,
            appointment=instance,
            patient=data.get("patient"),
            doctor=data.get("doctor"),
            start=data.get("appointment_time"),
            status=data.get("status"),
            reason=data.get("reason"),
        )


class RecordOfAppointmentInline(admin.StackedInline):
    """The appointment's medical records; written through clinic/records.py (see save_formset)."""

    model = MedicalRecord
    fk_name = "appointment"
    fields = ("notes", "author", "created_at")
    readonly_fields = ("author", "created_at")
    extra = 0
    verbose_name_plural = "medical records"

    def get_queryset(self, request):
        return access.medical_records_visible_to(request.user)

    def has_view_permission(self, request, obj=None) -> bool:
        return access.role_of(request.user) in {Role.ADMIN, Role.DOCTOR}

    def has_add_permission(self, request, obj=None) -> bool:
        if obj is None:
            return access.role_of(request.user) is Role.ADMIN
        return access.can_create_medical_record(request.user, obj)

    def has_change_permission(self, request, obj=None) -> bool:
        return self.has_add_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return access.role_of(request.user) is Role.ADMIN


class DoctorListFilter(admin.RelatedFieldListFilter):
    """Doctors by name, in one query."""

    def field_choices(self, field, request, model_admin):
        return [(doctor.pk, str(doctor)) for doctor in access.doctors_visible_to(request.user)]


@admin.register(Appointment)
class AppointmentAdmin(PatientSearchMixin, RecordReadsLogMixin, ServiceAdminMixin, ClinicHistoryAdmin):
    form = AppointmentForm
    doctor_actions = frozenset({"view", "change"})
    list_display = ("appointment_time", "doctor", "patient", "status_badge", "short_reason")
    list_select_related = ("patient__user", "doctor__user")
    list_filter = (
        "status",
        ("doctor", DoctorListFilter),
        "doctor__specialization",
        "appointment_time",
    )
    date_hierarchy = "appointment_time"
    search_fields = (
        "patient__user__last_name",
        "patient__user__first_name",
        "patient__user__email",
        "patient__insurance_number",
        "doctor__user__last_name",
        "doctor__specialization",
    )
    search_help_text = SEARCH_HELP + " Also the appointments of doctors whose name or specialization starts so."
    autocomplete_fields = ("patient", "doctor")
    ordering = ("-appointment_time", "-id")
    visible_to = staticmethod(access.appointments_visible_to)
    object_checks = {"change": access.can_open_appointment_form, "delete": access.can_delete_appointment}
    actions = ("confirm_appointments", "cancel_appointments")
    inlines = (RecordOfAppointmentInline,)

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        queryset.__class__ = RangeDatesQuerySet
        return queryset

    def get_search_results(self, request, queryset, search_term):
        """The appointments of the patients and of the doctors the search names."""
        words = search_term.split()
        if not words:
            return queryset, False
        patients = self.patient_ids(request, search_term)
        doctors = access.doctors_visible_to(request.user).filter(names_matching(words, specialization=True))
        doctors = self.matching_ids(request, doctors.order_by().values_list("pk", flat=True), "doctors")
        return queryset.filter(Q(patient_id__in=patients) | Q(doctor_id__in=doctors)), False

    def get_list_filter(self, request):
        if access.role_of(request.user) is Role.DOCTOR:
            return ("status", "appointment_time")
        return self.list_filter

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("patient", "doctor", "appointment_time", "reason")
        return ("patient", "doctor", "appointment_time", "ends_at", "status", "reason")

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        if access.role_of(request.user) is Role.DOCTOR:
            # A doctor confirms or cancels; the front desk moves and edits.
            return ("patient", "doctor", "appointment_time", "ends_at", "reason")
        return ("ends_at",)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "patient":
            kwargs["queryset"] = access.patients_visible_to(request.user)
        elif db_field.name == "doctor":
            kwargs["queryset"] = access.doctors_visible_to(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_formset(self, request, form, formset, change):
        if formset.model is not MedicalRecord:
            return super().save_formset(request, form, formset, change)
        appointment = formset.instance
        # What the admin's change message reports, as BaseModelFormSet.save() would set it.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for record_form in formset.forms:
            record = record_form.instance
            if record_form in formset.deleted_forms:
                if record.pk is not None and access.can_delete_medical_record(request.user, record):
                    record._history_user = request.user
                    record.delete()
                    formset.deleted_objects.append(record)
                continue
            if not record_form.has_changed():
                continue
            notes = record_form.cleaned_data["notes"]
            if record.pk is None:
                created = records.medical_record_create(actor=request.user, appointment=appointment, notes=notes)
                formset.new_objects.append(created)
            else:
                updated = records.medical_record_update(actor=request.user, record=record, notes=notes)
                formset.changed_objects.append((updated, record_form.changed_data))
        return None

    @admin.display(description="Status", ordering="status")
    def status_badge(self, appointment: Appointment) -> str:
        return format_html(
            '<span class="clinic-badge clinic-badge--{}">{}</span>',
            appointment.status,
            appointment.get_status_display(),
        )

    @admin.display(description="Reason")
    def short_reason(self, appointment: Appointment) -> str:
        return Truncator(appointment.reason).chars(60)

    def _move(self, request, queryset, service, verb: str) -> None:
        done = 0
        for appointment in queryset:
            try:
                service(actor=request.user, appointment=appointment)
            except (booking.BookingError, PermissionDenied) as exc:
                reason = exc.messages[0] if isinstance(exc, ValidationError) else (str(exc) or NOT_ALLOWED)
                self.message_user(request, f"{appointment}: not {verb}. {reason}", messages.WARNING)
            else:
                done += 1
        if done:
            self.message_user(
                request,
                f"{done} appointment{'s' if done != 1 else ''} {verb}; the patients are notified by email.",
                messages.SUCCESS,
            )

    @admin.action(description="Confirm selected appointments", permissions=["change"])
    def confirm_appointments(self, request, queryset):
        self._move(request, queryset, booking.appointment_confirm, "confirmed")

    @admin.action(description="Cancel selected appointments", permissions=["change"])
    def cancel_appointments(self, request, queryset):
        self._move(request, queryset, booking.appointment_cancel, "cancelled")


# --- Medical records -----------------------------------------------------------------


class MedicalRecordForm(ServiceForm):
    class Meta:
        model = MedicalRecord
        fields = ["patient", "appointment", "notes"]

    def apply(self, instance: MedicalRecord) -> MedicalRecord:
        data = self.cleaned_data
        if instance.pk is None:
            return records.medical_record_create(
                actor=self.actor, appointment=data["appointment"], notes=data["notes"], patient=data["patient"]
            )
        return records.medical_record_update(
            actor=self.actor,
            record=instance,
            notes=data.get("notes"),
            appointment=data.get("appointment"),
            patient=data.get("patient"),
        )


@admin.register(MedicalRecord)
class MedicalRecordAdmin(PatientSearchMixin, RecordReadsLogMixin, ServiceAdminMixin, ClinicHistoryAdmin):
    """Medical records: never shown to reception. The author is whoever writes the record."""

    form = MedicalRecordForm
    reception_allowed = False
    doctor_actions = frozenset({"view", "add", "change"})
    list_display = ("created_at", "patient", "appointment_time", "doctor", "author", "short_notes")
    list_select_related = ("patient__user", "author", "appointment__doctor__user")
    search_fields = ("patient__user__last_name", "patient__user__first_name", "patient__insurance_number")
    autocomplete_fields = ("patient", "appointment")
    readonly_fields = ("author", "created_at", "updated_at")
    ordering = ("-id",)
    visible_to = staticmethod(access.medical_records_visible_to)
    object_checks = {"change": access.can_change_medical_record, "delete": access.can_delete_medical_record}

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("patient", "appointment", "notes")
        return ("patient", "appointment", "notes", "author", "created_at", "updated_at")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "patient":
            kwargs["queryset"] = access.patients_visible_to(request.user)
        elif db_field.name == "appointment":
            kwargs["queryset"] = access.appointments_visible_to(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.display(description="Appointment", ordering="appointment__appointment_time")
    def appointment_time(self, record: MedicalRecord):
        return record.appointment.appointment_time

    @admin.display(description="Doctor")
    def doctor(self, record: MedicalRecord):
        return record.appointment.doctor

    @admin.display(description="Notes")
    def short_notes(self, record: MedicalRecord) -> str:
        return Truncator(record.notes).chars(60)


# --- Email outbox --------------------------------------------------------------------


@admin.register(EmailOutbox)
class EmailOutboxAdmin(ReadOnlyLogMixin, admin.ModelAdmin):
    """The patients' notices as the worker sees them: read only, for the clinic admin."""

    list_display = ("created_at", "kind", "status", "recipient", "appointment_id", "attempts", "sent_at")
    list_filter = ("status", "kind")
    search_fields = ("recipient",)
    ordering = ("-id",)


# --- Record access log ---------------------------------------------------------------

RECORD_IDS_SHOWN = 20


@admin.register(RecordAccess)
class RecordAccessAdmin(ReadOnlyLogMixin, admin.ModelAdmin):
    """Who was shown which medical records, when and through which request: read only, for
    the clinic admin alone. Nobody can add, change or delete a row (the model refuses too)."""

    list_display = ("at", "username", "channel", "method", "path", "records", "ip_address")
    list_filter = ("channel",)
    search_fields = ("=username", "path")
    ordering = ("-id",)
    fields = ("at", "user", "username", "channel", "method", "path", "ip_address", "records")
    readonly_fields = fields

    @admin.display(description="Records")
    def records(self, row: RecordAccess) -> str:
        if not row.record_ids:
            return "none"
        shown = row.record_ids[:RECORD_IDS_SHOWN]
        links = format_html_join(
            ", ",
            '<a href="{}">#{}</a>',
            ((reverse("admin:clinic_medicalrecord_change", args=[pk]), pk) for pk in shown),
        )
        more = len(row.record_ids) - len(shown)
        return format_html("{} and {} more", links, more) if more else links


# --- Login lockout (django-axes) -----------------------------------------------------

# axes registers its own admins on the default site; these replace them, for the clinic admin only.
for _axes_model in (AccessAttempt, AccessLog, AccessFailureLog):
    if admin.site.is_registered(_axes_model):
        admin.site.unregister(_axes_model)


@admin.register(AccessAttempt)
class LoginAttemptAdmin(RoleAccessMixin, AxesAccessAttemptAdmin):
    """Failed logins per username and address. A username locked out from an address is
    unlocked by deleting its rows (the "Unlock" action)."""

    refused_actions = frozenset({"add", "change"})
    reception_allowed = False
    actions = ["unlock", "cleanup_expired_attempts"]

    @admin.action(description="Unlock the selected usernames and addresses", permissions=["delete"])
    def unlock(self, request, queryset):
        rows = list(queryset.values_list("username", "ip_address"))
        queryset.delete()
        pairs = sorted({f"{username or '?'} from {address or '?'}" for username, address in rows})
        self.message_user(request, f"Unlocked: {'; '.join(pairs)}.", messages.SUCCESS)


@admin.register(AccessLog)
class LoginLogAdmin(ReadOnlyLogMixin, AxesAccessLogAdmin):
    """Successful sign-ins to the admin and the pages, read only."""
