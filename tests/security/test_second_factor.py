"""The second factor on the sign-in page and the admin's sign-in (which hands over to it): right,
wrong, replayed and recovery codes, the lockout counting wrong codes, setting one up, and staff
held at the setup while MFA_REQUIRED_FOR_STAFF is on."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from allauth.mfa.models import Authenticator
from django.contrib.auth import SESSION_KEY
from django.core.cache import cache
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clinic import lockout, second_factor
from tests import factories
from tests.signin import (
    admin_sign_in,
    code_step,
    early_in_a_time_step,
    page_sign_in,
    recovery_codes,
    totp_code,
    totp_give,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _codes_stay_current():
    with early_in_a_time_step():
        yield


CODE_STEP = "/accounts/2fa/authenticate/"
SETUP = "/accounts/2fa/totp/activate/"


def signed_in_as(client: Client, user) -> bool:
    return client.session.get(SESSION_KEY) == str(user.pk)


def next_step():
    """30 seconds on: the authenticator app shows its next code."""
    return time_machine.travel(timezone.now() + timedelta(seconds=30), tick=False)


# --- The sign-in page ---------------------------------------------------------------------------


def test_without_a_second_factor_the_password_signs_in(patient):
    client = Client()
    response = page_sign_in(client, patient.user.username)
    assert response.status_code == 302 and response["Location"] == "/my/appointments/"
    assert signed_in_as(client, patient.user)


def test_with_a_second_factor_the_password_leads_to_the_code_step_and_the_right_code_signs_in(patient):
    secret = totp_give(patient.user)
    client = Client()
    response = page_sign_in(client, patient.user.username)
    assert response.status_code == 302 and response["Location"] == CODE_STEP
    assert not signed_in_as(client, patient.user)
    page = client.get(CODE_STEP)
    assert page.status_code == 200 and "Enter your code" in page.content.decode()
    response = code_step(client, totp_code(secret))
    assert response.status_code == 302 and response["Location"] == "/my/appointments/"
    assert signed_in_as(client, patient.user)


def test_a_wrong_code_is_refused_and_signs_nobody_in(patient):
    secret = totp_give(patient.user)
    client = Client()
    page_sign_in(client, patient.user.username)
    wrong = str((int(totp_code(secret)) + 1) % 1_000_000).zfill(6)
    for code in (wrong, "abcdef", "1234567890123", ""):
        response = code_step(client, code)
        assert response.status_code == 200, code
        assert not signed_in_as(client, patient.user)
    assert "Incorrect code." in code_step(client, wrong).content.decode()


def test_a_code_used_once_is_refused_the_second_time(patient):
    secret = totp_give(patient.user)
    code = totp_code(secret)
    first = Client()
    page_sign_in(first, patient.user.username)
    assert code_step(first, code).status_code == 302
    second = Client()
    page_sign_in(second, patient.user.username)
    response = code_step(second, code)
    assert response.status_code == 200 and "Incorrect code." in response.content.decode()
    assert not signed_in_as(second, patient.user)


def test_a_replayed_code_is_refused_even_by_a_process_that_did_not_see_it_used(patient):
    """allauth marks a used code in the cache, which is per process by default; the used time
    step is also recorded on the authenticator, so another web worker refuses the code too."""
    secret = totp_give(patient.user)
    code = totp_code(secret)
    assert second_factor.code_verify(user=patient.user, code=code) is not None
    cache.clear()  # another process: allauth's mark is not there
    assert second_factor.code_verify(user=patient.user, code=code) is None
    with next_step():
        assert second_factor.code_verify(user=patient.user, code=totp_code(secret)) is not None


def test_a_recovery_code_signs_in_once(patient):
    totp_give(patient.user)
    code = recovery_codes(patient.user)[0]
    first = Client()
    page_sign_in(first, patient.user.username)
    assert code_step(first, code).status_code == 302
    assert signed_in_as(first, patient.user)
    assert code not in recovery_codes(patient.user)
    second = Client()
    page_sign_in(second, patient.user.username)
    assert code_step(second, code).status_code == 200
    assert not signed_in_as(second, patient.user)


# --- The admin's sign-in ------------------------------------------------------------------------


def test_the_admin_login_hands_over_to_the_sign_in_page_keeping_next():
    response = Client().get("/admin/login/", {"next": "/admin/calendar/"})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=%2Fadmin%2Fcalendar%2F"


def test_the_admin_login_keeps_no_next_that_leaves_the_site():
    response = Client().get("/admin/login/", {"next": "https://evil.example/"})
    assert response["Location"] == "/accounts/login/?next=%2Fadmin%2F"


def test_staff_without_a_second_factor_reach_the_admin_with_the_password(reception):
    client = Client()
    response = admin_sign_in(client, reception.username, factories.PASSWORD, next_url="/admin/calendar/")
    assert response.status_code == 302 and response["Location"] == "/admin/calendar/"
    assert client.get("/admin/calendar/").status_code == 200


def test_staff_with_a_second_factor_reach_the_admin_with_the_right_code_only(reception):
    secret = totp_give(reception)
    client = Client()
    response = admin_sign_in(client, reception.username, factories.PASSWORD, next_url="/admin/calendar/")
    assert response["Location"] == CODE_STEP
    assert client.get("/admin/calendar/").status_code == 302  # not signed in yet
    assert code_step(client, "000000" if totp_code(secret) != "000000" else "111111").status_code == 200
    response = code_step(client, totp_code(secret))
    assert response.status_code == 302 and response["Location"] == "/admin/calendar/"
    assert client.get("/admin/calendar/").status_code == 200


def test_the_admin_refuses_a_replayed_code_and_takes_a_recovery_code_once(reception):
    secret = totp_give(reception)
    code = totp_code(secret)
    first = Client()
    admin_sign_in(first, reception.username, factories.PASSWORD)
    assert code_step(first, code)["Location"] == "/admin/"
    replay = Client()
    admin_sign_in(replay, reception.username, factories.PASSWORD)
    assert code_step(replay, code).status_code == 200
    assert replay.get("/admin/").status_code == 302
    recovery = recovery_codes(reception)[3]
    assert code_step(replay, recovery)["Location"] == "/admin/"
    again = Client()
    admin_sign_in(again, reception.username, factories.PASSWORD)
    assert code_step(again, recovery).status_code == 200


def test_someone_signed_in_without_admin_access_is_told_so(patient):
    client = Client()
    client.force_login(patient.user)
    response = client.get("/admin/login/", {"next": "/admin/"})
    assert response.status_code == 200
    assert "has no access to the staff admin" in response.content.decode()


# --- The lockout counts wrong codes -------------------------------------------------------------


@pytest.fixture
def _lockout_on(settings):
    settings.AXES_ENABLED = True
    cache.clear()
    yield
    cache.clear()


@pytest.mark.usefixtures("_lockout_on")
@pytest.mark.parametrize("path", ["page", "admin"])
def test_five_wrong_codes_lock_the_account_out_even_for_the_right_code(reception, path):
    secret = totp_give(reception)
    client = Client()
    if path == "page":
        page_sign_in(client, reception.username)
    else:
        admin_sign_in(client, reception.username, factories.PASSWORD)
    wrong = "000000" if totp_code(secret) != "000000" else "111111"
    for _ in range(4):
        assert code_step(client, wrong).status_code == 200
    locked = code_step(client, wrong)
    assert locked.status_code == 429
    assert lockout.lockout_message() in locked.content.decode()
    right = code_step(client, totp_code(secret))
    assert right.status_code == 429
    assert not signed_in_as(client, reception)
    # The password, from this address, is refused too now.
    assert page_sign_in(Client(), reception.username).status_code == 429


@pytest.mark.usefixtures("_lockout_on")
def test_wrong_codes_and_wrong_passwords_count_together(reception):
    secret = totp_give(reception)
    for _ in range(2):
        page_sign_in(Client(), reception.username, "not-the-password")
    client = Client()
    page_sign_in(client, reception.username)
    wrong = "000000" if totp_code(secret) != "000000" else "111111"
    assert code_step(client, wrong).status_code == 200
    assert code_step(client, wrong).status_code == 200
    assert code_step(client, wrong).status_code == 429


@pytest.mark.usefixtures("_lockout_on")
def test_a_right_code_clears_the_count(reception):
    secret = totp_give(reception)
    client = Client()
    page_sign_in(client, reception.username)
    wrong = "000000" if totp_code(secret) != "000000" else "111111"
    for _ in range(4):
        code_step(client, wrong)
    assert code_step(client, totp_code(secret)).status_code == 302
    fresh = Client()
    for _ in range(4):
        assert page_sign_in(fresh, reception.username, "not-the-password").status_code == 200


# --- Setting one up -----------------------------------------------------------------------------


def _setup_page(client: Client):
    page = client.get(SETUP)
    assert page.status_code == 200, page
    return page, page.context["form"].secret


def test_setting_up_with_a_wrong_code_shows_an_error_and_activates_nothing(patient):
    client = Client()
    page_sign_in(client, patient.user.username)
    _, secret = _setup_page(client)
    wrong = "000000" if totp_code(secret) != "000000" else "111111"
    for code in (wrong, "letters", ""):
        response = client.post(SETUP, {"code": code})
        assert response.status_code == 200, code
        assert response.context["form"].errors["code"], code
    assert not Authenticator.objects.filter(user=patient.user).exists()


def test_a_patient_sets_up_an_app_from_their_pages_and_gets_recovery_codes(patient):
    client = Client()
    page_sign_in(client, patient.user.username)
    assert 'href="/accounts/2fa/"' in client.get("/my/appointments/").content.decode()
    page, secret = _setup_page(client)
    body = page.content.decode()
    assert 'src="data:image/svg+xml;base64,' in body and secret in body
    response = client.post(SETUP, {"code": totp_code(secret)})
    assert response.status_code == 302 and response["Location"] == "/accounts/2fa/recovery-codes/"
    codes = client.get(response["Location"])
    assert codes.status_code == 200
    assert all(code in codes.content.decode() for code in recovery_codes(patient.user))
    assert second_factor.has_second_factor(patient.user)


def test_a_patient_may_turn_it_off_but_staff_may_not_while_it_is_required(patient, reception):
    for user in (patient.user, reception):
        totp_give(user)
    client = Client()
    page_sign_in(client, patient.user.username)
    code_step(client, totp_code(Authenticator.objects.get(user=patient.user, type="totp").data["secret"]))
    assert client.post("/accounts/2fa/totp/deactivate/").status_code == 302
    assert not Authenticator.objects.filter(user=patient.user).exists()
    with override_settings(MFA_REQUIRED_FOR_STAFF=True):
        staff = Client()
        page_sign_in(staff, reception.username)
        code_step(staff, totp_code(Authenticator.objects.get(user=reception, type="totp").data["secret"]))
        response = staff.post("/accounts/2fa/totp/deactivate/")
        assert response.status_code == 200
        assert "must keep their authenticator app" in response.content.decode()
    assert Authenticator.objects.filter(user=reception, type="totp").exists()


# --- Staff held at the setup while it is required ---------------------------------------------


@override_settings(MFA_REQUIRED_FOR_STAFF=True)
@pytest.mark.parametrize("role", ["reception", "clinic_admin", "staff_doctor"])
def test_staff_without_a_second_factor_are_sent_to_set_one_up_from_every_page(request, role):
    user = (
        factories.DoctorFactory(user__is_staff=True).user if role == "staff_doctor" else request.getfixturevalue(role)
    )
    client = Client()
    admin_sign_in(client, user.username, factories.PASSWORD)
    for url in ("/admin/", "/admin/calendar/", "/admin/clinic/appointment/", "/my/appointments/", "/book/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"] == SETUP, url
    api = client.get("/appointments/")
    assert api.status_code == 403 and api.json()["code"] == "mfa_setup_required"
    # The setup, its recovery codes, the security page and signing out stay open.
    page, secret = _setup_page(client)
    assert "Staff accounts sign in with a second factor" in page.content.decode()
    assert client.get("/accounts/2fa/").status_code == 200
    assert client.post(SETUP, {"code": totp_code(secret)})["Location"] == "/accounts/2fa/recovery-codes/"
    assert client.get("/accounts/2fa/recovery-codes/").status_code == 200
    assert client.get("/admin/").status_code == 200
    assert client.post("/accounts/logout/").status_code == 302


def test_patients_are_not_held_and_the_check_costs_them_no_query(patient):
    client = Client()
    client.force_login(patient.user)
    client.get("/my/appointments/")  # the session's first write

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/my/appointments/").status_code == 200
        return len(captured.captured_queries)

    without = queries()
    with override_settings(MFA_REQUIRED_FOR_STAFF=True):
        assert queries() == without
        assert not second_factor.setup_required(patient.user)


def test_the_setup_asks_for_the_password_again_once_the_sign_in_is_old(patient):
    client = Client()
    page_sign_in(client, patient.user.username)
    with time_machine.travel(timezone.now() + timedelta(minutes=6), tick=False):
        response = client.get(SETUP)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/reauthenticate/")


@override_settings(MFA_REQUIRED_FOR_STAFF=False)
def test_with_the_requirement_off_staff_are_not_held(reception):
    client = Client()
    client.force_login(reception)
    assert client.get("/admin/").status_code == 200
