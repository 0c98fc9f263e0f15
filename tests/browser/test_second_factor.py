"""A new reception user's first sign-in with the second factor required, in a real browser:
sent to set up an authenticator app, setting it up, signing out, signing in again with a code,
and the calendar opens. Under the app's Content-Security-Policy (the QR code is an image)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from allauth.mfa.models import Authenticator
from django.utils import timezone
from playwright.sync_api import expect

from tests import factories
from tests.signin import early_in_a_time_step, totp_code

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in(page, username: str) -> None:
    page.get_by_label("Username or email").fill(username)
    page.get_by_label("Password").fill(factories.PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_a_new_reception_user_sets_up_an_app_and_signs_in_with_a_code(open_context, settings):
    settings.MFA_REQUIRED_FOR_STAFF = True
    with early_in_a_time_step(margin=2):
        _first_sign_in_and_the_next(open_context)


def _first_sign_in_and_the_next(open_context):
    reception = factories.ReceptionFactory(username="frontdesk")
    factories.DoctorFactory(user__last_name="Grey")
    page = open_context()

    page.goto("/admin/calendar/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=%2Fadmin%2Fcalendar%2F$"))
    sign_in(page, "frontdesk")

    # Held at the setup, whatever page was asked for.
    expect(page).to_have_url(re.compile(r"/accounts/2fa/totp/activate/$"))
    expect(page.get_by_role("heading", name="Set up an authenticator app")).to_be_visible()
    expect(page.get_by_text("Staff accounts sign in with a second factor")).to_be_visible()
    qr = page.locator("img.totp-qr")
    expect(qr).to_be_visible()
    assert page.evaluate("document.querySelector('img.totp-qr').naturalWidth") > 0
    page.goto("/admin/")
    expect(page).to_have_url(re.compile(r"/accounts/2fa/totp/activate/$"))
    secret = page.locator("#authenticator_secret").get_attribute("data-secret")

    # A wrong code is refused and turns nothing on.
    wrong = "000000" if totp_code(secret) != "000000" else "111111"
    page.get_by_label("Authenticator code").fill(wrong)
    page.get_by_role("button", name="Turn on").click()
    expect(page.get_by_text("Incorrect code.")).to_be_visible()
    assert not Authenticator.objects.filter(user=reception).exists()

    page.get_by_label("Authenticator code").fill(totp_code(secret))
    page.get_by_role("button", name="Turn on").click()
    expect(page.get_by_role("heading", name="Recovery codes")).to_be_visible()
    expect(page.locator("#recovery_codes li")).to_have_count(10)
    page.get_by_role("link", name="Continue").click()
    expect(page.locator("#clinic-calendar-link")).to_be_visible()

    # Sign out, and in again: the code step, then the calendar.
    page.get_by_role("button", name="Log out").click()
    page.goto("/admin/calendar/")
    sign_in(page, "frontdesk")
    expect(page).to_have_url(re.compile(r"/accounts/2fa/authenticate/$"))
    expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
    with time_machine.travel(timezone.now() + timedelta(seconds=30)):
        page.get_by_label("Code").fill(totp_code(secret))
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(re.compile(r"/admin/calendar/$"))
        expect(page.locator(".ec-col-head")).to_contain_text("Grey")
