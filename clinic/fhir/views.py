"""The FHIR facade's views (DRF): the JSON API's authentication, `clinic.access` for every row,
`clinic.booking` for slots and bookings; every answer `application/fhir+json`, every error an
OperationOutcome with the status the JSON API would give."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlencode

from django.db.models import F, OuterRef, Q, Subquery
from django.utils import timezone
from rest_framework import status as http
from rest_framework.exceptions import NotFound
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from clinic import access, booking
from clinic.api import exceptions as api_exceptions
from clinic.api.parsers import ClinicJSONParser
from clinic.api.permissions import CanBook
from clinic.api.views import book_request
from clinic.fhir import resources, search
from clinic.fhir.capability import capability_statement
from clinic.models import Doctor, Patient

MAX_DAYS = 31
FIND_DEFAULT_DAYS = 7

APPOINTMENT_COLUMNS = (
    "id",
    "status",
    "appointment_time",
    "ends_at",
    "reason",
    "created_at",
    "updated_at",
    "patient_id",
    "doctor_id",
    "appointment_type_id",
    "appointment_type__name",
    "patient__user__first_name",
    "patient__user__last_name",
    "doctor__user__first_name",
    "doctor__user__last_name",
)
PATIENT_COLUMNS = {
    "first_name": F("user__first_name"),
    "last_name": F("user__last_name"),
    "email": F("user__email"),
    "active": F("user__is_active"),
}
DOCTOR_COLUMNS = {**PATIENT_COLUMNS}
DOCTOR_FIELDS = ("id", "specialization", "available_from", "available_to", "slot_minutes", "working_days")


class FHIRRenderer(JSONRenderer):
    media_type = resources.CONTENT_TYPE
    format = "fhir"
    charset = None


class FHIRParser(ClinicJSONParser):
    media_type = resources.CONTENT_TYPE


class AlwaysFHIR(BaseContentNegotiation):
    """Every answer is application/fhir+json, whatever Accept says (no 406)."""

    def select_parser(self, request, parsers):
        for parser in parsers:
            if request.content_type.split(";")[0].strip() == parser.media_type:
                return parser
        return None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


def _text(data) -> str:
    if isinstance(data, dict):
        if "detail" in data:
            return _text(data["detail"])
        return "; ".join(f"{key}: {_text(value)}" for key, value in data.items())
    if isinstance(data, list):
        return " ".join(_text(item) for item in data)
    return str(data)


def exception_handler(exc, context) -> Response:
    """The JSON API's handler decides the status and headers; the body becomes an OperationOutcome."""
    answer = api_exceptions.exception_handler(exc, context)
    outcome = resources.operation_outcome(answer.status_code, _text(answer.data))
    response = Response(outcome, status=answer.status_code)
    for header in ("WWW-Authenticate", "Retry-After", "Allow"):
        if header in answer:
            response[header] = answer[header]
    return response


class FHIRView(APIView):
    renderer_classes = [FHIRRenderer]
    # Form parsers too, so a session's form POST reaches the CSRF check (403) rather than a 415.
    parser_classes = [FHIRParser, ClinicJSONParser, FormParser, MultiPartParser]
    content_negotiation_class = AlwaysFHIR
    permission_classes = [IsAuthenticated]
    throttle_classes: list = []
    # Not in the JSON API's OpenAPI schema: /fhir/metadata describes the facade.
    schema = None

    def get_exception_handler(self):
        return exception_handler


def _base(request) -> str:
    return request.build_absolute_uri("/fhir/").rstrip("/")


def bundle(request, query: search.Query, entries: list[dict], *, more: bool, total: int | None, included=()):
    base = _base(request)
    params = [(key, value) for key in request.query_params for value in request.query_params.getlist(key)]
    here = [(k, v) for k, v in params if k not in ("_page", "_count")] + [("_count", str(query.count))]
    path = request.path
    links = [{"relation": "self", "url": f"{base}{path[5:]}?{urlencode([*here, ('_page', str(query.page))])}"}]
    if more:
        links.append(
            {"relation": "next", "url": f"{base}{path[5:]}?{urlencode([*here, ('_page', str(query.page + 1))])}"}
        )
    body: dict = {"resourceType": "Bundle", "type": "searchset"}
    if total is not None:
        body["total"] = total
    body["link"] = links
    entry = []
    for resource, mode in [*((r, "match") for r in entries), *((r, "include") for r in included)]:
        item = {"resource": resource, "search": {"mode": mode}}
        if "id" in resource:
            item = {"fullUrl": f"{base}/{resource['resourceType']}/{resource['id']}", **item}
        entry.append(item)
    body["entry"] = entry
    return Response(body)


