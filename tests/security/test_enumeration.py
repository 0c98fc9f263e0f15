"""No answer, and no amount of work, tells whether a username or an email exists:
on /api/token/, on the sign-in page, on the admin login and on password reset."""

from __future__ import annotations

from unittest import mock

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher
from django.core import mail
from django.core.cache import cache
from django.test import Client
from rest_framework.test import APIClient

from tests import factories
from tests.security.conftest import WRONG
from tests.signin import admin_sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def dormant(db):
    """An inactive account, asked for with its right password."""
    return factories.PatientFactory(user__username="dormant", user__is_active=False).user


def _token_answer(username: str, password: str):
    response = APIClient().post("/api/token/", {"username": username, "password": password})
    return response.status_code, response.json(), response.get("WWW-Authenticate")


def test_the_token_endpoint_answers_unknown_user_wrong_password_and_inactive_account_alike(alice, dormant):
    unknown = _token_answer("nobody-by-this-name", WRONG)
    wrong_password = _token_answer("alice", WRONG)
    inactive = _token_answer("dormant", factories.PASSWORD)
    assert unknown[0] == 401
    assert unknown == wrong_password == inactive


def test_the_token_endpoint_answers_an_unknown_email_like_a_wrong_password(alice):
    assert _token_answer("nobody@example.test", WRONG) == _token_answer("alice@example.test", WRONG)


def _form_errors(response) -> list[str]:
    return [str(error) for error in response.context["form"].non_field_errors()]


@pytest.mark.parametrize(("unknown", "known"), [("nobody", "alice"), ("nobody@example.test", "alice@example.test")])
def test_the_sign_in_page_answers_unknown_and_known_logins_alike(alice, unknown, known):
    client = Client()
    first = client.post("/accounts/login/", {"login": unknown, "password": WRONG})
    second = client.post("/accounts/login/", {"login": known, "password": WRONG})
    assert first.status_code == second.status_code == 200
    assert _form_errors(first) == _form_errors(second) != []


def test_the_admin_login_answers_unknown_and_known_usernames_alike(clinic_admin):
    client = Client()
    first = admin_sign_in(client, "nobody", WRONG)
    second = admin_sign_in(client, clinic_admin.username, WRONG)
    assert first.status_code == second.status_code == 200
    assert _form_errors(first) == _form_errors(second) != []


def test_password_reset_answers_alike_and_mails_only_a_known_address(alice):
    client = Client()
    known = client.post("/accounts/password/reset/", {"email": "alice@example.test"})
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["alice@example.test"]
    unknown = client.post("/accounts/password/reset/", {"email": "nobody@example.test"})
    assert len(mail.outbox) == 1, "nothing is sent to an address without an account"
    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"] == "/accounts/password/reset/done/"
    assert client.get(known["Location"]).status_code == 200


# --- Same work for unknown and known: the password hasher runs either way ----------------


def _hasher_runs(send) -> int:
    """How many times a password is hashed while answering `send()` (the test settings' hasher)."""
    with mock.patch.object(MD5PasswordHasher, "encode", autospec=True, side_effect=MD5PasswordHasher.encode) as encode:
        send()
    return encode.call_count


def test_the_token_endpoint_hashes_as_often_for_an_unknown_user_as_for_a_wrong_password(alice):
    client = APIClient()
    unknown = _hasher_runs(lambda: client.post("/api/token/", {"username": "nobody", "password": WRONG}))
    known = _hasher_runs(lambda: client.post("/api/token/", {"username": "alice", "password": WRONG}))
    assert unknown == known >= 1


@pytest.mark.parametrize(("unknown", "known"), [("nobody", "alice"), ("nobody@example.test", "alice@example.test")])
def test_the_sign_in_page_hashes_as_often_for_an_unknown_login(alice, unknown, known):
    client = Client()
    unknown_runs = _hasher_runs(lambda: client.post("/accounts/login/", {"login": unknown, "password": WRONG}))
    known_runs = _hasher_runs(lambda: client.post("/accounts/login/", {"login": known, "password": WRONG}))
    assert unknown_runs == known_runs >= 1


def test_the_admin_login_hashes_as_often_for_an_unknown_username(clinic_admin):
    client = Client()
    unknown = _hasher_runs(lambda: admin_sign_in(client, "nobody", WRONG))
    known = _hasher_runs(lambda: admin_sign_in(client, clinic_admin.username, WRONG))
    assert unknown == known >= 1
