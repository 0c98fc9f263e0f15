"""Visit types with their own length and buffers, and the doctor's blocked range of each
appointment: [start - buffer before, end + buffer after), which the doctor's overlap constraint
now covers (the patient's still covers the appointment itself).

Every existing appointment blocks exactly its own range, as before: nothing moves and no
two of them overlap that did not before. On PostgreSQL a blocked range is at most a day, what
the overlap search relies on. On SQLite the table is rebuilt, so the record triggers of
migration 0002 are dropped around it and made again (as in 0008).
"""

import importlib

from django.db import migrations, models
import django.db.models.deletion
import django.core.validators

from clinic.migrations._grants import grant_to_reception
import simple_history.models
from django.conf import settings
import clinic.models

VISIT_LIFECYCLE = importlib.import_module("clinic.migrations.0008_visit_lifecycle")

FILL = """
UPDATE {table} SET blocked_from = appointment_time, blocked_until = ends_at WHERE blocked_from IS NULL
"""
BLOCKED_BOUNDED = (
    "ALTER TABLE clinic_appointment ADD CONSTRAINT appointment_blocked_bounded "
    "CHECK (blocked_until <= blocked_from + interval '1 day')"
)
BLOCKED_UNBOUNDED = "ALTER TABLE clinic_appointment DROP CONSTRAINT IF EXISTS appointment_blocked_bounded"


def fill_blocked_ranges(apps, schema_editor):
    for table in ("clinic_appointment", "clinic_historicalappointment"):
        schema_editor.execute(FILL.format(table=table))


def grant_reception(apps, schema_editor):
    """The front desk manages visit types, as it manages doctors."""
    grant_to_reception(apps, [f"{action}_appointmenttype" for action in ("view", "add", "change", "delete")])


