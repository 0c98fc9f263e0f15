"""/api/token/, /api/token/refresh/, /api/token/blacklist/: JWT login, rotation, caps, refusals."""

from __future__ import annotations

import base64
import json
import threading
from collections import Counter
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework.throttling import ScopedRateThrottle
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from clinic.api.tokens import REFRESH_BLACKLISTED
from tests.factories import PASSWORD, PatientFactory

pytestmark = pytest.mark.django_db


def _login(user) -> dict:
    response = APIClient().post("/api/token/", {"username": user.username, "password": PASSWORD}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def _refresh(token: str):
    return APIClient().post("/api/token/refresh/", {"refresh": token}, format="json")


def _me(access: str):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client.get("/patients/")


def test_login_gives_an_access_and_a_refresh_token_that_work(patient):
    tokens = _login(patient.user)
    assert set(tokens) == {"access", "refresh"}
    response = _me(tokens["access"])
    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [patient.pk]


def test_login_ignores_username_case(patient):
    response = APIClient().post("/api/token/", {"username": patient.user.username.upper(), "password": PASSWORD})
    assert response.status_code == 200


def test_a_wrong_password_answers_401(patient):
    response = APIClient().post("/api/token/", {"username": patient.user.username, "password": "nope"})
    assert response.status_code == 401
    assert "detail" in response.json()


def test_anonymous_requests_answer_401_with_www_authenticate(db):
    response = APIClient().get("/appointments/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def _forge(
    token: str, *, header: dict | None = None, payload_changes: dict | None = None, signature: str | None = None
):
    head, body, sig = token.split(".")

    def enc(data):
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    def dec(part):
        return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))

    new_head = enc(header) if header is not None else head
    new_body = enc({**dec(body), **(payload_changes or {})}) if payload_changes else body
    return f"{new_head}.{new_body}.{sig if signature is None else signature}"


def test_tampered_unsigned_and_wrong_type_tokens_answer_401(patient):
    tokens = _login(patient.user)
    other = PatientFactory()
    forged = [
        _forge(tokens["access"], payload_changes={"user_id": str(other.user.pk)}),
        _forge(tokens["access"], header={"alg": "none", "typ": "JWT"}, signature=""),
        tokens["refresh"],  # a refresh token is not an access token
        "not-a-token",
    ]
    for token in forged:
        response = _me(token)
        assert response.status_code == 401, token
        assert response["WWW-Authenticate"].startswith("Bearer")


def test_an_access_token_expires_after_five_minutes(patient):
    tokens = _login(patient.user)
    with time_machine.travel(timezone.now() + timedelta(minutes=4), tick=False):
        assert _me(tokens["access"]).status_code == 200
    with time_machine.travel(timezone.now() + timedelta(minutes=6), tick=False):
        assert _me(tokens["access"]).status_code == 401


def test_refresh_rotates_and_blacklists_the_old_token(patient):
    tokens = _login(patient.user)
    response = _refresh(tokens["refresh"])
    assert response.status_code == 200
    fresh = response.json()
    assert set(fresh) == {"access", "refresh"} and fresh["refresh"] != tokens["refresh"]
    assert _me(fresh["access"]).status_code == 200
    reused = _refresh(tokens["refresh"])
    assert reused.status_code == 401
    assert _refresh(fresh["refresh"]).status_code == 200


def test_a_refresh_token_used_twice_answers_401_the_second_time(patient):
    refresh = _login(patient.user)["refresh"]
    assert _refresh(refresh).status_code == 200
    again = _refresh(refresh)
    assert again.status_code == 401
    assert again.json() == {"detail": REFRESH_BLACKLISTED, "code": "token_not_valid"}


@pytest.mark.django_db(transaction=True)
def test_one_refresh_token_sent_eight_times_at_once_is_redeemed_once():
    """Real threads, each on its own database connection, outside a test transaction."""
    user = PatientFactory().user
    refresh = _login(user)["refresh"]
    racers = 8
    barrier = threading.Barrier(racers)
    answers: list = [None] * racers

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            response = _refresh(refresh)
            answers[index] = (response.status_code, response.json())
        except Exception as exc:  # pragma: no cover - reported through the assertion below
            answers[index] = (repr(exc), None)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert Counter(status for status, _ in answers) == {200: 1, 401: racers - 1}, answers
    refused = [body for status, body in answers if status == 401]
    assert all(body == {"detail": REFRESH_BLACKLISTED, "code": "token_not_valid"} for body in refused), refused
    # The login's refresh token and the one new token of the one winner.
    assert OutstandingToken.objects.filter(user=user).count() == 2


def test_a_refresh_token_unused_for_30_minutes_is_dead(patient):
    tokens = _login(patient.user)
    with time_machine.travel(timezone.now() + timedelta(minutes=31), tick=False):
        assert _refresh(tokens["refresh"]).status_code == 401


def test_a_login_ends_12_hours_after_sign_in_however_often_it_is_refreshed(patient):
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        refresh = _login(patient.user)["refresh"]
    step = timedelta(minutes=25)
    at = start
    while at + step < start + timedelta(hours=12):
        at += step
        with time_machine.travel(at, tick=False):
            response = _refresh(refresh)
            assert response.status_code == 200, at - start
            refresh = response.json()["refresh"]
    with time_machine.travel(start + timedelta(hours=12, seconds=1), tick=False):
        assert _refresh(refresh).status_code == 401


def test_refresh_for_a_deactivated_or_deleted_user_answers_401(patient):
    tokens = _login(patient.user)
    patient.user.is_active = False
    patient.user.save()
    response = _refresh(tokens["refresh"])
    assert response.status_code == 401 and "detail" in response.json()

    other = PatientFactory()
    tokens = _login(other.user)
    other.delete()
    other.user.delete()
    response = _refresh(tokens["refresh"])
    assert response.status_code == 401 and "detail" in response.json()


def test_blacklisting_a_refresh_token_logs_out(patient):
    tokens = _login(patient.user)
    response = APIClient().post("/api/token/blacklist/", {"refresh": tokens["refresh"]}, format="json")
    assert response.status_code == 200
    assert _refresh(tokens["refresh"]).status_code == 401


def test_token_endpoints_refuse_bad_input_with_json(db):
    client = APIClient()
    assert client.post("/api/token/", {}, format="json").status_code == 400
    assert client.post("/api/token/refresh/", {"refresh": 12}, format="json").status_code == 401
    assert client.post("/api/token/refresh/", "{", content_type="application/json").status_code == 400


def test_token_requests_are_throttled(patient, monkeypatch):
    monkeypatch.setitem(ScopedRateThrottle.THROTTLE_RATES, "tokens", "2/min")
    client = APIClient()
    payload = {"username": patient.user.username, "password": PASSWORD}
    assert [client.post("/api/token/", payload).status_code for _ in range(3)] == [200, 200, 429]
