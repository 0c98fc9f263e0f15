"""Request and response shapes of the JSON API.

Read shapes are explicit; write shapes only parse input. Saving is never done
here: the views hand the validated data to the services in `clinic.booking`,
`clinic.records` and `clinic.accounts`. Related objects are looked up through
`clinic.access`, so an id the user may not see is refused as if it did not exist.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from clinic import access
from clinic.booking import TYPE_FIELDS
from clinic.models import (
    ACCOUNT_FIELDS,
    COLOR_INVALID,
    MAX_BUFFER_MINUTES,
    MAX_DURATION_MINUTES,
    MAX_SERIES_COUNT,
    MAX_SERIES_EVERY_WEEKS,
    MIN_DURATION_MINUTES,
    MIN_SERIES_COUNT,
    Appointment,
    AppointmentSeries,
    AppointmentType,
    Doctor,
    MedicalRecord,
    Patient,
    WaitlistEntry,
)

PATIENT_REQUIRED = "Staff must say which patient the appointment is for."
WAITLIST_PATIENT_REQUIRED = "Staff must say which patient the entry is for."


def patient_or_own(attrs: dict, user, required: str) -> dict:
    """Staff name the patient (`required` says so when they do not); a patient who names none
    acts for themselves. Whether the actor may act for that patient is the service's to check."""
    if attrs.get("patient") is None:
        own = access.patient_of(user) if access.role_of(user) is access.Role.PATIENT else None
        if own is None:
            raise serializers.ValidationError({"patient": [required]})
        attrs["patient"] = own
    return attrs


class ErrorSerializer(serializers.Serializer):
    """`{"detail": "..."}`; booking refusals add a machine-readable `code`."""

    detail = serializers.CharField()
    code = serializers.CharField(required=False)


@extend_schema_field(OpenApiTypes.INT)
class VisibleRelatedField(serializers.PrimaryKeyRelatedField):
    """A primary key resolved against an `access` selector (named, looked up per request) for the user."""

    def __init__(self, *, selector: str, model, **kwargs) -> None:
        self.selector = selector
        self.model = model
        super().__init__(**kwargs)

    def get_queryset(self):
        request = self.context.get("request")
        if request is None:
            return self.model.objects.none()
        return getattr(access, self.selector)(request.user)

    def to_internal_value(self, data):
        # A float is an id only if it is a whole number: JSON's 1e400 is infinity (no int
        # holds it) and 2.5 would otherwise quietly become 2.
        if isinstance(data, float) and not data.is_integer():
            self.fail("incorrect_type", data_type=type(data).__name__)
        return super().to_internal_value(data)


@extend_schema_field(
    {
        "type": "string",
        "pattern": r"^\d{2}:\d{2}(:\d{2})?$",
        "example": "09:00",
        "description": "A time of day in the clinic's time zone, HH:MM.",
    }
)
class ClockTimeField(serializers.TimeField):
    """A wall-clock time of day in the clinic's zone: no offset, shown as HH:MM."""

    def __init__(self, **kwargs) -> None:
        super().__init__(format="%H:%M", **kwargs)


# --- Accounts: the user fields a patient or doctor shows and takes ---------------------


class AccountFields(serializers.Serializer):
    user_id = serializers.IntegerField(read_only=True)
    username = serializers.CharField(source="user.username", read_only=True)
    email = serializers.EmailField(source="user.email", read_only=True)
    first_name = serializers.CharField(source="user.first_name", read_only=True)
    last_name = serializers.CharField(source="user.last_name", read_only=True)


class AccountWriteFields(serializers.Serializer):
    username = serializers.CharField(max_length=150, required=False)
    email = serializers.EmailField(max_length=254, required=False)
    password = serializers.CharField(
        write_only=True, max_length=128, required=False, help_text="Only the clinic admin sets another user's password."
    )
    first_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=150, required=False, allow_blank=True)


# --- Patients ----------------------------------------------------------------------


