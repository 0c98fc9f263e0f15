"""No appointment lasts longer than MAX_APPOINTMENT_LENGTH (a day), enforced by PostgreSQL.

`AppointmentQuerySet.overlapping()` reads only the day before a slot, which is right only
while no appointment is longer; the booking rules keep to slots of at most 480 minutes,
and this check keeps any other writer to it. On SQLite a CHECK would need Django's own
date function (a rebuilt table would also lose the triggers of migration 0002), so the
development database relies on the booking rules alone.
"""

from django.db import migrations

FORWARD = (
    "ALTER TABLE clinic_appointment ADD CONSTRAINT appointment_length_bounded "
    "CHECK (ends_at <= appointment_time + interval '1 day')"
)
BACKWARD = "ALTER TABLE clinic_appointment DROP CONSTRAINT IF EXISTS appointment_length_bounded"


def _on_postgresql(statement):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [("clinic", "0005_search_indexes")]

    operations = [migrations.RunPython(_on_postgresql(FORWARD), _on_postgresql(BACKWARD))]