def _on_postgresql(statement):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):

    dependencies = [
        ('clinic', '0008_visit_lifecycle'),
    ]

    operations = [
        migrations.RunPython(VISIT_LIFECYCLE.DROP_TRIGGERS, VISIT_LIFECYCLE.CREATE_TRIGGERS),
        migrations.CreateModel(
            name='AppointmentType',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=100, unique=True)),
                ('duration_minutes', models.PositiveSmallIntegerField(validators=[django.core.validators.MinValueValidator(5), django.core.validators.MaxValueValidator(480)])),
                ('buffer_before_minutes', models.PositiveSmallIntegerField(default=0, validators=[django.core.validators.MaxValueValidator(120)])),
                ('buffer_after_minutes', models.PositiveSmallIntegerField(default=0, validators=[django.core.validators.MaxValueValidator(120)])),
                ('color', models.CharField(default='#1f7a6d', help_text='How the calendar shows it: #rrggbb.', max_length=7, validators=[django.core.validators.RegexValidator('^#[0-9a-fA-F]{6}$', 'A colour is written #rrggbb, e.g. #1f7a6d.')])),
                ('bookable_online', models.BooleanField(default=True)),
                ('active', models.BooleanField(default=True)),
            ],
            options={
                'ordering': ['name', 'id'],
            },
        ),
        migrations.CreateModel(
            name='HistoricalAppointmentType',
            fields=[
                ('id', models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name='ID')),
                ('name', models.CharField(db_index=True, max_length=100)),
                ('duration_minutes', models.PositiveSmallIntegerField(validators=[django.core.validators.MinValueValidator(5), django.core.validators.MaxValueValidator(480)])),
                ('buffer_before_minutes', models.PositiveSmallIntegerField(default=0, validators=[django.core.validators.MaxValueValidator(120)])),
                ('buffer_after_minutes', models.PositiveSmallIntegerField(default=0, validators=[django.core.validators.MaxValueValidator(120)])),
                ('color', models.CharField(default='#1f7a6d', help_text='How the calendar shows it: #rrggbb.', max_length=7, validators=[django.core.validators.RegexValidator('^#[0-9a-fA-F]{6}$', 'A colour is written #rrggbb, e.g. #1f7a6d.')])),
                ('bookable_online', models.BooleanField(default=True)),
                ('active', models.BooleanField(default=True)),
                ('history_id', models.AutoField(primary_key=True, serialize=False)),
                ('history_date', models.DateTimeField(db_index=True)),
                ('history_change_reason', models.CharField(max_length=100, null=True)),
                ('history_type', models.CharField(choices=[('+', 'Created'), ('~', 'Changed'), ('-', 'Deleted')], max_length=1)),
            ],
            options={
                'verbose_name': 'historical appointment type',
                'verbose_name_plural': 'historical appointment types',
                'ordering': ('-history_date', '-history_id'),
                'get_latest_by': ('history_date', 'history_id'),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.RemoveConstraint(
            model_name='appointment',
            name='appointment_doctor_no_overlap',
        ),
        migrations.AddField(
            model_name='appointment',
            name='blocked_from',
            field=models.DateTimeField(editable=False, null=True),
        ),
        migrations.AddField(
            model_name='appointment',
            name='blocked_until',
            field=models.DateTimeField(editable=False, null=True),
        ),
        migrations.AddField(
            model_name='historicalappointment',
            name='blocked_from',
            field=models.DateTimeField(editable=False, null=True),
        ),
        migrations.AddField(
            model_name='historicalappointment',
            name='blocked_until',
            field=models.DateTimeField(editable=False, null=True),
        ),
        migrations.RunPython(fill_blocked_ranges, migrations.RunPython.noop),
        migrations.AlterField(
            model_name='appointment',
            name='blocked_from',
            field=models.DateTimeField(editable=False),
        ),
        migrations.AlterField(
            model_name='appointment',
            name='blocked_until',
            field=models.DateTimeField(editable=False),
        ),
        migrations.AlterField(
            model_name='historicalappointment',
            name='blocked_from',
            field=models.DateTimeField(editable=False),
        ),
        migrations.AlterField(
            model_name='historicalappointment',
            name='blocked_until',
            field=models.DateTimeField(editable=False),
        ),
        migrations.AddConstraint(
            model_name='appointmenttype',
            constraint=models.CheckConstraint(condition=models.Q(('duration_minutes__gte', 5), ('duration_minutes__lte', 480)), name='appointment_type_duration_range'),
        ),
        migrations.AddConstraint(
            model_name='appointmenttype',
            constraint=models.CheckConstraint(condition=models.Q(('buffer_after_minutes__lte', 120), ('buffer_before_minutes__lte', 120)), name='appointment_type_buffers_range'),
        ),
        migrations.AddField(
            model_name='appointment',
            name='appointment_type',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='appointments', to='clinic.appointmenttype'),
        ),
        migrations.AddField(
            model_name='doctor',
            name='appointment_types',
            field=models.ManyToManyField(blank=True, related_name='doctors', to='clinic.appointmenttype'),
        ),
        migrations.AddField(
            model_name='historicalappointment',
            name='appointment_type',
            field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='clinic.appointmenttype'),
        ),
        migrations.AddIndex(
            model_name='appointment',
            index=models.Index(fields=['doctor', 'blocked_from'], name='appt_doctor_blocked_idx'),
        ),
        migrations.AddConstraint(
            model_name='appointment',
            constraint=models.CheckConstraint(condition=models.Q(('blocked_from__lte', models.F('appointment_time')), ('blocked_until__gte', models.F('ends_at'))), name='appointment_blocked_around', violation_error_message="The doctor's blocked time must include the appointment itself."),
        ),
        migrations.AddConstraint(
            model_name='appointment',
            constraint=clinic.models.NoOverlapConstraint(end='blocked_until', field='doctor', name='appointment_doctor_no_overlap', start='blocked_from', violation_error_message='The doctor already has an appointment at that time.'),
        ),
        migrations.AddField(
            model_name='historicalappointmenttype',
            name='history_user',
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.RunPython(_on_postgresql(BLOCKED_BOUNDED), _on_postgresql(BLOCKED_UNBOUNDED)),
        migrations.RunPython(VISIT_LIFECYCLE.CREATE_TRIGGERS, VISIT_LIFECYCLE.DROP_TRIGGERS),
        migrations.RunPython(grant_reception, migrations.RunPython.noop),
    ]
