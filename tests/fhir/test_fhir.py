"""The FHIR facade: every answer validates with fhir.resources' R4B models, searches return the JSON
API's rows, the access matrix holds, $find → $book books through the booking service."""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import quote

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from clinic.fhir import resources
from clinic.models import Appointment
from tests import factories
from tests.fhir.conftest import ids_of, parse

ROLES = ("patient_a", "patient_b", "doctor_x", "doctor_y", "reception", "admin")
BASIC = ("/fhir/Patient", "/fhir/Practitioner", "/fhir/PractitionerRole", "/fhir/Schedule", "/fhir/Appointment")


def json_ids(client, url: str) -> list[int]:
    response = client.get(url + ("&" if "?" in url else "?") + "page_size=200")
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def test_metadata_lists_what_is_supported(world):
    body = parse(world.client("anonymous").get("/fhir/metadata"))
    assert body["fhirVersion"] == "4.0.1"
    kinds = {r["type"]: r for r in body["rest"][0]["resource"]}
    assert set(kinds) == {"Patient", "Practitioner", "PractitionerRole", "Schedule", "Slot", "Appointment"}
    assert {op["name"] for op in kinds["Appointment"]["operation"]} == {"find", "book"}
    assert {p["name"] for p in kinds["Patient"]["searchParam"]} >= {"_id", "identifier", "family", "_lastUpdated"}
    assert kinds["Appointment"]["searchInclude"] == ["Appointment:patient", "Appointment:practitioner"]


@pytest.mark.parametrize("role", ROLES)
def test_every_search_and_read_validates(world, role):
    client = world.client(role)
    for url in BASIC:
        bundle = parse(client.get(url))
        for entry in bundle["entry"]:
            read = parse(client.get(f"/fhir/{entry['resource']['resourceType']}/{entry['resource']['id']}"))
            assert read == entry["resource"]
    parse(client.get(f"/fhir/Slot?schedule=Schedule/{world.doctor_x.pk}"))


def test_appointment_maps_status_times_type_and_never_notes(world):
    kind = factories.AppointmentTypeFactory(name="Long visit", duration_minutes=60, doctors=[world.doctor_x])
    world.appt_a.appointment_type = kind
    world.appt_a.save()
    client = world.client("admin")
    for internal, code in resources.STATUS_TO_FHIR.items():
        Appointment.objects.filter(pk=world.appt_a.pk).update(status=internal)
        body = parse(client.get(f"/fhir/Appointment/{world.appt_a.pk}"))
        assert body["status"] == code
        assert body["start"] and body["end"]
    assert body["appointmentType"]["coding"][0]["code"] == str(kind.pk)
    assert body["comment"] == "Check-up"
    assert "Feeling better" not in json.dumps(body)
    refs = {p["actor"]["reference"] for p in body["participant"]}
    assert refs == {f"Patient/{world.patient_a.pk}", f"Practitioner/{world.doctor_x.pk}"}


# --- Same rows as the JSON API ----------------------------------------------------------


