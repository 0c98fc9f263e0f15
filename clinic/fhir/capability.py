"""The CapabilityStatement of /fhir/metadata: exactly what the views support."""

from __future__ import annotations

from clinic.fhir.resources import CONTENT_TYPE, FHIR_VERSION

READ_SEARCH = [{"code": "read"}, {"code": "search-type"}]
COMMON = [("_count", "number", "Rows a page, 1 to 1000 (default 50)."), ("_page", "number", "Page, from 1.")]
SEARCH_PARAMS: dict[str, list[tuple[str, str, str]]] = {
    "Patient": [
        ("_id", "token", "Patient id."),
        ("identifier", "token", "Insurance number (system urn:clinic:insurance-number)."),
        ("family", "string", "Family name, from its start, any case."),
        ("given", "string", "Given name, from its start, any case."),
        ("name", "string", "Given or family name, from its start, any case."),
        ("email", "token", "Email, exact, any case."),
        ("phone", "token", "Phone, exact."),
        ("_lastUpdated", "date", "Last change (ge, gt, le, lt, eq)."),
    ],
    "Practitioner": [
        ("_id", "token", "Practitioner (doctor) id."),
        ("name", "string", "Given or family name, from its start, any case."),
        ("family", "string", "Family name, from its start, any case."),
        ("given", "string", "Given name, from its start, any case."),
    ],
    "PractitionerRole": [
        ("_id", "token", "Role id (one per doctor, the doctor's id)."),
        ("practitioner", "reference", "Practitioner/<id>."),
        ("specialty", "token", "Specialization, exact, any case."),
    ],
    "Schedule": [
        ("_id", "token", "Schedule id (one per doctor, the doctor's id)."),
        ("actor", "reference", "Practitioner/<id>."),
    ],
    "Slot": [
        ("schedule", "reference", "Schedule/<id> (required)."),
        ("start", "date", "ge and lt; at most 31 days; default the next 7 days."),
        ("status", "token", "free (only free slots are published)."),
    ],
    "Appointment": [
        ("_id", "token", "Appointment id."),
        ("patient", "reference", "Patient/<id>."),
        ("practitioner", "reference", "Practitioner/<id>."),
        ("actor", "reference", "Patient/<id> or Practitioner/<id>."),
        ("date", "date", "Start (ge, gt, le, lt, eq); a day is a clinic-local day."),
        ("status", "token", "pending, booked, arrived, checked-in, fulfilled, noshow, cancelled."),
        ("_lastUpdated", "date", "Last change (ge, gt, le, lt, eq)."),
    ],
}
OPERATIONS = [
    ("find", "https://profiles.ihe.net/ITI/SCHED/OperationDefinition/appointment-find"),
    ("book", "https://profiles.ihe.net/ITI/SCHED/OperationDefinition/appointment-book"),
]


def capability_statement(base: str) -> dict:
    resources = []
    for kind, params in SEARCH_PARAMS.items():
        resource: dict = {
            "type": kind,
            "interaction": READ_SEARCH,
            "searchParam": [
                {"name": name, "type": type_, "documentation": text} for name, type_, text in (*params, *COMMON)
            ],
        }
        if kind == "Appointment":
            resource["searchInclude"] = ["Appointment:patient", "Appointment:practitioner"]
            resource["operation"] = [{"name": name, "definition": url} for name, url in OPERATIONS]
        resources.append(resource)
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-12-02",
        "kind": "instance",
        "software": {"name": "Clinic"},
        "implementation": {"description": "The clinic's FHIR R4 facade", "url": base},
        "fhirVersion": FHIR_VERSION,
        "format": [CONTENT_TYPE, "json"],
        "rest": [
            {
                "mode": "server",
                "security": {
                    "service": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                    "code": "OAuth",
                                }
                            ]
                        }
                    ],
                    "description": "Authorization: Bearer <access token from /api/token/>, or a session.",
                },
                "resource": resources,
            }
        ],
    }
