"""Medical records in the admin: never shown to reception; written through clinic/records.py
(the author is whoever writes the record); every page that shows one is in the access log."""

from __future__ import annotations

from django.contrib import admin
from django.utils.text import Truncator
from simple_history.admin import SimpleHistoryAdmin

from clinic import access, records
from clinic.admin.base import ClinicModelAdmin, ServiceForm
from clinic.models import MedicalRecord
from clinic.search import SEARCH_HELP


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
class MedicalRecordAdmin(ClinicModelAdmin, SimpleHistoryAdmin):
    """Medical records: never shown to reception. The author is whoever writes the record."""

    form = MedicalRecordForm
    reception_allowed = False
    doctor_actions = frozenset({"view", "add", "change"})
    list_display = ("created_at", "patient", "appointment_time", "doctor", "author", "short_notes")
    list_select_related = ("patient__user", "author", "appointment__doctor__user")
    search_fields = ("patient__user__last_name", "patient__user__first_name", "patient__insurance_number")
    search_path = "patient"
    search_help_text = SEARCH_HELP
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
