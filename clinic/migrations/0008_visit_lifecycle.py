"""The visit from check-in to done: the statuses arrived, in_progress, completed and no_show,
and the times the moves stamp.

On SQLite a changed CHECK constraint rebuilds the appointment table: the triggers of migration
0002 (a record's patient is its appointment's) would stop the rebuild or be lost with the old
table, so they are dropped before it and made again after it.
"""

import importlib

from django.db import migrations, models

TRIGGERS = importlib.import_module("clinic.migrations.0002_record_patient_trigger_reception_group")


def _sqlite(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "sqlite":
            for statement in statements:
                schema_editor.execute(statement)

    return run


DROP_TRIGGERS = _sqlite(TRIGGERS.SQLITE_BACKWARD)
CREATE_TRIGGERS = _sqlite(TRIGGERS.SQLITE_FORWARD)


class Migration(migrations.Migration):

    dependencies = [
        ('clinic', '0007_idempotency_fingerprint_record_channels'),
    ]

    operations = [
        migrations.RunPython(DROP_TRIGGERS, CREATE_TRIGGERS),
        migrations.RemoveConstraint(
            model_name='appointment',
            name='appointment_status_valid',
        ),
        migrations.AddField(
            model_name='appointment',
            name='arrived_at',
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name='appointment',
            name='completed_at',
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name='appointment',
            name='started_at',
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name='historicalappointment',
            name='arrived_at',
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name='historicalappointment',
            name='completed_at',
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name='historicalappointment',
            name='started_at',
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AlterField(
            model_name='appointment',
            name='status',
            field=models.CharField(choices=[('pending', 'Pending'), ('confirmed', 'Confirmed'), ('arrived', 'Checked in'), ('in_progress', 'With the doctor'), ('completed', 'Completed'), ('no_show', 'No-show'), ('cancelled', 'Cancelled')], default='pending', max_length=16),
        ),
        migrations.AlterField(
            model_name='historicalappointment',
            name='status',
            field=models.CharField(choices=[('pending', 'Pending'), ('confirmed', 'Confirmed'), ('arrived', 'Checked in'), ('in_progress', 'With the doctor'), ('completed', 'Completed'), ('no_show', 'No-show'), ('cancelled', 'Cancelled')], default='pending', max_length=16),
        ),
        migrations.AddConstraint(
            model_name='appointment',
            constraint=models.CheckConstraint(condition=models.Q(('status__in', ['pending', 'confirmed', 'arrived', 'in_progress', 'completed', 'no_show', 'cancelled'])), name='appointment_status_valid'),
        ),
        migrations.RunPython(CREATE_TRIGGERS, DROP_TRIGGERS),
    ]