class PatientSerializer(AccountFields, serializers.ModelSerializer):
    class Meta:
        model = Patient
        fields = ["id", "user_id", *ACCOUNT_FIELDS, *Patient.PROFILE_FIELDS, "created_at"]
        read_only_fields = fields


class RegistrationSerializer(serializers.Serializer):
    """A new patient account; the password goes through Django's validators."""

    username = serializers.CharField(max_length=150)
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(write_only=True, max_length=128, style={"input_type": "password"})
    first_name = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")
    last_name = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")
    phone = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")
    insurance_number = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")


class PatientWriteSerializer(AccountWriteFields):
    """Changes to a patient; which fields a user may send is decided by `access`."""

    phone = serializers.CharField(max_length=32, required=False, allow_blank=True)
    insurance_number = serializers.CharField(max_length=64, required=False, allow_blank=True)


# --- Doctors -----------------------------------------------------------------------


class DoctorSerializer(AccountFields, serializers.ModelSerializer):
    available_from = ClockTimeField(read_only=True)
    available_to = ClockTimeField(read_only=True)
    working_days = serializers.ListField(child=serializers.IntegerField(min_value=0, max_value=6), read_only=True)

    class Meta:
        model = Doctor
        fields = ["id", "user_id", *ACCOUNT_FIELDS, *Doctor.PROFILE_FIELDS]
        read_only_fields = fields


class DoctorWriteSerializer(AccountWriteFields):
    """A new doctor (staff) or changes to one; `access` decides which fields a user may send."""

    specialization = serializers.CharField(max_length=100, required=False)
    available_from = ClockTimeField(required=False)
    available_to = ClockTimeField(required=False)
    slot_minutes = serializers.IntegerField(min_value=5, max_value=480, required=False)
    working_days = serializers.ListField(
        child=serializers.IntegerField(min_value=0, max_value=6), max_length=7, required=False
    )


class DoctorCreateSerializer(DoctorWriteSerializer):
    """A new doctor. A `password` only from the clinic admin: otherwise the new user is emailed
    a link to set their own."""

    username = serializers.CharField(max_length=150)
    email = serializers.EmailField(max_length=254)
    specialization = serializers.CharField(max_length=100)


class PatientCreateSerializer(PatientWriteSerializer):
    """A new patient. A `password` only from the clinic admin: otherwise the new user is emailed
    a link to set their own."""

    username = serializers.CharField(max_length=150)
    email = serializers.EmailField(max_length=254)


class SlotsSerializer(serializers.Serializer):
    doctor = serializers.IntegerField()
    date = serializers.DateField()
    slots = serializers.ListField(child=serializers.DateTimeField())


class SlotsQuerySerializer(serializers.Serializer):
    date = serializers.DateField(help_text="The clinic-local day, YYYY-MM-DD.")
    type = VisibleRelatedField(
        selector="appointment_types_visible_to",
        model=AppointmentType,
        required=False,
        help_text="A visit type the doctor offers: the free starts for a visit of that length and buffers.",
    )


# --- Appointments ------------------------------------------------------------------


class AppointmentSerializer(serializers.ModelSerializer):
    patient = serializers.IntegerField(source="patient_id", read_only=True)
    doctor = serializers.IntegerField(source="doctor_id", read_only=True)
    appointment_type = serializers.IntegerField(source="appointment_type_id", read_only=True, allow_null=True)
    series = serializers.IntegerField(source="series_id", read_only=True, allow_null=True)

    class Meta:
        model = Appointment
        fields = [
            "id",
            "patient",
            "doctor",
            "appointment_time",
            "ends_at",
            "status",
            "reason",
            "appointment_type",
            "series",
            "arrived_at",
            "started_at",
            "completed_at",
            "created_at",
        ]
        read_only_fields = fields


