"""Signing in as a person does, for the tests: the admin's login hands over to allauth's sign-in
page, which asks for the second factor's code of a user who has one. Codes are computed from the
authenticator's secret with allauth's own TOTP helpers."""

from __future__ import annotations

import time
from contextlib import contextmanager
from urllib.parse import urlsplit

import time_machine
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import (
    TOTP,
    format_hotp_value,
    generate_totp_secret,
    hotp_value,
    yield_hotp_counters_from_time,
)
from django.test import Client

from tests import factories


def admin_sign_in(
    client: Client, login: str, password: str, *, next_url: str = "/admin/", follow: bool = False, **extra
):
    """The admin's sign-in as a browser goes through it: `/admin/login/?next=…` hands over to
    allauth's sign-in page, where the login and password are posted (with `next`)."""
    handover = client.get("/admin/login/", {"next": next_url}, **extra)
    assert handover.status_code == 302, handover
    target = urlsplit(handover["Location"])
    assert target.path == "/accounts/login/", handover["Location"]
    return client.post(target.path, {"login": login, "password": password, "next": next_url}, follow=follow, **extra)


def page_sign_in(client: Client, login: str, password: str = factories.PASSWORD, **extra):
    return client.post("/accounts/login/", {"login": login, "password": password}, **extra)


def code_step(client: Client, code: str, **extra):
    """The second step of a sign-in in progress: the authenticator's code."""
    return client.post("/accounts/2fa/authenticate/", {"code": code}, **extra)


def totp_give(user, secret: str | None = None) -> str:
    """Give `user` an authenticator app (and recovery codes) as setting one up does; its secret."""
    secret = secret or generate_totp_secret()
    TOTP.activate(user, secret)
    RecoveryCodes.activate(user)
    return secret


def totp_code(secret: str) -> str:
    """The app's code of now."""
    step = next(iter(yield_hotp_counters_from_time()))
    return format_hotp_value(hotp_value(secret, step))


def recovery_codes(user) -> list[str]:
    return Authenticator.objects.get(user=user, type=Authenticator.Type.RECOVERY_CODES).wrap().get_unused_codes()


@contextmanager
def early_in_a_time_step(margin: float = 5.0):
    """Time moved (and still running) to `margin` seconds into a TOTP time step, so a code
    computed now is still the current one when the server checks it."""
    now = time.time()
    start = now - now % 30 + 30 + margin
    with time_machine.travel(start, tick=True):
        yield