@pytest.fixture
def many(world, next_monday_10):
    """More appointments of both doctors, on several days and in several statuses."""
    statuses = list(Appointment.Status)
    for n in range(14):
        factories.AppointmentFactory(
            patient=world.patient_a if n % 2 else world.patient_b,
            doctor=world.doctor_x if n % 3 else world.doctor_y,
            appointment_time=next_monday_10 + timedelta(days=n // 4, hours=n % 4 + 1),
            status=statuses[n % len(statuses)],
        )
    return world


@pytest.mark.parametrize("role", ROLES)
def test_appointment_searches_return_the_json_apis_rows(many, role):
    w, client = many, many.client(role)
    day = w.day.isoformat()
    later = (w.day + timedelta(days=2)).isoformat()
    cases = [
        ("", ""),
        (f"doctor={w.doctor_x.pk}", f"practitioner=Practitioner/{w.doctor_x.pk}"),
        (f"doctor={w.doctor_y.pk}", f"actor=Practitioner/{w.doctor_y.pk}"),
        (f"patient={w.patient_a.pk}", f"patient=Patient/{w.patient_a.pk}"),
        (f"patient={w.patient_b.pk}", f"actor=Patient/{w.patient_b.pk}"),
        ("status=confirmed", "status=booked"),
        ("status=in_progress", "status=checked-in"),
        ("status=no_show", "status=noshow"),
        (f"date_from={later}", f"date=ge{later}"),
        (f"date_to={day}", f"date=le{day}"),
        (
            f"date_from={day}&date_to={later}&doctor={w.doctor_x.pk}&status=pending",
            f"date=ge{day}&date=le{later}&practitioner={w.doctor_x.pk}&status=pending",
        ),
    ]
    for json_query, fhir_query in cases:
        expected = json_ids(client, f"/appointments/?{json_query}")
        got = ids_of(parse(client.get(f"/fhir/Appointment?{fhir_query}&_count=1000")))
        assert sorted(got) == sorted(expected), (json_query, fhir_query)


@pytest.mark.parametrize("role", ROLES)
def test_patient_and_practitioner_searches_return_the_json_apis_rows(many, role):
    client = many.client(role)
    assert sorted(ids_of(parse(client.get("/fhir/Patient")))) == sorted(json_ids(client, "/patients/"))
    assert sorted(ids_of(parse(client.get("/fhir/Practitioner")))) == sorted(json_ids(client, "/doctors/"))
    roles = ids_of(parse(client.get("/fhir/PractitionerRole?specialty=cardiology")))
    assert roles == json_ids(client, "/doctors/?specialization=Cardiology")


def test_patient_search_parameters(world):
    client, a = world.client("reception"), world.patient_a
    a.user.first_name, a.user.last_name = "Ada", "Lovelace"
    a.user.save()

    def found(query):
        return ids_of(parse(client.get(f"/fhir/Patient?{query}")))

    assert found(f"identifier={a.insurance_number}") == [a.pk]
    assert found(f"identifier={resources.INSURANCE_SYSTEM}|{a.insurance_number}") == [a.pk]
    assert found(f"identifier=urn:other|{a.insurance_number}") == []
    assert found("family=love") == [a.pk]
    assert found("given=ADA") == [a.pk]
    assert found("name=lov") == [a.pk]
    assert found(f"email={a.user.email.upper()}") == [a.pk]
    assert found(f"phone={quote(a.phone)}") == [a.pk]
    assert found(f"_id={world.patient_b.pk}") == [world.patient_b.pk]
    assert sorted(found("_lastUpdated=ge2000-01-01")) == sorted([a.pk, world.patient_b.pk])
    assert found("_lastUpdated=lt2000-01-01") == []


def test_include_adds_the_patients_and_practitioners(world):
    bundle = parse(
        world.client("reception").get(
            "/fhir/Appointment?_include=Appointment:patient&_include=Appointment:practitioner"
        )
    )
    assert sorted(ids_of(bundle, "Patient", "include")) == sorted([world.patient_a.pk, world.patient_b.pk])
    assert sorted(ids_of(bundle, "Practitioner", "include")) == sorted([world.doctor_x.pk, world.doctor_y.pk])


def test_paging_follows_next_links_through_every_row(many):
    client = many.client("reception")
    url, seen = "/fhir/Appointment?_count=4", []
    while url:
        bundle = parse(client.get(url))
        seen += ids_of(bundle)
        nxt = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        url = nxt[0].replace("http://testserver", "") if nxt else None
    assert seen == list(Appointment.objects.order_by("appointment_time", "id").values_list("id", flat=True))


# --- Access ----------------------------------------------------------------------------


@pytest.mark.parametrize("url", [*BASIC, "/fhir/Slot?schedule=Schedule/1", "/fhir/Patient/1"])
def test_anonymous_gets_401_with_www_authenticate(world, url):
    response = world.client("anonymous").get(url)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert parse(response)["resourceType"] == "OperationOutcome"


def test_bearer_tokens_work_as_on_the_json_api(world):
    user = world.patient_a.user
    user.set_password("a long Pass-phrase 42")
    user.save()
    from rest_framework.test import APIClient

    client = APIClient()
    token = client.post("/api/token/", {"username": user.username, "password": "a long Pass-phrase 42"}, format="json")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token.json()['access']}")
    assert ids_of(parse(client.get("/fhir/Patient"))) == [world.patient_a.pk]


