"""Series of visits: a course at the same wall-clock time, its appointments, and the email that
lists them all. On SQLite the record triggers of migration 0002 are dropped around the table
changes and made again (as in 0008)."""

import django.core.validators
import django.db.models.deletion
from django.conf import settings

import importlib

from django.db import migrations, models


VISIT_LIFECYCLE = importlib.import_module("clinic.migrations.0008_visit_lifecycle")


class Migration(migrations.Migration):

    dependencies = [
        ('clinic', '0009_appointment_types_blocked_range'),
    ]

    operations = [
        migrations.RunPython(VISIT_LIFECYCLE.DROP_TRIGGERS, VISIT_LIFECYCLE.CREATE_TRIGGERS),
        migrations.CreateModel(
            name='AppointmentSeries',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('every_weeks', models.PositiveSmallIntegerField(validators=[django.core.validators.MinValueValidator(1), django.core.validators.MaxValueValidator(4)])),
                ('count', models.PositiveSmallIntegerField(validators=[django.core.validators.MinValueValidator(2), django.core.validators.MaxValueValidator(26)])),
                ('created_at', models.DateTimeField(auto_now_add=True)),
            ],
            options={
                'verbose_name_plural': 'appointment series',
                'ordering': ['-id'],
            },
        ),
        migrations.RemoveConstraint(
            model_name='emailoutbox',
            name='outbox_kind_valid',
        ),
        migrations.AlterField(
            model_name='emailoutbox',
            name='kind',
            field=models.CharField(choices=[('booked', 'Request received'), ('confirmed', 'Confirmed'), ('rescheduled', 'Rescheduled'), ('cancelled', 'Cancelled'), ('reminder', 'Reminder'), ('series', 'Series booked')], max_length=16),
        ),
        migrations.AddConstraint(
            model_name='emailoutbox',
            constraint=models.CheckConstraint(condition=models.Q(('kind__in', ['booked', 'confirmed', 'rescheduled', 'cancelled', 'reminder', 'series'])), name='outbox_kind_valid'),
        ),
        migrations.AddField(
            model_name='appointmentseries',
            name='appointment_type',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='series', to='clinic.appointmenttype'),
        ),
        migrations.AddField(
            model_name='appointmentseries',
            name='created_by',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='appointmentseries',
            name='doctor',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='series', to='clinic.doctor'),
        ),
        migrations.AddField(
            model_name='appointmentseries',
            name='patient',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='series', to='clinic.patient'),
        ),
        migrations.AddField(
            model_name='appointment',
            name='series',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='appointments', to='clinic.appointmentseries'),
        ),
        migrations.AddField(
            model_name='historicalappointment',
            name='series',
            field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='clinic.appointmentseries'),
        ),
        migrations.AddConstraint(
            model_name='appointmentseries',
            constraint=models.CheckConstraint(condition=models.Q(('every_weeks__gte', 1), ('every_weeks__lte', 4)), name='series_every_weeks_range'),
        ),
        migrations.AddConstraint(
            model_name='appointmentseries',
            constraint=models.CheckConstraint(condition=models.Q(('count__gte', 2), ('count__lte', 26)), name='series_count_range'),
        ),
        migrations.RunPython(VISIT_LIFECYCLE.CREATE_TRIGGERS, VISIT_LIFECYCLE.DROP_TRIGGERS),
    ]
