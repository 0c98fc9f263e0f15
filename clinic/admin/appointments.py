"""Appointments in the admin: the list, the form and the Confirm/Cancel actions, all through
clinic/booking.py, so the booking rules hold and the same emails are queued; the records of an
appointment inline, through clinic/records.py (never shown to reception)."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import admin
from django.contrib.admin.widgets import FilteredSelectMultiple
from django.db.models import Count, Max, Min, Q
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import Truncator
from simple_history.admin import SimpleHistoryAdmin

from clinic import access, booking, export, records
from clinic.access import Role
from clinic.admin.base import ClinicModelAdmin, ReadOnlyInline, ServiceForm
from clinic.models import (
    Appointment,
    AppointmentQuerySet,
    AppointmentType,
    Doctor,
    MedicalRecord,
    WaitlistEntry,
    WaitlistOffer,
)
from clinic.search import SEARCH_HELP, clean_term, names_matching


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


class AppointmentForm(ServiceForm):
    class Meta:
        model = Appointment
        fields = ["patient", "doctor", "appointment_type", "appointment_time", "status", "reason"]

    def apply(self, instance: Appointment) -> Appointment:
        data = self.cleaned_data
        if instance.pk is None:
            return booking.appointment_book(
                actor=self.actor,
                patient=data["patient"],
                doctor=data["doctor"],
                start=data["appointment_time"],
                reason=data.get("reason") or "",
                appointment_type=data.get("appointment_type"),
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
class AppointmentAdmin(ClinicModelAdmin, SimpleHistoryAdmin):
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
    actions = (
        "confirm_appointments",
        "check_in_appointments",
        "start_appointments",
        "complete_appointments",
        "no_show_appointments",
        "cancel_appointments",
        "cancel_series_from",
        "export_csv",
    )
    inlines = (RecordOfAppointmentInline,)

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        queryset.__class__ = RangeDatesQuerySet
        return queryset

    def get_search_results(self, request, queryset, search_term):
        """The appointments of the patients and of the doctors the search names."""
        search_term = clean_term(search_term)
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
            return ("patient", "doctor", "appointment_type", "appointment_time", "reason")
        return ("patient", "doctor", "appointment_type", "series", "appointment_time", "ends_at", "status", "reason")

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        if access.role_of(request.user) is Role.DOCTOR:
            # A doctor confirms or cancels; the front desk moves and edits.
            return ("patient", "doctor", "appointment_type", "series", "appointment_time", "ends_at", "reason")
        # A booked visit keeps its type (its length and buffers were booked with it) and its series.
        return ("appointment_type", "series", "ends_at")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "patient":
            kwargs["queryset"] = access.patients_visible_to(request.user)
        elif db_field.name == "doctor":
            kwargs["queryset"] = access.doctors_visible_to(request.user)
        elif db_field.name == "appointment_type":
            kwargs["queryset"] = access.appointment_types_visible_to(request.user).filter(active=True)
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

    def _move(self, request, queryset, service, verb: str, *, notified: bool = True) -> None:
        note = "; the patients are notified by email." if notified else "."
        self.run_for_each(
            request,
            queryset,
            lambda appointment: service(actor=request.user, appointment=appointment),
            f"{{count}} appointment{{s}} {verb}{note}",
            refused_message=f"{{obj}}: not {verb}. {{reason}}",
        )

    @admin.action(description="Confirm selected appointments", permissions=["change"])
    def confirm_appointments(self, request, queryset):
        self._move(request, queryset, booking.appointment_confirm, "confirmed")

    @admin.action(description="Check in the selected patients", permissions=["change"])
    def check_in_appointments(self, request, queryset):
        self._move(request, queryset, booking.appointment_check_in, "checked in", notified=False)

    @admin.action(description="Start the selected visits", permissions=["change"])
    def start_appointments(self, request, queryset):
        self._move(request, queryset, booking.appointment_start, "started", notified=False)

    @admin.action(description="Complete the selected visits", permissions=["change"])
    def complete_appointments(self, request, queryset):
        self._move(request, queryset, booking.appointment_complete, "completed", notified=False)

    @admin.action(description="Mark the selected appointments as no-shows", permissions=["change"])
    def no_show_appointments(self, request, queryset):
        self._move(request, queryset, booking.appointment_no_show, "marked as a no-show", notified=False)

    @admin.action(description="Cancel the selected and the later visits of their series", permissions=["change"])
    def cancel_series_from(self, request, queryset):
        # From the earliest selected visit of each series.
        firsts: dict[int, Appointment] = {}
        for appointment in queryset.filter(series__isnull=False).order_by("appointment_time", "id"):
            firsts.setdefault(appointment.series_id, appointment)
        self.run_for_each(
            request,
            firsts.values(),
            lambda appointment: booking.series_cancel_from(actor=request.user, appointment=appointment),
            "{count} series cancelled from the selected visit on; the patients are notified by email.",
        )

    @admin.action(description="Cancel selected appointments", permissions=["change"])
    def cancel_appointments(self, request, queryset):
        self._move(request, queryset, booking.appointment_cancel, "cancelled")

    @admin.action(description="Export selected appointments as CSV", permissions=["view"])
    def export_csv(self, request, queryset):
        """The selected rows; with "Select all", every row the list's filters and search give
        (Django passes the changelist's whole queryset), in the list's order. Streamed."""
        return export.appointments_csv_response(queryset)


# --- Visit types -----------------------------------------------------------------------


class AppointmentTypeForm(ServiceForm):
    class Meta:
        model = AppointmentType
        fields = [*booking.TYPE_FIELDS, "doctors"]

    doctors = forms.ModelMultipleChoiceField(
        queryset=Doctor.objects.select_related("user"),
        required=False,
        widget=FilteredSelectMultiple("doctors", is_stacked=False),
        help_text="The doctors who offer this visit.",
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None and "doctors" in self.fields:
            self.initial.setdefault("doctors", list(self.instance.doctors.values_list("pk", flat=True)))

    def apply(self, instance: AppointmentType) -> AppointmentType:
        data = self.cleaned_data
        fields = {name: data[name] for name in booking.TYPE_FIELDS if name in data}
        return booking.appointment_type_save(
            actor=self.actor,
            appointment_type=instance if instance.pk is not None else None,
            doctors=data.get("doctors"),
            **fields,
        )


@admin.register(AppointmentType)
class AppointmentTypeAdmin(ClinicModelAdmin, SimpleHistoryAdmin):
    """Visit types: their length, buffers, colour, who may book them and which doctors offer them."""

    form = AppointmentTypeForm
    doctor_actions = frozenset({"view"})
    list_display = ("name", "duration_minutes", "buffers", "color", "bookable_online", "active", "offered_by")
    list_filter = ("active", "bookable_online")
    search_fields = ("name",)
    ordering = ("name", "id")
    visible_to = staticmethod(access.appointment_types_visible_to)
    object_checks = {
        "change": lambda user, kind: access.can_manage_appointment_types(user),
        "delete": lambda user, kind: access.can_manage_appointment_types(user),
    }

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(offering=Count("doctors"))

    def get_fields(self, request, obj=None):
        # Who may only look sees the doctors as a list: the form's field is the writable one.
        doctors = "doctors" if self.has_change_permission(request, obj) or obj is None else "doctors_offering"
        return (*booking.TYPE_FIELDS, doctors)

    def get_readonly_fields(self, request, obj=None):
        return ("doctors_offering",)

    @admin.display(description="Doctors")
    def doctors_offering(self, kind: AppointmentType) -> str:
        return ", ".join(str(doctor) for doctor in kind.doctors.select_related("user")) or "None"

    def delete_model(self, request, obj):
        booking.appointment_type_delete(actor=request.user, appointment_type=obj)

    def delete_queryset(self, request, queryset):
        for kind in queryset:
            booking.appointment_type_delete(actor=request.user, appointment_type=kind)

    @admin.display(description="Buffers (before / after)")
    def buffers(self, kind: AppointmentType) -> str:
        return f"{kind.buffer_before_minutes} / {kind.buffer_after_minutes} min"

    @admin.display(description="Doctors", ordering="offering")
    def offered_by(self, kind: AppointmentType) -> int:
        return kind.offering


# --- Waitlist ------------------------------------------------------------------------------


WAITLIST_FIELDS = ("patient", *WaitlistEntry.REQUEST_FIELDS)


class WaitlistEntryForm(ServiceForm):
    class Meta:
        model = WaitlistEntry
        fields = list(WAITLIST_FIELDS)

    def apply(self, instance: WaitlistEntry) -> WaitlistEntry:
        data = self.cleaned_data
        return booking.waitlist_join(
            actor=self.actor,
            patient=data["patient"],
            doctor=data.get("doctor"),
            specialization=data.get("specialization", ""),
            appointment_type=data.get("appointment_type"),
            date_from=data["date_from"],
            date_to=data["date_to"],
            part_of_day=data.get("part_of_day") or WaitlistEntry.PartOfDay.ANY,
        )


OFFER_FIELDS = ("doctor", "start", "valid_until", "status", "sent_at", "outcome", "appointment")


class WaitlistOfferInline(ReadOnlyInline):
    """The freed times offered to an entry, on its page."""

    model = WaitlistOffer
    fields = OFFER_FIELDS
    viewer_roles = frozenset({Role.RECEPTION, Role.ADMIN})
    verbose_name_plural = "offers sent"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("doctor__user", "appointment", "entry__patient__user")


@admin.register(WaitlistOffer)
class WaitlistOfferAdmin(ClinicModelAdmin):
    """The offers sent to the waitlist and what came of them: read only (the worker writes them)."""

    refused_actions = frozenset({"add", "change", "delete"})
    list_display = ("start", "doctor", "patient", "valid_until", "status", "sent_at", "outcome")
    list_filter = ("outcome", "status")
    list_select_related = ("entry__patient__user", "doctor__user")
    fields = ("entry", *OFFER_FIELDS, "attempts", "last_error", "created_at")
    readonly_fields = fields
    ordering = ("-id",)
    search_path = "entry__patient"
    visible_to = staticmethod(access.waitlist_offers_visible_to)

    @admin.display(description="Patient", ordering="entry__patient__user__last_name")
    def patient(self, offer: WaitlistOffer) -> str:
        return str(offer.entry.patient)


@admin.register(WaitlistEntry)
class WaitlistEntryAdmin(ClinicModelAdmin):
    """Who waits for which doctor or specialization, and when. The front desk puts patients on
    it here; an entry is withdrawn, never deleted."""

    form = WaitlistEntryForm
    refused_actions = frozenset({"delete"})
    list_display = ("patient", "waiting_for", "date_from", "date_to", "part_of_day", "appointment_type", "status")
    list_filter = ("status", "part_of_day")
    list_select_related = ("patient__user", "doctor__user", "appointment_type")
    autocomplete_fields = ("patient",)
    ordering = ("created_at", "id")
    search_path = "patient"
    visible_to = staticmethod(access.waitlist_visible_to)
    actions = ["withdraw"]

    def get_inlines(self, request, obj):
        # The offers an entry was sent, on its own (read-only) page.
        return [WaitlistOfferInline] if obj is not None else []

    def get_readonly_fields(self, request, obj=None):
        # An entry is not edited: withdraw it and add another.
        return (*WAITLIST_FIELDS, "status", "created_by", "created_at") if obj is not None else ()

    def has_change_permission(self, request, obj=None) -> bool:
        # The changelist's action needs "change"; an entry's page is read only.
        return super().has_change_permission(request, None)

    @admin.display(description="Waiting for")
    def waiting_for(self, entry: WaitlistEntry) -> str:
        return str(entry.doctor) if entry.doctor_id else f"any {entry.specialization} doctor"

    @admin.action(description="Withdraw the selected entries", permissions=["change"])
    def withdraw(self, request, queryset):
        self.run_for_each(
            request,
            queryset,
            lambda entry: booking.waitlist_withdraw(actor=request.user, entry=entry),
            "Withdrew {count} waitlist place{s}.",
        )