@pytest.mark.parametrize(
    ("role", "patients", "appointments"),
    [
        ("patient_a", {"a"}, {"a"}),
        ("patient_b", {"b"}, {"b"}),
        ("doctor_x", {"a"}, {"a"}),
        ("doctor_y", {"b"}, {"b"}),
        ("reception", {"a", "b"}, {"a", "b"}),
        ("admin", {"a", "b"}, {"a", "b"}),
    ],
)
def test_access_matrix(world, role, patients, appointments):
    client = world.client(role)
    patient_ids = {"a": world.patient_a.pk, "b": world.patient_b.pk}
    appointment_ids = {"a": world.appt_a.pk, "b": world.appt_b.pk}
    assert set(ids_of(parse(client.get("/fhir/Patient")))) == {patient_ids[k] for k in patients}
    assert set(ids_of(parse(client.get("/fhir/Appointment")))) == {appointment_ids[k] for k in appointments}
    for key, pk in patient_ids.items():
        assert client.get(f"/fhir/Patient/{pk}").status_code == (200 if key in patients else 404)
    for key, pk in appointment_ids.items():
        response = client.get(f"/fhir/Appointment/{pk}")
        assert response.status_code == (200 if key in appointments else 404)
        parse(response)
    # Searching for someone else's rows finds nothing rather than leaking them.
    other = ({"a", "b"} - appointments).pop() if appointments != {"a", "b"} else None
    if other:
        assert ids_of(parse(client.get(f"/fhir/Appointment?patient={patient_ids[other]}"))) == []
        included = parse(client.get(f"/fhir/Appointment?_id={appointment_ids[other]}&_include=Appointment:patient"))
        assert included["entry"] == []
    assert len(ids_of(parse(client.get("/fhir/Practitioner")))) == 2


# --- $find and $book ------------------------------------------------------------------------


def _find(client, doctor, day, **extra):
    parameters = [
        {"name": "practitioner", "valueString": f"Practitioner/{doctor.pk}"},
        {"name": "start", "valueDate": day.isoformat()},
        {"name": "end", "valueDate": day.isoformat()},
    ]
    parameters += [{"name": k, "valueString": v} for k, v in extra.items()]
    response = client.post(
        "/fhir/Appointment/$find", {"resourceType": "Parameters", "parameter": parameters}, format="json"
    )
    assert response.status_code == 200, response.content
    return parse(response)


def test_find_proposes_the_free_slots_of_the_booking_service(world):
    from clinic import booking

    found = _find(world.client("patient_a"), world.doctor_x, world.day)
    starts = [entry["resource"]["start"] for entry in found["entry"]]
    expected = [resources.instant(s) for s in booking.slots_free(doctor=world.doctor_x, day=world.day)]
    assert starts == expected
    assert resources.instant(world.appt_a.appointment_time) not in starts
    assert all(entry["resource"]["status"] == "proposed" for entry in found["entry"])
    slots = parse(
        world.client("patient_a").get(
            f"/fhir/Slot?schedule=Schedule/{world.doctor_x.pk}&start=ge{world.day}"
            f"&start=lt{world.day + timedelta(days=1)}&status=free&_count=1000"
        )
    )
    assert [entry["resource"]["start"] for entry in slots["entry"]] == expected
    assert slots["total"] == len(expected)
    first = slots["entry"][0]["resource"]
    assert parse(world.client("patient_a").get(f"/fhir/Slot/{first['id']}")) == first


