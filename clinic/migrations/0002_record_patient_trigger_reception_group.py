"""A medical record's patient is its appointment's patient, enforced by the database;
and the "Reception" group with the permissions of the front desk."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

SQLITE_FORWARD = [
    """
    CREATE TRIGGER clinic_record_patient_matches_insert
    BEFORE INSERT ON clinic_medicalrecord FOR EACH ROW
    WHEN NEW.patient_id IS NOT (SELECT patient_id FROM clinic_appointment WHERE id = NEW.appointment_id)
    BEGIN SELECT RAISE(ABORT, 'record_patient_mismatch: medical record patient must match appointment patient'); END
    """,
    """
    CREATE TRIGGER clinic_record_patient_matches_update
    BEFORE UPDATE OF patient_id, appointment_id ON clinic_medicalrecord FOR EACH ROW
    WHEN NEW.patient_id IS NOT (SELECT patient_id FROM clinic_appointment WHERE id = NEW.appointment_id)
    BEGIN SELECT RAISE(ABORT, 'record_patient_mismatch: medical record patient must match appointment patient'); END
    """,
    """
    CREATE TRIGGER clinic_appointment_patient_keeps_records
    BEFORE UPDATE OF patient_id ON clinic_appointment FOR EACH ROW
    WHEN EXISTS (SELECT 1 FROM clinic_medicalrecord WHERE appointment_id = NEW.id AND patient_id != NEW.patient_id)
    BEGIN SELECT RAISE(ABORT, 'record_patient_mismatch: appointment has medical records of another patient'); END
    """,
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS clinic_record_patient_matches_insert",
    "DROP TRIGGER IF EXISTS clinic_record_patient_matches_update",
    "DROP TRIGGER IF EXISTS clinic_appointment_patient_keeps_records",
]

POSTGRES_FORWARD = [
    """
    CREATE FUNCTION clinic_record_patient_matches() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.patient_id IS DISTINCT FROM (SELECT patient_id FROM clinic_appointment WHERE id = NEW.appointment_id) THEN
            RAISE EXCEPTION 'record_patient_mismatch: medical record patient must match appointment patient'
                USING ERRCODE = 'check_violation';
        END IF;
        RETURN NEW;
    END $$
    """,
    """
    CREATE TRIGGER clinic_record_patient_matches
    BEFORE INSERT OR UPDATE OF patient_id, appointment_id ON clinic_medicalrecord
    FOR EACH ROW EXECUTE FUNCTION clinic_record_patient_matches()
    """,
    """
    CREATE FUNCTION clinic_appointment_patient_keeps_records() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF EXISTS (SELECT 1 FROM clinic_medicalrecord WHERE appointment_id = NEW.id AND patient_id <> NEW.patient_id) THEN
            RAISE EXCEPTION 'record_patient_mismatch: appointment has medical records of another patient'
                USING ERRCODE = 'check_violation';
        END IF;
        RETURN NEW;
    END $$
    """,
    """
    CREATE TRIGGER clinic_appointment_patient_keeps_records
    BEFORE UPDATE OF patient_id ON clinic_appointment
    FOR EACH ROW EXECUTE FUNCTION clinic_appointment_patient_keeps_records()
    """,
]
POSTGRES_BACKWARD = [
    "DROP TRIGGER IF EXISTS clinic_appointment_patient_keeps_records ON clinic_appointment",
    "DROP FUNCTION IF EXISTS clinic_appointment_patient_keeps_records()",
    "DROP TRIGGER IF EXISTS clinic_record_patient_matches ON clinic_medicalrecord",
    "DROP FUNCTION IF EXISTS clinic_record_patient_matches()",
]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        for statement in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(statement)

    return run


# What the front desk may do: everything on patients, doctors, time off and
# appointments, and create the users behind them. Nothing on medical records.
RECEPTION_MODELS = {
    "clinic": ["user", "patient", "doctor", "timeoff", "appointment"],
}
RECEPTION_VIEW_ONLY = {
    "clinic": ["historicalpatient", "historicaldoctor", "historicalappointment"],
}


def create_reception_group(apps, schema_editor):
    app_config = apps.get_app_config("clinic")
    if getattr(app_config, "models_module", None) is None:  # migration state: no models module yet
        app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name="Reception")
    codenames = [
        f"{action}_{model}"
        for models in RECEPTION_MODELS.values()
        for model in models
        for action in ("view", "add", "change", "delete")
    ] + [f"view_{model}" for models in RECEPTION_VIEW_ONLY.values() for model in models]
    group.permissions.set(Permission.objects.filter(content_type__app_label="clinic", codename__in=codenames))


def remove_reception_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name="Reception").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("clinic", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.RunPython(
            _run({"sqlite": SQLITE_FORWARD, "postgresql": POSTGRES_FORWARD}),
            _run({"sqlite": SQLITE_BACKWARD, "postgresql": POSTGRES_BACKWARD}),
        ),
        migrations.RunPython(create_reception_group, remove_reception_group),
    ]
