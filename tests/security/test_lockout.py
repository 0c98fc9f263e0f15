"""Login lockout (django-axes): 5 failures of one username from one address lock that pair
for 15 minutes, on the admin login, the sign-in page and /api/token/ alike."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from axes.models import AccessAttempt
from django.contrib.auth import SESSION_KEY
from django.core.cache import cache
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from clinic import lockout
from tests import factories
from tests.security.conftest import WRONG
from tests.signin import admin_sign_in

pytestmark = pytest.mark.django_db

LIMIT = 5


@pytest.fixture(autouse=True)
def _lockout_on(settings):
    """The lockout is off in the test settings (the test client signs in without a request)."""
    settings.AXES_ENABLED = True
    cache.clear()
    yield
    cache.clear()


def admin_login(client: Client, username: str, password: str, address: str = "127.0.0.1"):
    return admin_sign_in(client, username, password, REMOTE_ADDR=address)


def page_login(client: Client, login: str, password: str, address: str = "127.0.0.1"):
    return client.post("/accounts/login/", {"login": login, "password": password}, REMOTE_ADDR=address)


def token_login(client: APIClient, username: str, password: str, address: str = "127.0.0.1"):
    return client.post("/api/token/", {"username": username, "password": password}, REMOTE_ADDR=address)


def signed_in(client: Client) -> bool:
    return SESSION_KEY in client.session


# --- The admin login --------------------------------------------------------------------


def test_the_admin_login_locks_a_username_after_five_failures_with_a_429_page():
    factories.AdminFactory(username="boss")
    client = Client()
    for _ in range(LIMIT - 1):
        response = admin_login(client, "boss", WRONG)
        assert response.status_code == 200
        assert "password you specified are not correct" in response.content.decode()
    locked = admin_login(client, "boss", WRONG)
    assert locked.status_code == 429
    assert lockout.lockout_message() in locked.content.decode()
    assert lockout.LOCKOUT_TEMPLATE in [template.name for template in locked.templates]
    # Even the right password is refused while locked.
    right = admin_login(client, "boss", factories.PASSWORD)
    assert right.status_code == 429
    assert not signed_in(client)


# --- The sign-in page (allauth) ---------------------------------------------------------


def test_the_sign_in_page_locks_after_five_failures_and_shows_the_lockout_page(alice):
    client = Client()
    for _ in range(LIMIT - 1):
        assert page_login(client, "alice", WRONG).status_code == 200
    locked = page_login(client, "alice", WRONG)
    assert locked.status_code == 429
    body = locked.content.decode()
    assert lockout.lockout_message() in body
    assert "Sign-in paused" in body and "/accounts/password/reset/" in body
    assert page_login(client, "alice", factories.PASSWORD).status_code == 429
    assert not signed_in(client)


def test_email_and_username_in_any_case_count_as_one_account(alice):
    client = Client()
    for typed in ("ALICE@example.test", "alice", "Alice", "alice@EXAMPLE.test"):
        assert page_login(client, typed, WRONG).status_code == 200
    assert page_login(client, "aLiCe", WRONG).status_code == 429
    assert page_login(client, "alice@example.test", factories.PASSWORD).status_code == 429


def test_a_successful_sign_in_resets_the_count(alice):
    client = Client()
    for _ in range(LIMIT - 1):
        page_login(client, "alice", WRONG)
    assert page_login(client, "alice", factories.PASSWORD).status_code == 302
    client.post("/accounts/logout/")
    for _ in range(LIMIT - 1):
        assert page_login(client, "alice", WRONG).status_code == 200
    assert page_login(client, "alice", factories.PASSWORD).status_code == 302


# --- /api/token/ --------------------------------------------------------------------------


def test_the_token_endpoint_locks_after_five_failures_with_a_429_json(alice):
    client = APIClient()
    for _ in range(LIMIT - 1):
        assert token_login(client, "alice", WRONG).status_code == 401
    locked = token_login(client, "alice", WRONG)
    assert locked.status_code == 429
    assert locked.json() == {"detail": lockout.lockout_message()}
    assert locked["Retry-After"] == str(15 * 60)
    right = token_login(client, "alice", factories.PASSWORD)
    assert right.status_code == 429
    assert "access" not in right.json()


def test_known_and_unknown_usernames_get_the_same_answers_before_and_at_lockout(alice):
    client = APIClient()
    known = [token_login(client, "alice", WRONG) for _ in range(LIMIT + 1)]
    unknown = [token_login(client, "nobody-by-this-name", WRONG) for _ in range(LIMIT + 1)]
    assert [r.status_code for r in known] == [401] * (LIMIT - 1) + [429, 429]
    assert [(r.status_code, r.json()) for r in known] == [(r.status_code, r.json()) for r in unknown]


def test_a_successful_token_login_resets_the_count(alice):
    client = APIClient()
    for _ in range(LIMIT - 1):
        token_login(client, "alice", WRONG)
    assert token_login(client, "alice", factories.PASSWORD).status_code == 200
    assert not AccessAttempt.objects.filter(username="alice").exists()
    for _ in range(LIMIT - 1):
        assert token_login(client, "alice", WRONG).status_code == 401
    assert token_login(client, "alice", factories.PASSWORD).status_code == 200


def test_the_count_is_shared_by_the_three_login_paths(alice):
    """An attacker gains no guesses by spreading them over the admin, the page and the API."""
    api, browser = APIClient(), Client()
    token_login(api, "alice", WRONG)
    token_login(api, "alice", WRONG)
    page_login(browser, "alice@example.test", WRONG)
    page_login(browser, "alice", WRONG)
    assert admin_login(browser, "alice", WRONG).status_code == 429
    assert token_login(api, "alice", factories.PASSWORD).status_code == 429


# --- Per pair, never per address alone ------------------------------------------------------


def test_the_lockout_is_per_username_and_address(alice):
    factories.PatientFactory(user__username="bob")
    client = APIClient()
    for _ in range(LIMIT):
        token_login(client, "alice", WRONG, address="10.0.0.1")
    assert token_login(client, "alice", factories.PASSWORD, address="10.0.0.1").status_code == 429
    # Everyone else behind the same address still signs in …
    assert token_login(client, "bob", factories.PASSWORD, address="10.0.0.1").status_code == 200
    # … and so does alice from elsewhere.
    assert token_login(client, "alice", factories.PASSWORD, address="10.0.0.2").status_code == 200


def test_a_forged_forwarded_for_header_does_not_escape_the_lockout(alice):
    client = APIClient()
    for n in range(LIMIT):
        client.post("/api/token/", {"username": "alice", "password": WRONG}, HTTP_X_FORWARDED_FOR=f"203.0.113.{n}")
    response = client.post(
        "/api/token/", {"username": "alice", "password": factories.PASSWORD}, HTTP_X_FORWARDED_FOR="203.0.113.99"
    )
    assert response.status_code == 429


def test_behind_trusted_proxies_the_address_they_saw_counts(rf, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    request = rf.post("/api/token/", REMOTE_ADDR="10.1.1.1", HTTP_X_FORWARDED_FOR="1.2.3.4, 198.51.100.7")
    assert lockout.client_address(request) == "198.51.100.7"
    settings.TRUSTED_PROXY_COUNT = 0
    assert lockout.client_address(request) == "10.1.1.1"


def test_the_lockout_ends_after_the_15_minute_cool_off(alice):
    client = APIClient()
    for _ in range(LIMIT):
        token_login(client, "alice", WRONG)
    assert token_login(client, "alice", factories.PASSWORD).status_code == 429
    with time_machine.travel(timezone.now() + timedelta(minutes=16)):
        assert token_login(client, "alice", factories.PASSWORD).status_code == 200


# --- Unlock in the admin ---------------------------------------------------------------------


def _lock_out_alice() -> APIClient:
    client = APIClient()
    for _ in range(LIMIT):
        token_login(client, "alice", WRONG)
    assert token_login(client, "alice", factories.PASSWORD).status_code == 429
    return client


def test_the_clinic_admin_unlocks_an_account_by_deleting_its_attempt(alice, clinic_admin):
    client = _lock_out_alice()
    attempt = AccessAttempt.objects.get(username="alice")
    staff = Client()
    staff.force_login(clinic_admin)
    changelist = staff.get("/admin/axes/accessattempt/")
    assert changelist.status_code == 200
    assert "alice" in changelist.content.decode()
    confirm = staff.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})
    assert confirm.status_code == 302
    assert token_login(client, "alice", factories.PASSWORD).status_code == 200


def test_the_unlock_action_unlocks_the_selected_rows(alice, clinic_admin):
    client = _lock_out_alice()
    attempt = AccessAttempt.objects.get(username="alice")
    staff = Client()
    staff.force_login(clinic_admin)
    response = staff.post(
        "/admin/axes/accessattempt/", {"action": "unlock", "_selected_action": [attempt.pk]}, follow=True
    )
    assert "Unlocked: alice from 127.0.0.1." in response.content.decode()
    assert token_login(client, "alice", factories.PASSWORD).status_code == 200


@pytest.mark.parametrize("role", ["reception", "doctor"])
def test_reception_and_doctors_cannot_see_or_unlock_attempts(alice, reception, role):
    _lock_out_alice()
    attempt = AccessAttempt.objects.get(username="alice")
    user = reception if role == "reception" else factories.DoctorFactory(user__is_staff=True).user
    staff = Client()
    staff.force_login(user)
    assert staff.get("/admin/axes/accessattempt/").status_code == 403
    assert staff.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"}).status_code == 403
    assert staff.get("/admin/axes/accesslog/").status_code == 403
    assert "accessattempt" not in staff.get("/admin/").content.decode()
    assert AccessAttempt.objects.filter(pk=attempt.pk).exists()


def test_the_clinic_admin_cannot_edit_or_forge_attempts(alice, clinic_admin):
    _lock_out_alice()
    attempt = AccessAttempt.objects.get(username="alice")
    staff = Client()
    staff.force_login(clinic_admin)
    assert staff.get("/admin/axes/accessattempt/add/").status_code == 403
    response = staff.post(f"/admin/axes/accessattempt/{attempt.pk}/change/", {"failures_since_start": 0})
    assert response.status_code == 403
    attempt.refresh_from_db()
    assert attempt.failures_since_start >= LIMIT
