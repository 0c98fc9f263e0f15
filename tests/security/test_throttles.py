"""Scoped throttles: `/registrations/` (THROTTLE_REGISTRATIONS) and the token endpoints
(THROTTLE_TOKENS, one budget for obtain, refresh and blacklist) answer 429 JSON when exceeded."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.cache import cache
from rest_framework.test import APIClient
from rest_framework.throttling import ScopedRateThrottle

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_throttles():
    """Throttle counters live in the cache: none before, none left behind for other tests."""
    cache.clear()
    yield
    cache.clear()


def _allowed(scope: str) -> int:
    rate = ScopedRateThrottle.THROTTLE_RATES[scope]
    return int(rate.split("/")[0])


def _assert_throttled(response) -> None:
    assert response.status_code == 429
    body = response.json()
    assert body["detail"].startswith("Request was throttled.")
    assert int(response["Retry-After"]) > 0


def test_the_throttles_use_the_configured_rates():
    assert settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] == ScopedRateThrottle.THROTTLE_RATES
    assert set(ScopedRateThrottle.THROTTLE_RATES) == {"registrations", "tokens", "manage-links"}


def test_registrations_answer_429_json_past_their_rate():
    client = APIClient()
    for _ in range(_allowed("registrations")):
        # Invalid sign-ups count too: the throttle runs before the input is read.
        assert client.post("/registrations/", {}).status_code == 400
    _assert_throttled(client.post("/registrations/", {}))


def test_the_token_endpoints_share_one_budget_and_answer_429_json_past_it():
    client = APIClient()
    allowed = _allowed("tokens")
    endpoints = ["/api/token/", "/api/token/refresh/", "/api/token/blacklist/"]
    for n in range(allowed):
        response = client.post(endpoints[n % 3], {"username": "nobody", "password": "x", "refresh": "x"})
        assert response.status_code in (400, 401)
    for endpoint in endpoints:
        _assert_throttled(client.post(endpoint, {"username": "nobody", "password": "x", "refresh": "x"}))


def test_the_throttle_counts_per_client_address():
    client = APIClient()
    for _ in range(_allowed("registrations")):
        client.post("/registrations/", {}, REMOTE_ADDR="10.0.0.1")
    _assert_throttled(client.post("/registrations/", {}, REMOTE_ADDR="10.0.0.1"))
    assert client.post("/registrations/", {}, REMOTE_ADDR="10.0.0.2").status_code == 400


def test_a_forged_forwarded_for_header_does_not_reset_the_throttle():
    client = APIClient()
    for n in range(_allowed("registrations")):
        client.post("/registrations/", {}, HTTP_X_FORWARDED_FOR=f"203.0.113.{n}")
    _assert_throttled(client.post("/registrations/", {}, HTTP_X_FORWARDED_FOR="203.0.113.250"))
