"""Security headers on an API response, an admin page and a booking page; production's
HTTPS-only cookies and HSTS."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from http.cookies import SimpleCookie

import pytest
from django.conf import settings
from django.test import Client, override_settings
from rest_framework.test import APIClient

from clinic.api.tokens import ClinicRefreshToken
from tests import factories

pytestmark = pytest.mark.django_db

POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
}

# What production.py sets, read from it by a subprocess (a key is generated for it).
PRODUCTION_NAMES = (
    "DEBUG",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_SSL_REDIRECT",
    "SECURE_PROXY_SSL_HEADER",
    "SECURE_CONTENT_TYPE_NOSNIFF",
    "SECURE_REFERRER_POLICY",
    "X_FRAME_OPTIONS",
    "SESSION_COOKIE_SECURE",
    "SESSION_COOKIE_HTTPONLY",
    "CSRF_COOKIE_SECURE",
    "CSRF_COOKIE_HTTPONLY",
    "CONTENT_SECURITY_POLICY",
)


def parse_policy(header: str) -> dict[str, str]:
    directives = (part.strip().split(" ", 1) for part in header.split(";") if part.strip())
    return dict(directives)


def assert_strict_headers(response) -> None:
    policy = parse_policy(response["Content-Security-Policy"])
    for name, value in POLICY.items():
        assert policy[name] == value, name
    assert not any("unsafe-" in value for value in policy.values())
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    cache_control = {part.strip() for part in response["Cache-Control"].split(",")}
    assert {"no-store", "private"} <= cache_control


@pytest.fixture
def booked(next_monday_10):
    return factories.AppointmentFactory(appointment_time=next_monday_10)


def test_an_api_response_with_patient_data_carries_the_headers(booked):
    client = APIClient()
    token = ClinicRefreshToken.for_user(booked.patient.user).access_token
    response = client.get(f"/appointments/{booked.pk}/", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200
    assert_strict_headers(response)


def test_an_api_error_carries_the_headers_too(db):
    response = APIClient().get("/appointments/")
    assert response.status_code == 401
    assert_strict_headers(response)


def test_an_admin_page_carries_the_headers(booked):
    client = Client()
    client.force_login(factories.ReceptionFactory())
    response = client.get(f"/admin/clinic/appointment/{booked.pk}/change/")
    assert response.status_code == 200
    assert_strict_headers(response)


def test_a_booking_page_carries_the_headers(booked):
    client = Client()
    client.force_login(booked.patient.user)
    for path in ("/book/", "/my/appointments/", f"/my/appointments/{booked.pk}/"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert_strict_headers(response)


def test_swagger_ui_and_its_script_carry_the_policy(db):
    page = Client().get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<script>" not in html and "<style>" not in html
    assert 'src="/api/docs/?script="' in html
    assert_strict_headers(page)
    script = Client().get("/api/docs/", {"script": ""})
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle(" in script.content.decode()


@pytest.fixture(scope="module")
def production() -> dict:
    """The security settings production.py ends up with, read in a separate interpreter."""
    code = (
        "import json, django; django.setup(); from django.conf import settings; "
        f"print(json.dumps({{n: getattr(settings, n) for n in {PRODUCTION_NAMES!r}}}, default=list))"
    )
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
    }
    for name in ("DJANGO_SECURE_SSL_REDIRECT", "DJANGO_SECURE_HSTS_SECONDS", "DJANGO_DEBUG"):
        environment.pop(name, None)
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=settings.BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_demands_https_and_hides_cookies_from_scripts(production):
    assert production["DEBUG"] is False
    assert production["SECURE_HSTS_SECONDS"] >= 365 * 24 * 3600
    assert production["SECURE_HSTS_INCLUDE_SUBDOMAINS"] and production["SECURE_HSTS_PRELOAD"]
    assert production["SECURE_SSL_REDIRECT"] is True
    assert production["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    for name in ("SESSION_COOKIE_SECURE", "SESSION_COOKIE_HTTPONLY", "CSRF_COOKIE_SECURE", "CSRF_COOKIE_HTTPONLY"):
        assert production[name] is True, name
    assert production["X_FRAME_OPTIONS"] == "DENY"
    assert production["SECURE_CONTENT_TYPE_NOSNIFF"] is True
    assert production["CONTENT_SECURITY_POLICY"] == settings.CONTENT_SECURITY_POLICY


def test_under_production_settings_responses_carry_hsts_and_cookies_are_secure_and_http_only(production):
    """Production's values applied here: an HTTPS sign-in gets HSTS and cookies no script can read."""
    names = [name for name in PRODUCTION_NAMES if name not in ("DEBUG", "CONTENT_SECURITY_POLICY")]
    values = {name: production[name] for name in names}
    values["SECURE_PROXY_SSL_HEADER"] = tuple(values["SECURE_PROXY_SSL_HEADER"])
    user = factories.PatientFactory().user
    with override_settings(**values):
        client = Client()
        plain = client.get("/accounts/login/")
        assert plain.status_code == 301 and plain["Location"].startswith("https://")

        page = client.get("/accounts/login/", HTTP_X_FORWARDED_PROTO="https")
        assert page.status_code == 200
        assert page["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
        assert_strict_headers(page)
        signed_in = client.post(
            "/accounts/login/",
            {"login": user.username, "password": factories.PASSWORD},
            HTTP_X_FORWARDED_PROTO="https",
        )
        assert signed_in.status_code == 302

    cookies = SimpleCookie()
    for response in (page, signed_in):
        for morsel in response.cookies.values():
            cookies[morsel.key] = morsel
    for name in (settings.SESSION_COOKIE_NAME, settings.CSRF_COOKIE_NAME):
        assert cookies[name]["secure"] is True, name
        assert cookies[name]["httponly"] is True, name