def _page(rows_qs, query: search.Query) -> tuple[list, bool]:
    start = (query.page - 1) * query.count
    rows = list(rows_qs[start : start + query.count + 1])
    return rows[: query.count], len(rows) > query.count


def _object_id(value: str) -> int:
    if not value.isdigit() or not 0 < int(value) <= search.ID_MAX:
        raise NotFound("No such resource.")
    return int(value)


class MetadataView(FHIRView):
    """Public, as FHIR clients expect; it names no patient data."""

    permission_classes = [AllowAny]

    def get(self, request):
        return Response(capability_statement(_base(request)))


class ResourceView(FHIRView):
    """Read (`/fhir/<Type>/<id>`) and search (`/fhir/<Type>`) of one resource type."""

    params: frozenset[str] = frozenset()
    with_total = True

    def get(self, request, pk: str | None = None):
        if pk is not None:
            rows = list(self.rows(self.queryset(request.user).filter(pk=_object_id(pk))))
            if not rows:
                raise NotFound("No such resource, or not one you may see.")
            return Response(self.render(rows[0]))
        query = search.parse(request.query_params, self.params)
        qs = self.queryset(request.user).filter(self.filters(query.params))
        rows, more = _page(self.rows(qs.order_by("id")), query)
        total = qs.count() if self.with_total else None
        return bundle(request, query, [self.render(row) for row in rows], more=more, total=total)


def _last_updated_patients():
    history = Patient.history.model.objects.filter(id=OuterRef("pk")).order_by("-history_date")
    return Subquery(history.values("history_date")[:1])


class PatientView(ResourceView):
    params = frozenset({"_id", "identifier", "family", "given", "name", "email", "phone", "_lastUpdated"})

    def queryset(self, user):
        return access.patients_visible_to(user).annotate(last_updated=_last_updated_patients())

    def filters(self, params) -> Q:
        q = Q()
        if "_id" in params:
            q &= Q(pk__in=search.ids(search.one(params, "_id")))
        if "identifier" in params:
            value = search.one(params, "identifier")
            system, _, code = value.rpartition("|")
            if system and system != resources.INSURANCE_SYSTEM:
                return Q(pk__in=[])
            q &= Q(insurance_number__in=code.split(","))
        if "family" in params:
            q &= search.string_q(search.one(params, "family"), "user__last_name")
        if "given" in params:
            q &= search.string_q(search.one(params, "given"), "user__first_name")
        if "name" in params:
            q &= search.string_q(search.one(params, "name"), "user__first_name", "user__last_name")
        if "email" in params:
            q &= Q(user__email__iexact=search.one(params, "email"))
        if "phone" in params:
            q &= Q(phone=search.one(params, "phone"))
        if "_lastUpdated" in params:
            q &= search.date_q(params["_lastUpdated"], "last_updated")
        return q

    def rows(self, qs):
        return qs.values("id", "phone", "insurance_number", "last_updated", **PATIENT_COLUMNS)

    render = staticmethod(resources.patient)


class DoctorResourceView(ResourceView):
    def queryset(self, user):
        return access.doctors_visible_to(user)

    def rows(self, qs):
        return qs.values(*DOCTOR_FIELDS, **DOCTOR_COLUMNS)

    def filters(self, params) -> Q:
        q = Q()
        if "_id" in params:
            q &= Q(pk__in=search.ids(search.one(params, "_id")))
        for name, key in (("practitioner", "Practitioner"), ("actor", "Practitioner")):
            if name in params:
                q &= Q(pk__in=search.ids(search.one(params, name), key))
        if "name" in params:
            q &= search.string_q(search.one(params, "name"), "user__first_name", "user__last_name")
        if "family" in params:
            q &= search.string_q(search.one(params, "family"), "user__last_name")
        if "given" in params:
            q &= search.string_q(search.one(params, "given"), "user__first_name")
        if "specialty" in params:
            value = search.one(params, "specialty").rpartition("|")[2]
            q &= Q(specialization__iexact=value)
        return q


class PractitionerView(DoctorResourceView):
    params = frozenset({"_id", "name", "family", "given"})
    render = staticmethod(resources.practitioner)


class PractitionerRoleView(DoctorResourceView):
    params = frozenset({"_id", "practitioner", "specialty"})
    render = staticmethod(resources.practitioner_role)


