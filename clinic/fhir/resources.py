"""Plain-dict FHIR resources built from the clinic's rows (faster than pydantic models).

Medical notes never appear: an Appointment carries its time, parties, type, status and the
patient's own `reason` as `comment`, nothing from MedicalRecord.
"""

from __future__ import annotations

from datetime import UTC, datetime

from clinic.models import Appointment

FHIR_VERSION = "4.0.1"
CONTENT_TYPE = "application/fhir+json"
INSURANCE_SYSTEM = "urn:clinic:insurance-number"
TYPE_SYSTEM = "urn:clinic:appointment-type"
SPECIALTY_SYSTEM = "urn:clinic:specialization"

Status = Appointment.Status
STATUS_TO_FHIR = {
    Status.PENDING: "pending",
    Status.CONFIRMED: "booked",
    Status.ARRIVED: "arrived",
    Status.IN_PROGRESS: "checked-in",
    Status.COMPLETED: "fulfilled",
    Status.NO_SHOW: "noshow",
    Status.CANCELLED: "cancelled",
}
FHIR_TO_STATUS = {code: status for status, code in STATUS_TO_FHIR.items()}


def instant(value: datetime) -> str:
    """A FHIR instant: seconds and an offset, in UTC."""
    return value.astimezone(UTC).isoformat(timespec="seconds")


def _name(first: str, last: str) -> list[dict]:
    name: dict = {}
    if last:
        name["family"] = last
    if first:
        name["given"] = [first]
    text = f"{first} {last}".strip()
    if text:
        name["text"] = text
    return [name] if name else []


def patient(row: dict) -> dict:
    """`row`: id, first_name, last_name, email, phone, insurance_number, active, last_updated."""
    resource: dict = {"resourceType": "Patient", "id": str(row["id"])}
    if row.get("last_updated"):
        resource["meta"] = {"lastUpdated": instant(row["last_updated"])}
    if row["insurance_number"]:
        resource["identifier"] = [{"system": INSURANCE_SYSTEM, "value": row["insurance_number"]}]
    resource["active"] = row["active"]
    if names := _name(row["first_name"], row["last_name"]):
        resource["name"] = names
    telecom = []
    if row["email"]:
        telecom.append({"system": "email", "value": row["email"]})
    if row["phone"]:
        telecom.append({"system": "phone", "value": row["phone"]})
    if telecom:
        resource["telecom"] = telecom
    return resource


def practitioner(row: dict) -> dict:
    """`row`: id, first_name, last_name, active."""
    resource: dict = {"resourceType": "Practitioner", "id": str(row["id"]), "active": row["active"]}
    if names := _name(row["first_name"], row["last_name"]):
        resource["name"] = names
    return resource


def _display(first: str, last: str) -> str:
    return f"{first} {last}".strip()


def practitioner_ref(doctor_id: int, first: str = "", last: str = "") -> dict:
    ref = {"reference": f"Practitioner/{doctor_id}"}
    if display := _display(first, last):
        ref["display"] = display
    return ref


def practitioner_role(row: dict) -> dict:
    """One role per doctor, with the doctor's id: their specialization and working hours."""
    days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    return {
        "resourceType": "PractitionerRole",
        "id": str(row["id"]),
        "active": row["active"],
        "practitioner": practitioner_ref(row["id"], row["first_name"], row["last_name"]),
        "specialty": [
            {"coding": [{"system": SPECIALTY_SYSTEM, "code": row["specialization"]}], "text": row["specialization"]}
        ],
        "availableTime": [
            {
                "daysOfWeek": [days[day] for day in sorted(row["working_days"])],
                "availableStartTime": row["available_from"].strftime("%H:%M:%S"),
                "availableEndTime": row["available_to"].strftime("%H:%M:%S"),
            }
        ],
    }


def schedule(row: dict) -> dict:
    """One Schedule per doctor, with the doctor's id."""
    return {
        "resourceType": "Schedule",
        "id": str(row["id"]),
        "active": row["active"],
        "serviceType": [{"text": row["specialization"]}],
        "actor": [practitioner_ref(row["id"], row["first_name"], row["last_name"])],
        "comment": f"Visits of {row['slot_minutes']} minutes on the doctor's grid.",
    }


def slot_id(doctor_id: int, start: datetime) -> str:
    return f"{doctor_id}-{start.astimezone(UTC):%Y%m%d%H%M}"


def slot(doctor_id: int, start: datetime, end: datetime) -> dict:
    return {
        "resourceType": "Slot",
        "id": slot_id(doctor_id, start),
        "schedule": {"reference": f"Schedule/{doctor_id}"},
        "status": "free",
        "start": instant(start),
        "end": instant(end),
    }


def appointment_type(type_id: int | None, name: str | None) -> dict | None:
    if type_id is None:
        return None
    return {"coding": [{"system": TYPE_SYSTEM, "code": str(type_id), "display": name}], "text": name}


def appointment(row: dict) -> dict:
    """`row`: the columns of `APPOINTMENT_COLUMNS` (views.py). Always a start and an end."""
    status = STATUS_TO_FHIR[row["status"]]
    resource: dict = {
        "resourceType": "Appointment",
        "id": str(row["id"]),
        "meta": {"lastUpdated": instant(row["updated_at"])},
        "status": status,
    }
    if kind := appointment_type(row["appointment_type_id"], row["appointment_type__name"]):
        resource["appointmentType"] = kind
    resource["start"] = instant(row["appointment_time"])
    resource["end"] = instant(row["ends_at"])
    resource["minutesDuration"] = int((row["ends_at"] - row["appointment_time"]).total_seconds() // 60)
    resource["created"] = instant(row["created_at"])
    if row["reason"]:
        resource["comment"] = row["reason"]
    party = "declined" if status == "cancelled" else "accepted"
    patient_ref = {"reference": f"Patient/{row['patient_id']}"}
    if display := _display(row["patient__user__first_name"], row["patient__user__last_name"]):
        patient_ref["display"] = display
    resource["participant"] = [
        {"actor": patient_ref, "required": "required", "status": party},
        {
            "actor": practitioner_ref(
                row["doctor_id"], row["doctor__user__first_name"], row["doctor__user__last_name"]
            ),
            "required": "required",
            "status": "needs-action" if status == "pending" else party,
        },
    ]
    return resource


def proposed_appointment(doctor: dict, start: datetime, end: datetime, *, type_id=None, type_name=None) -> dict:
    """A free slot offered by $find: status `proposed`, the practitioner and the slot."""
    resource: dict = {"resourceType": "Appointment", "status": "proposed"}
    if kind := appointment_type(type_id, type_name):
        resource["appointmentType"] = kind
    resource.update(
        {
            "start": instant(start),
            "end": instant(end),
            "minutesDuration": int((end - start).total_seconds() // 60),
            "slot": [{"reference": f"Slot/{slot_id(doctor['id'], start)}"}],
            "participant": [
                {
                    "actor": practitioner_ref(doctor["id"], doctor["first_name"], doctor["last_name"]),
                    "required": "required",
                    "status": "needs-action",
                }
            ],
        }
    )
    return resource


ISSUE_CODES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    409: "conflict",
    413: "too-long",
    415: "not-supported",
    422: "processing",
    429: "throttled",
    500: "exception",
}


def operation_outcome(status: int, text: str, *, expression: list[str] | None = None) -> dict:
    issue: dict = {
        "severity": "error" if status < 500 else "fatal",
        "code": ISSUE_CODES.get(status, "processing"),
        "diagnostics": text,
    }
    if expression:
        issue["expression"] = expression
    return {"resourceType": "OperationOutcome", "issue": [issue]}
