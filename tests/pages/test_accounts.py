"""Sign-up (with the patient profile), sign-in by email or username, sign-out, password reset."""

from __future__ import annotations

import re

import pytest
from django.core import mail

from clinic.models import Patient, User
from tests import factories
from tests.pages.html import inline_code, unlabelled_controls

pytestmark = pytest.mark.django_db

SIGNUP = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "email": "Ada@Example.test",
    "username": "Ada",
    "phone": "+1 555 0199",
    "insurance_number": "INS-1815",
    "password1": "analytical-Engine-1843",
    "password2": "analytical-Engine-1843",
}


@pytest.mark.parametrize("url", ["/accounts/login/", "/accounts/signup/", "/accounts/password/reset/"])
def test_account_pages_label_every_control_and_run_no_inline_code(client, url):
    html = client.get(url).content.decode()
    assert 'href="/static/css/clinic.css"' in html
    assert unlabelled_controls(html) == []
    assert inline_code(html) == (0, [], 0)


def test_sign_up_creates_the_patient_and_signs_in(client):
    response = client.post("/accounts/signup/", SIGNUP)
    assert response.status_code == 302 and response["Location"] == "/book/"
    patient = Patient.objects.select_related("user").get()
    assert (patient.user.username, patient.user.email) == ("ada", "ada@example.test")
    assert (patient.phone, patient.insurance_number, patient.user.first_name) == ("+1 555 0199", "INS-1815", "Ada")
    assert patient.user.check_password("analytical-Engine-1843")
    assert client.get("/book/").status_code == 200


@pytest.mark.parametrize(
    ("change", "field_message"),
    [
        ({"email": "TAKEN@example.test"}, "already"),
        ({"username": "TAKEN"}, "already"),
        ({"password1": "password", "password2": "password"}, "too common"),
        ({"phone": ""}, "This field is required."),
    ],
)
def test_sign_up_refusals_are_shown_on_the_form_and_write_nothing(client, change, field_message):
    factories.UserFactory(username="taken", email="taken@example.test")
    response = client.post("/accounts/signup/", {**SIGNUP, **change})
    assert response.status_code == 200
    assert field_message in response.content.decode()
    assert not Patient.objects.exists()
    assert User.objects.count() == 1


@pytest.mark.parametrize("login", ["ada", "ADA@example.test"])
def test_sign_in_by_username_or_email(client, login):
    factories.PatientFactory(user__username="ada", user__email="ada@example.test")
    response = client.post("/accounts/login/", {"login": login, "password": factories.PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/my/appointments/"


def test_sign_out_is_a_post(client, patient):
    client.force_login(patient.user)
    assert "Sign out" in client.get("/accounts/logout/").content.decode()
    assert client.post("/accounts/logout/")["Location"] == "/accounts/login/"
    assert client.get("/book/").status_code == 302


def test_password_reset_email_goes_through_the_email_backend_and_its_link_works(client, patient):
    response = client.post("/accounts/password/reset/", {"email": patient.user.email})
    assert response.status_code == 302
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [patient.user.email]
    link = re.search(r"http://testserver(/accounts/password/reset/key/\S+)", mail.outbox[0].body).group(1)
    form_page = client.get(link, follow=True)
    assert "Choose a new password" in form_page.content.decode()
    done = client.post(
        form_page.redirect_chain[-1][0] if form_page.redirect_chain else link,
        {"password1": "a-New-secret-77", "password2": "a-New-secret-77"},
    )
    assert done.status_code == 302
    patient.user.refresh_from_db()
    assert patient.user.check_password("a-New-secret-77")


def test_an_email_changed_through_the_api_leaves_the_old_address_nothing(client, settings):
    """A patient who signed up on the page and then changed their email: whoever holds the
    old address cannot sign in with it, reset the password with it, or lock the account out."""
    from django.core.cache import cache
    from rest_framework.test import APIClient

    from tests.api.conftest import client_for

    client.post("/accounts/signup/", SIGNUP)
    patient = Patient.objects.select_related("user").get()
    client.post("/accounts/logout/")
    changed = client_for(patient.user).patch(f"/patients/{patient.pk}/", {"email": "ada.new@example.test"})
    assert changed.status_code == 200
    old, password = "ada@example.test", SIGNUP["password1"]

    refused = client.post("/accounts/login/", {"login": old, "password": password})
    assert refused.status_code == 200 and "_auth_user_id" not in client.session
    mail.outbox.clear()
    client.post("/accounts/password/reset/", {"email": old})
    assert mail.outbox == []

    settings.AXES_ENABLED = True
    cache.clear()
    for _ in range(6):
        client.post("/accounts/login/", {"login": old, "password": "wrong-Password-1"})
    fine = APIClient().post("/api/token/", {"username": "ada.new@example.test", "password": password})
    assert fine.status_code == 200
    assert client.post("/accounts/login/", {"login": "ada", "password": password}).status_code == 302
    cache.clear()