class ScheduleView(DoctorResourceView):
    params = frozenset({"_id", "actor"})
    render = staticmethod(resources.schedule)


def _status_q(value: str) -> Q:
    codes = value.split(",")
    unknown = [code for code in codes if code not in resources.FHIR_TO_STATUS]
    if unknown:
        raise search.bad(f"Unknown Appointment status: {', '.join(unknown)}.")
    return Q(status__in=[resources.FHIR_TO_STATUS[code] for code in codes])


class AppointmentView(ResourceView):
    params = frozenset({"_id", "patient", "practitioner", "actor", "date", "status", "_lastUpdated"})
    includes = frozenset({"Appointment:patient", "Appointment:practitioner"})
    # An exact count of a million appointments is not cheap: the Bundle has `next` links instead.
    with_total = False

    def queryset(self, user):
        return access.appointments_visible_to(user)

    def rows(self, qs):
        return qs.values(*APPOINTMENT_COLUMNS)

    render = staticmethod(resources.appointment)

    def filters(self, params) -> Q:
        q = Q()
        if "_id" in params:
            q &= Q(pk__in=search.ids(search.one(params, "_id")))
        if "patient" in params:
            q &= Q(patient_id__in=search.ids(search.one(params, "patient"), "Patient"))
        if "practitioner" in params:
            q &= Q(doctor_id__in=search.ids(search.one(params, "practitioner"), "Practitioner"))
        if "actor" in params:
            value = search.one(params, "actor")
            kinds = {part.rpartition("/")[0].rsplit("/", 1)[-1] for part in value.split(",")}
            if kinds == {"Patient"}:
                q &= Q(patient_id__in=search.ids(value, "Patient"))
            elif kinds == {"Practitioner"}:
                q &= Q(doctor_id__in=search.ids(value, "Practitioner"))
            else:
                raise search.bad("actor takes references to Patient/<id> or Practitioner/<id> (one kind).")
        if "date" in params:
            q &= search.date_q(params["date"], "appointment_time")
        if "status" in params:
            q &= _status_q(search.one(params, "status"))
        if "_lastUpdated" in params:
            q &= search.date_q(params["_lastUpdated"], "updated_at")
        return q

    def get(self, request, pk: str | None = None):
        if pk is not None:
            return super().get(request, pk)
        query = search.parse(request.query_params, self.params, includes=self.includes)
        qs = self.queryset(request.user).filter(self.filters(query.params))
        rows, more = _page(self.rows(qs.order_by("appointment_time", "id")), query)
        included = []
        if "Appointment:patient" in query.includes and rows:
            patients = PatientView().queryset(request.user).filter(pk__in={row["patient_id"] for row in rows})
            included += [resources.patient(row) for row in PatientView().rows(patients.order_by("id"))]
        if "Appointment:practitioner" in query.includes and rows:
            doctors = access.doctors_visible_to(request.user).filter(pk__in={row["doctor_id"] for row in rows})
            included += [resources.practitioner(row) for row in PractitionerView().rows(doctors.order_by("id"))]
        entries = [resources.appointment(row) for row in rows]
        return bundle(request, query, entries, more=more, total=None, included=included)


# --- Slots ---------------------------------------------------------------------------


def _day_range(first: datetime, after: datetime) -> list[date]:
    zone = timezone.get_default_timezone()
    day, last = first.astimezone(zone).date(), (after - timedelta(microseconds=1)).astimezone(zone).date()
    if (last - day).days >= MAX_DAYS:
        raise search.bad(f"A search covers at most {MAX_DAYS} days.")
    return [day + timedelta(days=n) for n in range((last - day).days + 1)]


def _doctor_row(doctor: Doctor) -> dict:
    return {"id": doctor.pk, "first_name": doctor.user.first_name, "last_name": doctor.user.last_name}


def free_slots(doctors, first: datetime, after: datetime) -> list[tuple[dict, datetime, datetime]]:
    """(doctor row, start, end) of every free slot of `doctors` (a queryset from `clinic.access`)
    starting in [first, after), by start then doctor: three queries however many doctors and days."""
    if after <= first:
        return []
    days = _day_range(first, after)
    doctors = list(doctors)
    free = booking.slots_free_on_days(doctors=doctors, days=days)
    found = []
    for doctor in doctors:
        row, length = _doctor_row(doctor), booking.Shape.of(doctor).length
        for day in days:
            found += [(row, s, s + length) for s in free[day][doctor.pk] if first <= s < after]
    found.sort(key=lambda item: (item[1], item[0]["id"]))
    return found