class AppointmentBookSerializer(serializers.Serializer):
    """A booking: `patient` is the signed-in patient unless staff name one."""

    doctor = VisibleRelatedField(selector="doctors_visible_to", model=Doctor)
    appointment_time = serializers.DateTimeField()
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    patient = VisibleRelatedField(
        selector="patients_visible_to",
        model=Patient,
        required=False,
        help_text="Required when staff book; a patient books for themselves.",
    )
    appointment_type = VisibleRelatedField(
        selector="appointment_types_visible_to",
        model=AppointmentType,
        allow_null=True,
        default=None,
        help_text="A visit type the doctor offers; without one, a slot of the doctor's length.",
    )

    def validate(self, attrs: dict) -> dict:
        return patient_or_own(attrs, self.context["request"].user, PATIENT_REQUIRED)


class AppointmentChangeSerializer(serializers.Serializer):
    """An edit: a new time or doctor reschedules, a new status confirms or cancels."""

    doctor = VisibleRelatedField(selector="doctors_visible_to", model=Doctor)
    appointment_time = serializers.DateTimeField()
    patient = VisibleRelatedField(selector="patients_visible_to", model=Patient, required=False)
    status = serializers.ChoiceField(choices=Appointment.Status.choices, required=False)
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True)


# --- Series of visits ----------------------------------------------------------------


class AppointmentSeriesCreateSerializer(serializers.Serializer):
    """A course of visits: the first at `appointment_time`, then every `every_weeks` weeks at
    the same clinic wall-clock time, `count` in all."""

    patient = VisibleRelatedField(selector="patients_visible_to", model=Patient)
    doctor = VisibleRelatedField(selector="doctors_visible_to", model=Doctor)
    appointment_time = serializers.DateTimeField()
    appointment_type = VisibleRelatedField(
        selector="appointment_types_visible_to", model=AppointmentType, allow_null=True, default=None
    )
    every_weeks = serializers.IntegerField(min_value=1, max_value=MAX_SERIES_EVERY_WEEKS)
    count = serializers.IntegerField(min_value=MIN_SERIES_COUNT, max_value=MAX_SERIES_COUNT)
    skip_conflicts = serializers.BooleanField(
        default=False, help_text="Book the visits that can be booked and list the others, rather than none."
    )
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class AppointmentSeriesSerializer(serializers.ModelSerializer):
    patient = serializers.IntegerField(source="patient_id", read_only=True)
    doctor = serializers.IntegerField(source="doctor_id", read_only=True)
    appointment_type = serializers.IntegerField(source="appointment_type_id", read_only=True, allow_null=True)
    appointments = serializers.SerializerMethodField(help_text="The ids of its visits, in time order.")

    class Meta:
        model = AppointmentSeries
        fields = ["id", "patient", "doctor", "appointment_type", "every_weeks", "count", "appointments", "created_at"]
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.IntegerField()))
    def get_appointments(self, series: AppointmentSeries) -> list[int]:
        return [appointment.pk for appointment in series.appointments.order_by("appointment_time", "id")]


class AppointmentSeriesBookedSerializer(AppointmentSeriesSerializer):
    skipped = serializers.ListField(
        child=serializers.DateTimeField(), read_only=True, help_text="The starts not booked (skip_conflicts)."
    )

    class Meta(AppointmentSeriesSerializer.Meta):
        fields = [*AppointmentSeriesSerializer.Meta.fields, "skipped"]
        read_only_fields = fields


class SeriesConflictSerializer(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.CharField()
    conflicts = serializers.ListField(child=serializers.DateTimeField())


class SeriesCancelSerializer(serializers.Serializer):
    # `from` is a Python keyword: the field is declared under another name and renamed below.
    from_ = VisibleRelatedField(
        selector="appointments_visible_to",
        model=Appointment,
        help_text="The visit of the series to cancel from: it and the later ones are cancelled.",
    )

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = fields.pop("from_")
        return fields


class SeriesCancelledSerializer(serializers.Serializer):
    cancelled = serializers.ListField(child=serializers.IntegerField())


# --- Visit types --------------------------------------------------------------------


class AppointmentTypeSerializer(serializers.ModelSerializer):
    doctors = serializers.SerializerMethodField(help_text="The ids of the doctors who offer it.")

    class Meta:
        model = AppointmentType
        fields = ["id", "name", *TYPE_FIELDS[1:], "doctors"]
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.IntegerField()))
    def get_doctors(self, appointment_type: AppointmentType) -> list[int]:
        return sorted(doctor.pk for doctor in appointment_type.doctors.all())


