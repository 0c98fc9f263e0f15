"""Who may do what to whom: every role × resource × object × method, as DESIGN.md's table says.

Objects come in two sides: patient A with doctor X (appointment A, record A) and
patient B with doctor Y. 404 = not visible, 403 = visible but not allowed,
401 = anonymous. A staff DELETE of an object that clinical data refers to is
allowed but refused with 409 (protected); records have nothing hanging on them.
"""

from __future__ import annotations

import pytest

from tests.api.conftest import client_for

pytestmark = pytest.mark.django_db

ANON = (401, 401, 401)
HIDDEN = (404, 404, 404)
FORBIDDEN = (403, 403, 403)
STAFF = (200, 200, 409)

# role -> resource -> ((GET, PATCH, DELETE) on side A, (GET, PATCH, DELETE) on side B)
MATRIX = {
    "anonymous": dict.fromkeys(("patients", "doctors", "appointments", "medical-records"), (ANON, ANON)),
    "patient_a": {
        "patients": ((200, 200, 403), HIDDEN),
        "doctors": ((200, 403, 403), (200, 403, 403)),
        "appointments": ((200, 200, 403), HIDDEN),
        "medical-records": ((200, 403, 403), HIDDEN),
    },
    "patient_b": {
        "patients": (HIDDEN, (200, 200, 403)),
        "doctors": ((200, 403, 403), (200, 403, 403)),
        "appointments": (HIDDEN, (200, 200, 403)),
        "medical-records": (HIDDEN, (200, 403, 403)),
    },
    "doctor_x": {
        "patients": ((200, 403, 403), HIDDEN),
        "doctors": ((200, 200, 403), (200, 403, 403)),
        "appointments": ((200, 403, 403), HIDDEN),
        "medical-records": ((200, 200, 403), HIDDEN),
    },
    "doctor_y": {
        "patients": (HIDDEN, (200, 403, 403)),
        "doctors": ((200, 403, 403), (200, 200, 403)),
        "appointments": (HIDDEN, (200, 403, 403)),
        "medical-records": (HIDDEN, (200, 200, 403)),
    },
    "reception": {
        "patients": (STAFF, STAFF),
        "doctors": (STAFF, STAFF),
        "appointments": (STAFF, STAFF),
        "medical-records": (FORBIDDEN, FORBIDDEN),
    },
    "admin": {
        "patients": (STAFF, STAFF),
        "doctors": (STAFF, STAFF),
        "appointments": (STAFF, STAFF),
        "medical-records": ((200, 200, 204), (200, 200, 204)),
    },
}

PATCHES = {
    "patients": ("phone", "+1 555 7777"),
    "doctors": ("specialization", "Neurology"),
    "appointments": ("reason", "Follow-up"),
    "medical-records": ("notes", "Recovering well."),
}

CASES = [
    pytest.param(
        role, resource, side, method, expected[side_index][method_index], id=f"{role}-{resource}-{side}-{method}"
    )
    for role, resources in MATRIX.items()
    for resource, expected in resources.items()
    for side_index, side in enumerate("AB")
    for method_index, method in enumerate(("GET", "PATCH", "DELETE"))
]


def _object(clinic, resource: str, side: str):
    return {
        "patients": {"A": clinic.patient_a, "B": clinic.patient_b},
        "doctors": {"A": clinic.doctor_x, "B": clinic.doctor_y},
        "appointments": {"A": clinic.appt_a, "B": clinic.appt_b},
        "medical-records": {"A": clinic.record_a, "B": clinic.record_b},
    }[resource][side]


@pytest.mark.parametrize(("role", "resource", "side", "method", "expected"), CASES)
def test_authorization_matrix(clinic, role, resource, side, method, expected):
    obj = _object(clinic, resource, side)
    client = client_for(clinic.user(role))
    url = f"/{resource}/{obj.pk}/"
    field, value = PATCHES[resource]
    if method == "GET":
        response = client.get(url)
    elif method == "PATCH":
        response = client.patch(url, {field: value}, format="json")
    else:
        response = client.delete(url)

    assert response.status_code == expected, response.content
    if expected >= 400:
        assert "detail" in response.json()
    if expected == 401:
        assert response["WWW-Authenticate"].startswith("Bearer")
    model = type(obj)
    if method == "PATCH":
        obj.refresh_from_db()
        current = getattr(obj, field, None)
        if current is None:
            current = getattr(obj.user, field)
        assert (current == value) is (expected == 200)
    if method == "DELETE":
        assert model.objects.filter(pk=obj.pk).exists() is (expected != 204)


