"""/api/token/ with a second factor: `otp` right, wrong, replayed, a recovery code, malformed;
the lockout counting wrong codes; staff without a second factor while it is required."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from clinic import lockout, second_factor
from tests import factories
from tests.signin import early_in_a_time_step, recovery_codes, totp_code, totp_give

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _codes_stay_current():
    with early_in_a_time_step():
        yield


def token(user, otp=None, *, client: APIClient | None = None, address: str = "127.0.0.1", **body):
    data = {"username": user.username, "password": factories.PASSWORD, **body}
    if otp is not None:
        data["otp"] = otp
    return (client or APIClient()).post("/api/token/", data, format="json", REMOTE_ADDR=address)


def wrong_code(secret: str) -> str:
    return "000000" if totp_code(secret) != "000000" else "111111"


def test_an_account_without_a_second_factor_needs_no_otp_and_ignores_one(patient):
    assert token(patient.user).status_code == 200
    assert token(patient.user, "123456").status_code == 200


def test_without_otp_the_answer_is_401_mfa_required(patient):
    totp_give(patient.user)
    for otp in (None, ""):
        response = token(patient.user, otp)
        assert response.status_code == 401
        assert response.json() == {"detail": second_factor.MFA_REQUIRED, "code": "mfa_required"}
        assert response["WWW-Authenticate"].startswith("Bearer")
    response = APIClient().post(
        "/api/token/", {"username": patient.user.username, "password": factories.PASSWORD, "otp": None}, format="json"
    )
    assert response.status_code == 401 and response.json()["code"] == "mfa_required"


def test_the_right_code_gives_tokens_that_work(patient):
    secret = totp_give(patient.user)
    response = token(patient.user, totp_code(secret))
    assert response.status_code == 200, response.content
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['access']}")
    assert client.get("/appointments/").status_code == 200


def test_a_code_sent_as_a_json_number_works(patient):
    secret = totp_give(patient.user)
    # A moment whose code has no leading zero (a number cannot carry one).
    moment = next(
        timezone.now() + timedelta(seconds=30 * n)
        for n in range(50)
        if not _code_at(secret, timezone.now() + timedelta(seconds=30 * n)).startswith("0")
    )
    with time_machine.travel(moment, tick=False):
        assert token(patient.user, int(totp_code(secret))).status_code == 200


def _code_at(secret: str, moment) -> str:
    with time_machine.travel(moment, tick=False):
        return totp_code(secret)


def test_a_wrong_code_is_401_mfa_invalid(patient):
    secret = totp_give(patient.user)
    response = token(patient.user, wrong_code(secret))
    assert response.status_code == 401
    assert response.json() == {"detail": second_factor.MFA_INVALID, "code": "mfa_invalid"}


@pytest.mark.parametrize(
    "otp", ["abcdef", "12345a", "1234567890123456789", "12 34", "١٢٣٤٥٦", "x" * 10_000, [], {}, True]
)
def test_a_malformed_otp_is_401_mfa_invalid_never_a_400_or_500(patient, otp):
    totp_give(patient.user)
    response = token(patient.user, otp)
    assert response.status_code == 401, response.content
    assert response.json()["code"] == "mfa_invalid"


def test_a_code_is_refused_when_replayed(patient):
    secret = totp_give(patient.user)
    code = totp_code(secret)
    assert token(patient.user, code).status_code == 200
    replay = token(patient.user, code)
    assert replay.status_code == 401 and replay.json()["code"] == "mfa_invalid"
    cache.clear()  # as another web worker, without allauth's mark of the used code
    assert token(patient.user, code).status_code == 401
    with time_machine.travel(timezone.now() + timedelta(seconds=30), tick=False):
        assert token(patient.user, totp_code(secret)).status_code == 200


def test_a_code_used_on_the_sign_in_page_is_refused_here(patient):
    secret = totp_give(patient.user)
    code = totp_code(secret)
    assert second_factor.code_verify(user=patient.user, code=code) is not None
    assert token(patient.user, code).status_code == 401


def test_a_recovery_code_works_once(patient):
    totp_give(patient.user)
    code = recovery_codes(patient.user)[0]
    assert token(patient.user, code).status_code == 200
    again = token(patient.user, code)
    assert again.status_code == 401 and again.json()["code"] == "mfa_invalid"
    assert token(patient.user, recovery_codes(patient.user)[0]).status_code == 200


def test_a_wrong_password_with_a_right_code_is_the_usual_401(patient):
    secret = totp_give(patient.user)
    response = token(patient.user, totp_code(secret), password="not-the-password")
    assert response.status_code == 401
    assert response.json() == token(factories.PatientFactory().user, password="not-the-password").json()
    assert "mfa" not in response.content.decode()


# --- The lockout --------------------------------------------------------------------------------


@pytest.fixture
def _lockout_on(settings):
    settings.AXES_ENABLED = True
    cache.clear()
    yield
    cache.clear()


@pytest.mark.usefixtures("_lockout_on")
def test_five_wrong_codes_lock_the_account_out_with_a_429(patient):
    secret = totp_give(patient.user)
    for _ in range(4):
        assert token(patient.user, wrong_code(secret)).status_code == 401
    locked = token(patient.user, wrong_code(secret))
    assert locked.status_code == 429
    assert locked.json() == {"detail": lockout.lockout_message()}
    assert token(patient.user, totp_code(secret)).status_code == 429
    # Another address is not locked out.
    assert token(patient.user, totp_code(secret), address="10.0.0.9").status_code == 200


@pytest.mark.usefixtures("_lockout_on")
def test_malformed_codes_count_too_and_a_missing_one_does_not(patient):
    secret = totp_give(patient.user)
    for _ in range(6):
        assert token(patient.user).status_code == 401
    for _ in range(4):
        assert token(patient.user, "letters").status_code == 401
    assert token(patient.user, "").status_code == 401  # mfa_required: not counted
    assert token(patient.user, "letters").status_code == 429
    assert token(patient.user, totp_code(secret)).status_code == 429


@pytest.mark.usefixtures("_lockout_on")
def test_a_right_code_clears_the_count(patient):
    secret = totp_give(patient.user)
    for _ in range(4):
        token(patient.user, wrong_code(secret))
    assert token(patient.user, totp_code(secret)).status_code == 200
    for _ in range(4):
        assert token(patient.user, wrong_code(secret)).status_code == 401


# --- Staff while a second factor is required ---------------------------------------------------


@override_settings(MFA_REQUIRED_FOR_STAFF=True)
def test_staff_without_a_second_factor_get_no_token_while_it_is_required(reception, clinic_admin):
    for user in (reception, clinic_admin, factories.DoctorFactory(user__is_staff=True).user):
        response = token(user)
        assert response.status_code == 403
        assert response.json() == {"detail": second_factor.MFA_SETUP_REQUIRED, "code": "mfa_setup_required"}


@override_settings(MFA_REQUIRED_FOR_STAFF=True)
def test_staff_with_a_second_factor_and_everyone_else_sign_in_as_usual(reception, patient):
    secret = totp_give(reception)
    assert token(reception).json()["code"] == "mfa_required"
    assert token(reception, totp_code(secret)).status_code == 200
    assert token(patient.user).status_code == 200
    assert token(factories.DoctorFactory().user).status_code == 200  # a doctor without staff access


def test_a_staff_token_stops_refreshing_once_a_second_factor_is_required(reception):
    refresh = token(reception).json()["refresh"]
    with override_settings(MFA_REQUIRED_FOR_STAFF=True):
        response = APIClient().post("/api/token/refresh/", {"refresh": refresh}, format="json")
    assert response.status_code == 403 and response.json()["code"] == "mfa_setup_required"


def test_the_schema_documents_otp_and_the_new_codes():
    schema = APIClient().get("/api/schema/?format=json").json()
    request = schema["components"]["schemas"]["LoginRequest"]
    assert "otp" in request["properties"] and "otp" not in request.get("required", [])
    operation = schema["paths"]["/api/token/"]["post"]
    text = str(operation)
    for code in ("mfa_required", "mfa_invalid", "mfa_setup_required"):
        assert code in text, code
