"""The email outbox, and the worker's schedule that sends reminders and picks up unsent emails."""

import django.db.models.deletion
from django.db import migrations, models

SCHEDULE_NAME = "Appointment reminders and unsent emails"
SCHEDULE_FUNC = "clinic.tasks.emails_send_due"


def create_schedule(apps, schema_editor):
    # Every 10 minutes: reminders 24 hours ahead, and emails still unsent (see clinic/tasks.py).
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.using(schema_editor.connection.alias).update_or_create(
        name=SCHEDULE_NAME,
        defaults={"func": SCHEDULE_FUNC, "schedule_type": "I", "minutes": 10, "repeats": -1},
    )


def delete_schedule(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.using(schema_editor.connection.alias).filter(name=SCHEDULE_NAME).delete()


class Migration(migrations.Migration):

    dependencies = [
        ('clinic', '0002_record_patient_trigger_reception_group'),
        ('django_q', '0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more'),
    ]

    operations = [
        migrations.CreateModel(
            name='EmailOutbox',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('booked', 'Request received'), ('confirmed', 'Confirmed'), ('rescheduled', 'Rescheduled'), ('cancelled', 'Cancelled'), ('reminder', 'Reminder')], max_length=16)),
                ('sequence', models.PositiveIntegerField()),
                ('status', models.CharField(choices=[('pending', 'Pending'), ('sent', 'Sent'), ('skipped', 'Skipped'), ('failed', 'Failed')], default='pending', max_length=16)),
                ('recipient', models.EmailField(blank=True, max_length=254)),
                ('attempts', models.PositiveSmallIntegerField(default=0)),
                ('claimed_until', models.DateTimeField(blank=True, null=True)),
                ('last_error', models.TextField(blank=True)),
                ('message_id', models.CharField(blank=True, max_length=255)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('sent_at', models.DateTimeField(blank=True, null=True)),
                ('appointment', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='emails', to='clinic.appointment')),
            ],
            options={
                'verbose_name': 'email',
                'verbose_name_plural': 'email outbox',
                'ordering': ['-created_at', '-id'],
                'indexes': [models.Index(fields=['status', 'created_at'], name='outbox_status_created_idx')],
                'constraints': [models.UniqueConstraint(fields=('appointment', 'kind', 'sequence'), name='outbox_one_per_version'), models.CheckConstraint(condition=models.Q(('kind__in', ['booked', 'confirmed', 'rescheduled', 'cancelled', 'reminder'])), name='outbox_kind_valid'), models.CheckConstraint(condition=models.Q(('status__in', ['pending', 'sent', 'skipped', 'failed'])), name='outbox_status_valid')],
            },
        ),
        migrations.RunPython(create_schedule, delete_schedule),
    ]