LISTS = {
    "anonymous": None,
    "patient_a": {"patients": ["A"], "doctors": ["A", "B"], "appointments": ["A"], "medical-records": ["A"]},
    "patient_b": {"patients": ["B"], "doctors": ["A", "B"], "appointments": ["B"], "medical-records": ["B"]},
    "doctor_x": {"patients": ["A"], "doctors": ["A", "B"], "appointments": ["A"], "medical-records": ["A"]},
    "doctor_y": {"patients": ["B"], "doctors": ["A", "B"], "appointments": ["B"], "medical-records": ["B"]},
    "reception": {"patients": ["A", "B"], "doctors": ["A", "B"], "appointments": ["A", "B"], "medical-records": 403},
    "admin": {"patients": ["A", "B"], "doctors": ["A", "B"], "appointments": ["A", "B"], "medical-records": ["A", "B"]},
}


@pytest.mark.parametrize("role", list(LISTS))
@pytest.mark.parametrize("resource", ["patients", "doctors", "appointments", "medical-records"])
def test_each_role_lists_exactly_what_it_may_see(clinic, role, resource):
    response = client_for(clinic.user(role)).get(f"/{resource}/")
    expected = LISTS[role]
    if expected is None:
        assert response.status_code == 401
        return
    expected = expected[resource]
    if expected == 403:
        assert response.status_code == 403
        return
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert sorted(row["id"] for row in body["results"]) == sorted(
        _object(clinic, resource, side).pk for side in expected
    )
    assert body["count"] == len(expected)


def test_a_user_without_a_clinical_role_sees_doctors_only(clinic):
    from tests.factories import UserFactory

    client = client_for(UserFactory())
    assert client.get("/patients/").json()["count"] == 0
    assert client.get("/appointments/").json()["count"] == 0
    assert client.get("/doctors/").json()["count"] == 2
    assert client.get("/medical-records/").status_code == 403
    assert client.post("/book-appointment/", {}, format="json").status_code == 403


# The visit's moves through PATCH /appointments/{id}/ {"status": ...}: the front desk, the clinic
# admin and the appointment's own doctor move it; a patient never moves a visit past confirmed.
# (status the appointment is in, status asked for, its start from now in minutes)
VISIT_MOVES = {
    "confirmed": ("pending", 24 * 60 * 3),
    "arrived": ("confirmed", 30),
    "in_progress": ("arrived", -5),
    "completed": ("in_progress", -20),
    "no_show": ("confirmed", -30),
}
MOVERS = {
    "anonymous": (401, 401),
    "patient_a": (403, 404),
    "patient_b": (404, 403),
    "doctor_x": (200, 404),
    "doctor_y": (404, 200),
    "reception": (200, 200),
    "admin": (200, 200),
}


@pytest.mark.parametrize("target", list(VISIT_MOVES))
@pytest.mark.parametrize("role", list(MOVERS))
def test_each_role_moves_a_visit_as_the_design_says(clinic, role, target):
    import time_machine
    from django.utils import timezone

    from clinic import booking

    # Midday of the clinic's day, so that "30 minutes from now" is still today.
    midday = booking.day_bounds(timezone.localdate())[0] + timezone.timedelta(hours=12)
    with time_machine.travel(midday, tick=False):
        _move_both_sides(clinic, role, target)


def _move_both_sides(clinic, role, target):
    from django.utils import timezone

    from clinic.models import Appointment
    from tests.factories import AppointmentFactory

    current, minutes = VISIT_MOVES[target]
    start = timezone.now() + timezone.timedelta(minutes=minutes)
    sides = [
        AppointmentFactory(patient=clinic.patient_a, doctor=clinic.doctor_x, appointment_time=start, status=current),
        AppointmentFactory(patient=clinic.patient_b, doctor=clinic.doctor_y, appointment_time=start, status=current),
    ]
    client = client_for(clinic.user(role))
    for appointment, expected in zip(sides, MOVERS[role], strict=True):
        response = client.patch(f"/appointments/{appointment.pk}/", {"status": target}, format="json")
        assert response.status_code == expected, (appointment.pk, response.content)
        moved = Appointment.objects.get(pk=appointment.pk)
        assert moved.status == (target if expected == 200 else current)
        if expected == 200:
            assert response.json()["status"] == target
        else:
            assert "detail" in response.json()