def test_find_takes_query_parameters_and_specialty(world):
    client = world.client("reception")
    response = client.post(f"/fhir/Appointment/$find?specialty=Dermatology&start={world.day}&end={world.day}&_count=3")
    body = parse(response)
    assert len(body["entry"]) == 3
    assert {e["resource"]["participant"][0]["actor"]["reference"] for e in body["entry"]} == {
        f"Practitioner/{world.doctor_y.pk}"
    }


@pytest.mark.parametrize("wrap", [False, True])
def test_find_then_book_books_once_and_a_second_book_is_a_409(world, wrap, django_capture_on_commit_callbacks):
    client = world.client("patient_a")
    proposed = _find(client, world.doctor_x, world.day)["entry"][0]["resource"]
    proposed["comment"] = "Chest pain when running"
    body = (
        {"resourceType": "Parameters", "parameter": [{"name": "appointment", "resource": proposed}]}
        if wrap
        else proposed
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/fhir/Appointment/$book", body, format="json")
    assert response.status_code == 201, response.content
    booked = parse(response)
    assert response["Location"].endswith(f"/fhir/Appointment/{booked['id']}")
    appointment = Appointment.objects.get(pk=booked["id"])
    assert (appointment.patient, appointment.doctor) == (world.patient_a, world.doctor_x)
    assert appointment.reason == "Chest pain when running"
    assert resources.instant(appointment.appointment_time) == proposed["start"] == booked["start"]
    assert booked["status"] == "pending"
    assert parse(client.get(response["Location"].replace("http://testserver", ""))) == booked
    again = world.client("reception")
    proposed["participant"].append({"actor": {"reference": f"Patient/{world.patient_b.pk}"}, "status": "accepted"})
    conflict = again.post("/fhir/Appointment/$book", proposed, format="json")
    assert conflict.status_code == 409
    assert parse(conflict)["issue"][0]["code"] == "conflict"
    assert Appointment.objects.filter(appointment_time=appointment.appointment_time).count() == 1


def test_book_sends_the_booking_email(world, django_capture_on_commit_callbacks, settings):
    proposed = _find(world.client("reception"), world.doctor_y, world.day)["entry"][0]["resource"]
    proposed["participant"].append({"actor": {"reference": f"Patient/{world.patient_a.pk}"}, "status": "accepted"})
    from clinic.models import EmailOutbox

    before = EmailOutbox.objects.count()
    with django_capture_on_commit_callbacks(execute=True):
        response = world.client("reception").post("/fhir/Appointment/$book", proposed, format="json")
    assert response.status_code == 201, response.content
    # The booking service's notice: one outbox row for the new appointment, kind "booked".
    assert EmailOutbox.objects.count() == before + 1
    assert EmailOutbox.objects.get(appointment_id=parse(response)["id"]).kind == "booked"


def test_book_with_an_idempotency_key_answers_the_first_booking_again(world):
    client = world.client("patient_a")
    proposed = _find(client, world.doctor_x, world.day)["entry"][1]["resource"]
    first = client.post("/fhir/Appointment/$book", proposed, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    second = client.post("/fhir/Appointment/$book", proposed, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == second.status_code == 201
    assert parse(first) == parse(second)
    assert Appointment.objects.filter(patient=world.patient_a).count() == 2


def test_who_may_book_whom(world):
    proposed = _find(world.client("patient_a"), world.doctor_x, world.day)["entry"][0]["resource"]
    for_b = {
        **proposed,
        "participant": [
            *proposed["participant"],
            {"actor": {"reference": f"Patient/{world.patient_b.pk}"}, "status": "accepted"},
        ],
    }
    # A patient books only for themselves: another patient is not one they can name.
    refused = world.client("patient_a").post("/fhir/Appointment/$book", for_b, format="json")
    assert refused.status_code == 400
    parse(refused)
    # Doctors do not book, as on /book-appointment/.
    assert parse(world.client("doctor_x").post("/fhir/Appointment/$book", for_b, format="json"))["issue"]
    assert world.client("doctor_x").post("/fhir/Appointment/$book", for_b, format="json").status_code == 403
    # Reception names the patient; without one it is a 400.
    assert world.client("reception").post("/fhir/Appointment/$book", proposed, format="json").status_code == 400
    assert world.client("reception").post("/fhir/Appointment/$book", for_b, format="json").status_code == 201
    assert not Appointment.objects.filter(patient=world.patient_a, appointment_time=proposed["start"]).exists()


# --- Bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/fhir/Appointment?bogus=1", 400),
        ("/fhir/Patient?birthdate=2000-01-01", 400),
        ("/fhir/Appointment?date=ge2026-13-45", 400),
        ("/fhir/Appointment?date=yesterday", 400),
        ("/fhir/Appointment?_lastUpdated=gt12:00", 400),
        ("/fhir/Appointment?_count=0", 400),
        ("/fhir/Appointment?_count=1001", 400),
        ("/fhir/Appointment?_count=ten", 400),
        ("/fhir/Appointment?_page=0", 400),
        ("/fhir/Appointment?status=booked-ish", 400),
        ("/fhir/Appointment?patient=Practitioner/1", 400),
        ("/fhir/Appointment?patient=abc", 400),
        ("/fhir/Appointment?patient=99999999999999999999", 400),
        ("/fhir/Appointment?actor=Device/1", 400),
        ("/fhir/Appointment?_include=Appointment:location", 400),
        ("/fhir/Slot", 400),
        ("/fhir/Slot?schedule=Schedule/1&status=busy", 400),
        ("/fhir/Slot?schedule=Schedule/1&start=ge2026-01-01&start=lt2026-06-01", 400),
        ("/fhir/Slot?schedule=Schedule/1&start=eq2026-01-01", 400),
        ("/fhir/Patient/abc", 404),
        ("/fhir/Patient/99999999", 404),
        ("/fhir/Appointment/0", 404),
        ("/fhir/Slot/1-nope", 404),
        ("/fhir/Slot/1-200001010900", 404),
        ("/fhir/Observation", 404),
        ("/fhir/Appointment/1/_history", 404),
    ],
)
def test_bad_searches_answer_an_operation_outcome(world, url, status):
    response = world.client("reception").get(url)
    assert response.status_code == status, response.content
    assert parse(response)["resourceType"] == "OperationOutcome"


def _proposed(world, **changes):
    start = resources.instant(world.appt_a.appointment_time + timedelta(hours=2))
    body = {
        "resourceType": "Appointment",
        "status": "proposed",
        "start": start,
        "participant": [
            {"actor": {"reference": f"Practitioner/{world.doctor_x.pk}"}, "status": "needs-action"},
            {"actor": {"reference": f"Patient/{world.patient_a.pk}"}, "status": "accepted"},
        ],
    }
    body.update(changes)
    return body


BAD_BOOKINGS = {
    "not proposed": lambda w: _proposed(w, status="booked"),
    "no start": lambda w: {k: v for k, v in _proposed(w).items() if k != "start"},
    "bad start": lambda w: _proposed(w, start="soon"),
    "no participants": lambda w: _proposed(w, participant=[]),
    "participant not a reference": lambda w: _proposed(w, participant=[{"actor": "Dr X"}]),
    "two practitioners": lambda w: _proposed(
        w, participant=[{"actor": {"reference": f"Practitioner/{w.doctor_x.pk}"}}] * 2
    ),
    "unknown practitioner": lambda w: _proposed(w, participant=[{"actor": {"reference": "Practitioner/999999"}}]),
    "bad type": lambda w: _proposed(w, appointmentType={"coding": [{"code": "long"}]}),
    "a Patient": lambda w: {"resourceType": "Patient"},
    "a list": lambda w: [1, 2],
    "Parameters without an appointment": lambda w: {"resourceType": "Parameters", "parameter": []},
    "off the grid": lambda w: _proposed(w, start=resources.instant(w.appt_a.appointment_time + timedelta(minutes=7))),
    "in the past": lambda w: _proposed(w, start="2001-01-01T10:00:00+00:00"),
}


@pytest.mark.parametrize("case", BAD_BOOKINGS)
def test_bad_bookings_answer_400_and_book_nothing(world, case):
    before = Appointment.objects.count()
    response = world.client("reception").post("/fhir/Appointment/$book", BAD_BOOKINGS[case](world), format="json")
    assert response.status_code == 400, response.content
    assert parse(response)["resourceType"] == "OperationOutcome"
    assert Appointment.objects.count() == before


def test_malformed_bodies_and_methods(world):
    client = world.client("reception")
    broken = client.post("/fhir/Appointment/$book", "{not json", content_type="application/fhir+json")
    assert broken.status_code == 400
    parse(broken)
    unsupported = client.post("/fhir/Appointment/$book", "<xml/>", content_type="application/xml")
    assert unsupported.status_code == 415
    parse(unsupported)
    for method in ("post", "put", "delete"):
        response = getattr(client, method)("/fhir/Patient", {}, format="json")
        assert response.status_code == 405
        parse(response)
    assert client.get("/fhir/Appointment/$book").status_code == 405
    find = client.post(
        "/fhir/Appointment/$find",
        {"resourceType": "Parameters", "parameter": [{"name": "x", "valueString": "1"}]},
        format="json",
    )
    assert find.status_code == 400
    parse(find)
    assert client.post("/fhir/Appointment/$find?start=2026-01-05&end=2026-03-05").status_code == 400
    assert client.post("/fhir/Appointment/$find", {"resourceType": "Bundle"}, format="json").status_code == 400


def test_an_unexpected_error_is_an_operation_outcome_500_without_traceback(world, monkeypatch):
    def explode(row):
        raise RuntimeError("secret internals")

    monkeypatch.setattr("clinic.fhir.views.PatientView.render", staticmethod(explode))
    client = world.client("reception")
    client.raise_request_exception = False
    response = client.get("/fhir/Patient")
    assert response.status_code == 500
    body = parse(response)
    assert "secret internals" not in response.content.decode()
    assert body["issue"][0]["severity"] == "fatal"


# --- Query counts ----------------------------------------------------------------------------


def _queries(world, url) -> int:
    """Queries of one request by a freshly read reception user (its role not yet known)."""
    client = world.client("reception")
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, response.content
    return len(captured.captured_queries)


@pytest.mark.parametrize(
    "url",
    [
        "/fhir/Appointment",
        "/fhir/Appointment?_include=Appointment:patient&_include=Appointment:practitioner",
        "/fhir/Appointment?date=ge2000-01-01&status=pending,booked",
        "/fhir/Patient",
        "/fhir/Practitioner",
        "/fhir/PractitionerRole",
        "/fhir/Schedule",
    ],
)
def test_list_searches_make_a_constant_number_of_queries(world, url, next_monday_10):
    small = _queries(world, url)
    for n in range(12):
        doctor = factories.DoctorFactory()
        factories.AppointmentFactory(doctor=doctor, appointment_time=next_monday_10 + timedelta(hours=n))
    assert _queries(world, url) == small
    assert small <= 5


def test_slot_search_makes_a_constant_number_of_queries(world, next_monday_10):
    url = (
        f"/fhir/Slot?schedule=Schedule/{world.doctor_x.pk}&start=ge{world.day}&start=lt{world.day + timedelta(days=5)}"
    )
    small = _queries(world, url)
    for n in range(6):
        factories.AppointmentFactory(
            doctor=world.doctor_x, appointment_time=next_monday_10 + timedelta(days=n % 4, hours=n + 1)
        )
    assert _queries(world, url) == small <= 5
