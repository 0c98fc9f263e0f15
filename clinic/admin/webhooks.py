"""Webhooks, for the clinic admin alone: the endpoints it registers, and their deliveries (read only).

An endpoint's secret is shown once, in the message after it is created, and never again.
Every write goes through clinic/webhooks.py (its URL checked by the SSRF guard there);
visibility comes from clinic/access.py."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Q
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from clinic import access, webhooks
from clinic.admin.base import ClinicLogAdmin, ClinicModelAdmin, ServiceForm
from clinic.models import WebhookDelivery, WebhookEndpoint, WebhookEvent

RECENT_DELIVERIES = 20
CREATED_NOTICE = (
    "The endpoint's signing secret is {secret} — copy it now: it is not shown again. "
    "Verify each delivery's webhook-signature with it (see the README, Webhooks)."
)
SWITCHED_OFF_MESSAGE = "This endpoint is switched off since {at}: {reason} Tick Active and save to switch it on again."


class WebhookEndpointForm(ServiceForm):
    url = forms.URLField(max_length=500, assume_scheme="https", label="URL")
    events = forms.MultipleChoiceField(choices=WebhookEvent.choices, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = WebhookEndpoint
        fields = ["url", "description", "events", "active"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._creating = self.instance.pk is None

    def apply(self, instance: WebhookEndpoint) -> WebhookEndpoint:
        target = WebhookEndpoint() if self._creating else instance
        for name in ("url", "description", "events", "active"):
            if name in self.cleaned_data:
                setattr(target, name, self.cleaned_data[name])
        return webhooks.endpoint_save(actor=self.actor, endpoint=target)


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ClinicModelAdmin):
    """Receivers of signed event notices. The secret is never shown here after creation."""

    form = WebhookEndpointForm
    reception_allowed = False
    visible_to = staticmethod(access.webhook_endpoints_visible_to)
    list_display = ("url", "description", "state", "consecutive_failures", "failed_deliveries", "created_at")
    list_filter = ("active",)
    search_fields = ("url", "description")
    ordering = ("id",)
    readonly_fields = ("state", "consecutive_failures", "created_at", "recent_deliveries")

    def get_fieldsets(self, request, obj=None):
        fieldsets = [(None, {"fields": ["url", "description", "events", "active"]})]
        if obj is not None:
            fieldsets.append(
                ("Deliveries", {"fields": ["state", "consecutive_failures", "created_at", "recent_deliveries"]})
            )
        return fieldsets

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(n_failed=Count("deliveries", filter=Q(deliveries__status=WebhookDelivery.Status.FAILED)))
        )

    @admin.display(description="State")
    def state(self, endpoint: WebhookEndpoint) -> str:
        if endpoint.switched_off_at is not None and not endpoint.active:
            return f"Switched off {endpoint.switched_off_at:%Y-%m-%d %H:%M} UTC: {endpoint.switched_off_reason}"
        return "Active" if endpoint.active else "Inactive"

    @admin.display(description="Failed deliveries", ordering="n_failed")
    def failed_deliveries(self, endpoint: WebhookEndpoint) -> int:
        return getattr(endpoint, "n_failed", 0)

    @admin.display(description=f"Last {RECENT_DELIVERIES} deliveries")
    def recent_deliveries(self, endpoint: WebhookEndpoint) -> str:
        rows = endpoint.deliveries.order_by("-id")[:RECENT_DELIVERIES]
        if not rows:
            return "none yet"
        return format_html(
            "<table><tr><th>Created</th><th>Event</th><th>Status</th><th>Attempts</th><th>Last answer</th></tr>"
            "{}</table>",
            format_html_join(
                "",
                '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>',
                (
                    (
                        reverse("admin:clinic_webhookdelivery_change", args=[row.pk]),
                        f"{row.created_at:%Y-%m-%d %H:%M:%S}",
                        row.event,
                        row.get_status_display(),
                        row.attempts,
                        f"HTTP {row.last_status_code}" if row.last_status_code else (row.last_error[:80] or "—"),
                    )
                    for row in rows
                ),
            ),
        )

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change:
            self.message_user(request, CREATED_NOTICE.format(secret=obj.secret), messages.WARNING)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if request.method == "GET":
            endpoint = self.get_queryset(request).filter(pk=object_id).first() if object_id.isdigit() else None
            if endpoint is not None and not endpoint.active and endpoint.switched_off_at is not None:
                self.message_user(
                    request,
                    SWITCHED_OFF_MESSAGE.format(
                        at=f"{endpoint.switched_off_at:%Y-%m-%d %H:%M} UTC", reason=endpoint.switched_off_reason
                    ),
                    messages.ERROR,
                )
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ClinicLogAdmin):
    """Each event for each endpoint, as the worker sees it: read only; a failed one can be sent again."""

    visible_to = staticmethod(access.webhook_deliveries_visible_to)
    list_display = (
        "created_at",
        "event",
        "endpoint",
        "status",
        "attempts",
        "last_status_code",
        "last_error_short",
        "next_attempt_at",
        "sent_at",
    )
    list_filter = ("status", "event", "endpoint")
    list_select_related = ("endpoint",)
    search_fields = ("=message_id",)
    ordering = ("-id",)
    actions = ["send_again"]
    fields = (
        "endpoint",
        "event",
        "message_id",
        "status",
        "attempts",
        "next_attempt_at",
        "last_status_code",
        "last_error",
        "payload",
        "created_at",
        "sent_at",
    )
    readonly_fields = fields

    @admin.display(description="Last error")
    def last_error_short(self, delivery: WebhookDelivery) -> str:
        return delivery.last_error[:80]

    def has_resend_permission(self, request) -> bool:
        return access.can_manage_webhooks(request.user)

    @admin.action(description="Send the selected failed deliveries again", permissions=["resend"])
    def send_again(self, request, queryset):
        self.run_for_each(
            request,
            queryset,
            lambda delivery: webhooks.delivery_send_again(actor=request.user, delivery=delivery),
            "Queued to be sent again: {count} failed deliveries.",
        )