class AppointmentTypeWriteSerializer(serializers.Serializer):
    """A new visit type or changes to one; the rules (ranges, unique name) are the model's."""

    name = serializers.CharField(max_length=100)
    duration_minutes = serializers.IntegerField(min_value=MIN_DURATION_MINUTES, max_value=MAX_DURATION_MINUTES)
    buffer_before_minutes = serializers.IntegerField(min_value=0, max_value=MAX_BUFFER_MINUTES, required=False)
    buffer_after_minutes = serializers.IntegerField(min_value=0, max_value=MAX_BUFFER_MINUTES, required=False)
    color = serializers.RegexField(r"^#[0-9a-fA-F]{6}$", required=False, error_messages={"invalid": COLOR_INVALID})
    bookable_online = serializers.BooleanField(required=False)
    active = serializers.BooleanField(required=False)
    doctors = VisibleRelatedField(selector="doctors_visible_to", model=Doctor, many=True, required=False)


# --- Medical records ---------------------------------------------------------------


class MedicalRecordSerializer(serializers.ModelSerializer):
    patient = serializers.IntegerField(source="patient_id", read_only=True)
    appointment = serializers.IntegerField(source="appointment_id", read_only=True)
    author = serializers.IntegerField(source="author_id", read_only=True, help_text="The user id of the doctor.")

    class Meta:
        model = MedicalRecord
        fields = ["id", "patient", "appointment", "notes", "author", "created_at", "updated_at"]
        read_only_fields = fields


class MedicalRecordWriteSerializer(serializers.Serializer):
    """The author is always the signed-in user; the patient is the appointment's."""

    appointment = VisibleRelatedField(selector="appointments_visible_to", model=Appointment)
    notes = serializers.CharField()
    patient = VisibleRelatedField(
        selector="patients_visible_to",
        model=Patient,
        required=False,
        help_text="Optional; must be the appointment's patient.",
    )


# --- Waitlist -------------------------------------------------------------------------


class WaitlistEntrySerializer(serializers.ModelSerializer):
    patient = serializers.IntegerField(source="patient_id", read_only=True)
    doctor = serializers.IntegerField(source="doctor_id", read_only=True, allow_null=True)
    appointment_type = serializers.IntegerField(source="appointment_type_id", read_only=True, allow_null=True)

    class Meta:
        model = WaitlistEntry
        fields = [
            "id",
            "patient",
            "doctor",
            "specialization",
            "appointment_type",
            "date_from",
            "date_to",
            "part_of_day",
            "status",
            "created_at",
        ]
        read_only_fields = fields


class WaitlistJoinSerializer(serializers.Serializer):
    """Join: `doctor` or `specialization`, a range of clinic-local days, optionally a visit type
    and a part of the day; staff also say for which `patient`."""

    patient = VisibleRelatedField(
        selector="patients_visible_to", model=Patient, required=False, help_text="Staff: whom the entry is for."
    )
    doctor = VisibleRelatedField(selector="doctors_visible_to", model=Doctor, required=False, allow_null=True)
    specialization = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    appointment_type = VisibleRelatedField(
        selector="appointment_types_visible_to", model=AppointmentType, required=False, allow_null=True
    )
    date_from = serializers.DateField()
    date_to = serializers.DateField()
    part_of_day = serializers.ChoiceField(choices=WaitlistEntry.PartOfDay.choices, default="any")

    def validate(self, attrs: dict) -> dict:
        return patient_or_own(attrs, self.context["request"].user, WAITLIST_PATIENT_REQUIRED)
