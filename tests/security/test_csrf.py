"""Every state-changing page route refuses a request without a CSRF token (403).

Page views, allauth's forms and the admin are protected by Django's CSRF middleware; the
API's session authentication checks the token too (Bearer requests carry no cookie and
need none). The htmx pages send the token in `hx-headers` from the page itself, so they
keep working when the CSRF cookie is HttpOnly, as it is in production.
"""

from __future__ import annotations

import json
import re

import pytest
from django.core.cache import cache
from django.test import Client, override_settings

from clinic.models import Appointment
from tests import factories
from tests.security.url_table import ROUTES, build_world

pytestmark = pytest.mark.django_db

# Anyone may register or ask for tokens: these API endpoints take no session, so no token either.
SESSIONLESS = {"/registrations/", "/api/token/", "/api/token/refresh/", "/api/token/blacklist/"}
# A manage link's secret path is its credential, whoever is signed in: a forged POST would need
# the very token it could use itself (tests/pages/test_manage_links.py).
SECRET_PATHS = ("/a/", "/w/")


@pytest.fixture
def world(next_monday_10):
    cache.clear()
    yield build_world(next_monday_10)
    cache.clear()


def strict(user=None) -> Client:
    client = Client(enforce_csrf_checks=True)
    if user is not None:
        client.force_login(user)
    return client


@pytest.mark.parametrize("role", ["anonymous", "patient", "admin"])
def test_a_post_without_a_token_is_refused_on_every_route(world, role):
    client = strict(world.user(role))
    # Without a session the API has no one to act as: it answers 401, or 405 where nothing is posted.
    refused = {403, 401, 405} if role == "anonymous" else {403}
    accepted = []
    for route in ROUTES.values():
        url = route.url(world)
        if url.split("?")[0] in SESSIONLESS or url.startswith(SECRET_PATHS):
            continue
        response = client.post(url, {"action": "cancel"})
        if response.status_code not in refused:
            accepted.append(f"POST {url}: {response.status_code}")
    assert not accepted, "\n" + "\n".join(accepted)
    world.appointment.refresh_from_db()
    assert world.appointment.status == Appointment.Status.PENDING


def test_the_endpoints_that_take_no_session_ignore_a_signed_in_browser(world):
    """A forged POST to them from another site cannot act as the signed-in user."""
    client = strict(world.patient.user)
    response = client.post("/registrations/", {}, content_type="application/json")
    assert response.status_code == 400
    response = client.post("/api/token/blacklist/", {}, content_type="application/json")
    assert response.status_code == 400


def test_cancelling_without_a_token_changes_nothing(world):
    client = strict(world.patient.user)
    response = client.post(f"/my/appointments/{world.appointment.pk}/", {"action": "cancel"})
    assert response.status_code == 403
    world.appointment.refresh_from_db()
    assert world.appointment.status == Appointment.Status.PENDING


def test_an_admin_action_without_a_token_changes_nothing(world):
    client = strict(world.admin)
    response = client.post(
        "/admin/clinic/appointment/",
        {"action": "confirm_appointments", "_selected_action": [world.appointment.pk], "index": 0},
    )
    assert response.status_code == 403
    world.appointment.refresh_from_db()
    assert world.appointment.status == Appointment.Status.PENDING


def test_signing_in_without_a_token_is_refused(world):
    for path, login_field in (("/accounts/login/", "login"), ("/admin/login/", "username")):
        response = strict().post(path, {login_field: world.admin.username, "password": factories.PASSWORD})
        assert response.status_code == 403, path
        assert "sessionid" not in response.cookies


def test_the_api_refuses_a_session_post_without_a_token_but_not_a_bearer_one(world):
    from clinic.api.tokens import ClinicRefreshToken

    body = {"doctor": world.doctor.pk, "appointment_time": "2000-01-01T10:00:00Z"}
    response = strict(world.patient.user).post("/book-appointment/", body, content_type="application/json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    token = ClinicRefreshToken.for_user(world.patient.user).access_token
    response = strict().post(
        "/book-appointment/", body, content_type="application/json", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 400  # past time: the request was read, not refused


@override_settings(CSRF_COOKIE_HTTPONLY=True)
def test_htmx_requests_carry_the_token_from_the_page_when_the_cookie_is_http_only(world):
    client = strict(world.patient.user)
    url = f"/my/appointments/{world.appointment.pk}/"
    page = client.get(url)
    assert page.cookies["csrftoken"]["httponly"], (
        "the cookie is out of reach of scripts, so htmx cannot read it from there"
    )
    headers = json.loads(re.search(r"<body hx-headers='([^']+)'", page.content.decode()).group(1))
    assert set(headers) == {"X-CSRFToken"}

    refused = client.post(url, {"action": "cancel"}, headers={"HX-Request": "true"})
    assert refused.status_code == 403
    done = client.post(url, {"action": "cancel"}, headers={"HX-Request": "true", **headers})
    assert done.status_code == 200
    world.appointment.refresh_from_db()
    assert world.appointment.status == Appointment.Status.CANCELLED