class SlotView(FHIRView):
    """Free slots, computed by `booking.slots_free_on_days`: `schedule` (required), `start` with
    ge/lt (default: the next 7 days), `status=free`."""

    params = frozenset({"schedule", "start", "status"})

    def get(self, request, pk: str | None = None):
        if pk is not None:
            return self.read(request, pk)
        query = search.parse(request.query_params, self.params)
        params = query.params
        if "schedule" not in params:
            raise search.bad("Slot search needs schedule=Schedule/<id>.")
        if "status" in params and search.one(params, "status") != "free":
            raise search.bad("Only free slots are published: status=free.")
        schedules = search.ids(search.one(params, "schedule"), "Schedule")
        doctors = access.doctors_visible_to(request.user).filter(pk__in=schedules).order_by("id")
        first, after = self.bounds(params.get("start", []))
        found = free_slots(doctors, first, after)
        start = (query.page - 1) * query.count
        page = found[start : start + query.count]
        entries = [resources.slot(doctor["id"], s, e) for doctor, s, e in page]
        return bundle(request, query, entries, more=len(found) > start + query.count, total=len(found))

    @staticmethod
    def bounds(values: list[str]) -> tuple[datetime, datetime]:
        first, after = None, None
        for value in values:
            prefix, start, _ = search.date_range(value)
            if prefix == "ge":
                first = start
            elif prefix == "lt":
                after = start
            else:
                raise search.bad("start takes ge and lt prefixes: start=ge2026-01-05&start=lt2026-01-06.")
        first = first or timezone.now()
        return first, after or first + timedelta(days=FIND_DEFAULT_DAYS)

    def read(self, request, pk: str):
        doctor_part, _, when = pk.partition("-")
        try:
            start = datetime.strptime(when, "%Y%m%d%H%M").replace(tzinfo=UTC)
            doctor_id = _object_id(doctor_part)
        except ValueError:
            raise NotFound("No such slot.") from None
        doctors = access.doctors_visible_to(request.user).filter(pk=doctor_id)
        for doctor, s, e in free_slots(doctors, start, start + timedelta(minutes=1)):
            if s == start:
                return Response(resources.slot(doctor["id"], s, e))
        raise NotFound("No such free slot.")


# --- Appointment/$find and $book ----------------------------------------------------------


def _parameters(data) -> dict[str, list]:
    """The values of a Parameters resource, by name (valueX or resource)."""
    if not isinstance(data, dict) or data.get("resourceType") != "Parameters":
        raise search.bad("Expected a Parameters resource.")
    found: dict[str, list] = {}
    for item in data.get("parameter") or []:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise search.bad("Each parameter needs a name.")
        value = item.get("resource")
        if value is None:
            value = next((v for k, v in item.items() if k.startswith("value")), None)
        found.setdefault(item["name"], []).append(value)
    return found


class FindView(FHIRView):
    """IHE ITI Scheduling $find: free slots as proposed Appointments."""

    names = frozenset({"start", "end", "practitioner", "specialty", "_count"})

    def post(self, request):
        if request.data:
            given = _parameters(request.data)
            params = {key: [str(v) for v in values] for key, values in given.items()}
        else:
            params = {key: request.query_params.getlist(key) for key in request.query_params}
        unknown = set(params) - self.names
        if unknown:
            raise search.bad(f"Unknown parameter: {', '.join(sorted(unknown))}.")
        count = search._whole(params, "_count", search.DEFAULT_COUNT, 1, search.MAX_COUNT)
        first = search.date_range(search.one(params, "start"))[1] if "start" in params else timezone.now()
        after = search.date_range(search.one(params, "end"))[2] if "end" in params else None
        after = after or first + timedelta(days=FIND_DEFAULT_DAYS)
        if after <= first:
            raise search.bad("end comes before start.")
        doctors = access.doctors_visible_to(request.user)
        if "practitioner" in params:
            doctors = doctors.filter(pk__in=search.ids(search.one(params, "practitioner"), "Practitioner"))
        if "specialty" in params:
            doctors = doctors.filter(specialization__iexact=search.one(params, "specialty").rpartition("|")[2])
        found = free_slots(doctors.order_by("id"), first, after)[:count]
        entries = [resources.proposed_appointment(doctor, s, e) for doctor, s, e in found]
        body = {"resourceType": "Bundle", "type": "searchset", "total": len(entries)}
        body["entry"] = [{"resource": entry, "search": {"mode": "match"}} for entry in entries]
        return Response(body)


