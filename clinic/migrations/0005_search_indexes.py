"""Indexes for the staff search on PostgreSQL (clinic/admin.py, `names_matching`).

The admin searches people by the start of a name, username or email, case-insensitively,
which Django writes as `UPPER(column::text) LIKE UPPER('word%')`, and by an exact
insurance number or phone. Pattern-operator indexes on the upper-cased columns make each
of these an index range scan: a search stays a few milliseconds at 100,000 patients
instead of a read of every user. SQLite, the development database, scans its few rows.
"""

from django.db import migrations

USER_PREFIX_COLUMNS = ("last_name", "first_name", "username", "email")

FORWARD = [
    *(
        f"CREATE INDEX IF NOT EXISTS user_{column}_upper_prefix_idx "
        f"ON clinic_user (UPPER({column}::text) text_pattern_ops)"
        for column in USER_PREFIX_COLUMNS
    ),
    "CREATE INDEX IF NOT EXISTS patient_insurance_upper_idx ON clinic_patient (UPPER(insurance_number::text))",
    "CREATE INDEX IF NOT EXISTS patient_phone_idx ON clinic_patient (phone)",
]
BACKWARD = [
    *(f"DROP INDEX IF EXISTS user_{column}_upper_prefix_idx" for column in USER_PREFIX_COLUMNS),
    "DROP INDEX IF EXISTS patient_insurance_upper_idx",
    "DROP INDEX IF EXISTS patient_phone_idx",
]


def _on_postgresql(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for statement in statements:
                schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [("clinic", "0004_record_access")]

    operations = [migrations.RunPython(_on_postgresql(FORWARD), _on_postgresql(BACKWARD))]
