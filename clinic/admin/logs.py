"""Logs and queues kept by the system, for the clinic admin alone and read only: the email
outbox, the record access log, and django-axes' login attempts (which the clinic admin unlocks)."""

from __future__ import annotations

from axes.admin import AccessAttemptAdmin as AxesAccessAttemptAdmin
from axes.admin import AccessLogAdmin as AxesAccessLogAdmin
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from clinic.admin.base import ClinicLogAdmin, ClinicModelAdmin
from clinic.models import EmailOutbox, RecordAccess

# --- Email outbox --------------------------------------------------------------------


@admin.register(EmailOutbox)
class EmailOutboxAdmin(ClinicLogAdmin):
    """The patients' notices as the worker sees them: read only, for the clinic admin."""

    list_display = ("created_at", "kind", "status", "recipient", "appointment_id", "attempts", "sent_at")
    list_filter = ("status", "kind")
    search_fields = ("recipient",)
    ordering = ("-id",)


# --- Record access log ---------------------------------------------------------------

RECORD_IDS_SHOWN = 20


@admin.register(RecordAccess)
class RecordAccessAdmin(ClinicLogAdmin):
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
class LoginAttemptAdmin(ClinicModelAdmin, AxesAccessAttemptAdmin):
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
class LoginLogAdmin(ClinicLogAdmin, AxesAccessLogAdmin):
    """Successful sign-ins to the admin and the pages, read only."""
