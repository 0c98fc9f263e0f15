"""Idempotency keys remember the request they came with; the record access log's channels are
the two that exist; expired keys are purged hourly; allauth's addresses follow User.email.
"""

from django.db import migrations, models
from django.db.models import F
from django.db.models.functions import Lower

SCHEDULE_NAME = "Expired idempotency keys"
SCHEDULE_FUNC = "clinic.tasks.idempotency_keys_purge"


def create_schedule(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.using(schema_editor.connection.alias).update_or_create(
        name=SCHEDULE_NAME,
        defaults={"func": SCHEDULE_FUNC, "schedule_type": "H", "repeats": -1},
    )


def delete_schedule(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.using(schema_editor.connection.alias).filter(name=SCHEDULE_NAME).delete()


def forget_old_addresses(apps, schema_editor):
    """An address a user no longer has on record must not sign them in or reset their password."""
    EmailAddress = apps.get_model("account", "EmailAddress")
    db = schema_editor.connection.alias
    addresses = EmailAddress.objects.using(db).annotate(address=Lower("email"), on_record=Lower("user__email"))
    addresses.exclude(address=F("on_record")).delete()
    EmailAddress.objects.using(db).update(primary=True)


class Migration(migrations.Migration):
    dependencies = [
        ("clinic", "0006_appointment_length_bounded"),
        ("account", "0009_emailaddress_unique_primary_email"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="recordaccess",
            name="record_access_channel_valid",
        ),
        migrations.RemoveField(
            model_name="idempotencykey",
            name="appointment",
        ),
        migrations.AddField(
            model_name="idempotencykey",
            name="fingerprint",
            field=models.CharField(blank=True, max_length=64),
        ),
        migrations.AlterField(
            model_name="recordaccess",
            name="channel",
            field=models.CharField(choices=[("api", "API"), ("admin", "Staff admin")], max_length=8),
        ),
        migrations.AddConstraint(
            model_name="recordaccess",
            constraint=models.CheckConstraint(
                condition=models.Q(("channel__in", ["api", "admin"])), name="record_access_channel_valid"
            ),
        ),
        migrations.RunPython(create_schedule, delete_schedule),
        migrations.RunPython(forget_old_addresses, migrations.RunPython.noop),
    ]