def _reference_id(reference, kind: str) -> int | None:
    if not isinstance(reference, dict) or not isinstance(reference.get("reference"), str):
        return None
    prefix, _, value = reference["reference"].rpartition("/")
    if prefix.rsplit("/", 1)[-1] != kind:
        return None
    return search.ids(value)[0]


def booking_request(data) -> dict:
    """The JSON API's booking fields from a proposed Appointment (bare, or wrapped in Parameters)."""
    if isinstance(data, dict) and data.get("resourceType") == "Parameters":
        values = _parameters(data).get("appointment") or []
        data = values[0] if len(values) == 1 else None
    if not isinstance(data, dict) or data.get("resourceType") != "Appointment":
        raise search.bad("Expected an Appointment, or Parameters with one `appointment`.")
    if data.get("status") != "proposed":
        raise search.bad("Only a proposed Appointment (status `proposed`, as $find returns) can be booked.")
    if not isinstance(data.get("start"), str):
        raise search.bad("The Appointment needs a start.")
    participants = data.get("participant")
    if not isinstance(participants, list) or not participants:
        raise search.bad("The Appointment needs participants: a Practitioner (and a Patient for staff).")
    doctors, patients = [], []
    for item in participants:
        actor = item.get("actor") if isinstance(item, dict) else None
        if (doctor := _reference_id(actor, "Practitioner")) is not None:
            doctors.append(doctor)
        elif (patient := _reference_id(actor, "Patient")) is not None:
            patients.append(patient)
        else:
            raise search.bad("Each participant's actor is a reference to Practitioner/<id> or Patient/<id>.")
    if len(doctors) != 1 or len(patients) > 1:
        raise search.bad("Name one Practitioner and at most one Patient.")
    fields = {"doctor": doctors[0], "appointment_time": data["start"]}
    if patients:
        fields["patient"] = patients[0]
    kind = data.get("appointmentType")
    if kind is not None:
        codes = (
            [c.get("code") for c in (kind.get("coding") or []) if isinstance(c, dict)] if isinstance(kind, dict) else []
        )
        codes = [c for c in codes if isinstance(c, str)]
        if len(codes) != 1 or not codes[0].isdigit():
            raise search.bad(f"appointmentType needs one coding of {resources.TYPE_SYSTEM} with a type id.")
        fields["appointment_type"] = int(codes[0])
    if isinstance(data.get("comment"), str):
        fields["reason"] = data["comment"]
    return fields


def appointment_row(appointment) -> dict:
    kind = appointment.appointment_type
    return {
        "id": appointment.pk,
        "status": appointment.status,
        "appointment_time": appointment.appointment_time,
        "ends_at": appointment.ends_at,
        "reason": appointment.reason,
        "created_at": appointment.created_at,
        "updated_at": appointment.updated_at,
        "patient_id": appointment.patient_id,
        "doctor_id": appointment.doctor_id,
        "appointment_type_id": kind.pk if kind else None,
        "appointment_type__name": kind.name if kind else None,
        "patient__user__first_name": appointment.patient.user.first_name,
        "patient__user__last_name": appointment.patient.user.last_name,
        "doctor__user__first_name": appointment.doctor.user.first_name,
        "doctor__user__last_name": appointment.doctor.user.last_name,
    }


class BookView(FHIRView):
    """$book: the booking service of /book-appointment/ (emails, Idempotency-Key, waitlist alike)."""

    permission_classes = [IsAuthenticated, CanBook]

    def post(self, request):
        fields = booking_request(request.data)
        render = lambda appointment: resources.appointment(appointment_row(appointment))  # noqa: E731
        return self.answer(request, *book_request(request, fields, render))

    @staticmethod
    def answer(request, body: dict, status: int) -> Response:
        response = Response(body, status=status)
        if status == http.HTTP_201_CREATED and body.get("resourceType") == "Appointment":
            response["Location"] = f"{_base(request)}/Appointment/{body['id']}"
        return response


class UnknownView(FHIRView):
    """Any other path under /fhir/: 404 OperationOutcome."""

    def dispatch_unknown(self, request, *args, **kwargs):
        raise NotFound("This server has no such FHIR endpoint (see /fhir/metadata).")

    get = post = put = patch = delete = dispatch_unknown
