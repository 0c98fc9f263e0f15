"""Webhooks: endpoints the clinic admin registers and their signed deliveries; a schedule every
minute queues the deliveries that are due (retries, and rows a dead worker held)."""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models

SCHEDULE_NAME = "Webhook deliveries due"
SCHEDULE_FUNC = "clinic.webhooks.deliveries_send_due"


def create_schedule(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.using(schema_editor.connection.alias).update_or_create(
        name=SCHEDULE_NAME, defaults={"func": SCHEDULE_FUNC, "schedule_type": "I", "minutes": 1, "repeats": -1}
    )


def delete_schedule(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.using(schema_editor.connection.alias).filter(name=SCHEDULE_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("clinic", "0012_waitlist_offers"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [
        migrations.CreateModel(
            name="WebhookEndpoint",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("url", models.URLField(max_length=500)),
                ("description", models.CharField(blank=True, max_length=200)),
                ("events", models.JSONField(default=list)),
                ("secret", models.CharField(editable=False, max_length=100)),
                ("active", models.BooleanField(default=True)),
                ("consecutive_failures", models.PositiveIntegerField(default=0)),
                ("switched_off_at", models.DateTimeField(blank=True, null=True)),
                ("switched_off_reason", models.CharField(blank=True, max_length=300)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
            options={
                "verbose_name": "webhook endpoint",
                "ordering": ["id"],
            },
        ),
        migrations.CreateModel(
            name="WebhookDelivery",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("pending", "Pending"),
                            ("sent", "Sent"),
                            ("skipped", "Skipped"),
                            ("failed", "Failed"),
                        ],
                        default="pending",
                        max_length=16,
                    ),
                ),
                ("recipient", models.EmailField(blank=True, max_length=254)),
                ("attempts", models.PositiveSmallIntegerField(default=0)),
                ("claimed_until", models.DateTimeField(blank=True, null=True)),
                ("last_error", models.TextField(blank=True)),
                ("message_id", models.CharField(blank=True, max_length=255)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("sent_at", models.DateTimeField(blank=True, null=True)),
                (
                    "event",
                    models.CharField(
                        choices=[
                            ("appointment.booked", "Appointment booked"),
                            ("appointment.confirmed", "Appointment confirmed"),
                            ("appointment.rescheduled", "Appointment rescheduled"),
                            ("appointment.cancelled", "Appointment cancelled"),
                            ("appointment.arrived", "Patient arrived"),
                            ("appointment.completed", "Visit completed"),
                            ("appointment.no_show", "No-show"),
                            ("patient.created", "Patient created"),
                            ("patient.updated", "Patient updated"),
                        ],
                        max_length=40,
                    ),
                ),
                ("payload", models.JSONField()),
                ("next_attempt_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("last_status_code", models.PositiveSmallIntegerField(blank=True, null=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "endpoint",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="deliveries",
                        to="clinic.webhookendpoint",
                    ),
                ),
            ],
            options={
                "verbose_name": "webhook delivery",
                "verbose_name_plural": "webhook deliveries",
                "ordering": ["-created_at", "-id"],
                "indexes": [models.Index(fields=["status", "next_attempt_at"], name="webhook_status_due_idx")],
                "constraints": [
                    models.UniqueConstraint(fields=("message_id",), name="webhook_delivery_one_per_id"),
                    models.CheckConstraint(
                        condition=models.Q(
                            (
                                "event__in",
                                [
                                    "appointment.booked",
                                    "appointment.confirmed",
                                    "appointment.rescheduled",
                                    "appointment.cancelled",
                                    "appointment.arrived",
                                    "appointment.completed",
                                    "appointment.no_show",
                                    "patient.created",
                                    "patient.updated",
                                ],
                            )
                        ),
                        name="webhook_event_valid",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("status__in", ["pending", "sent", "skipped", "failed"])),
                        name="webhook_status_valid",
                    ),
                ],
            },
        ),
        migrations.RunPython(create_schedule, delete_schedule),
    ]
