"""Sessions and tokens end when they should: a changed or reset password (on every path) and a
deactivated account end the user's other sessions and blacklist their refresh tokens; users see
and end their own sessions; the clinic admin ends anyone's, and resets a lost second factor."""

from __future__ import annotations

import pytest
from allauth.account.forms import default_token_generator
from allauth.account.utils import user_pk_to_url_str
from allauth.mfa.models import Authenticator
from allauth.usersessions.models import UserSession
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.models import Session
from django.core.exceptions import PermissionDenied
from django.test import Client
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from clinic import accounts
from clinic.api.tokens import PASSWORD_CHANGED
from tests import factories
from tests.signin import page_sign_in, totp_give

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "another-Strong-pass-77"


def ended_everywhere(user, *clients: Client) -> bool:
    """The clients' sessions are gone from the store (not merely stale) and no refresh token of
    `user` is left unblacklisted."""
    keys = [client.cookies["sessionid"].value for client in clients]
    live_tokens = OutstandingToken.objects.filter(user=user, blacklistedtoken=None)
    return not Session.objects.filter(session_key__in=keys).exists() and not live_tokens.exists()


def signed_in(client: Client) -> bool:
    """Whether the client's session still signs it in (a page that needs it answers 200)."""
    return client.get("/my/appointments/").status_code == 200


def browser(user, password: str = factories.PASSWORD) -> Client:
    client = Client()
    assert page_sign_in(client, user.username, password).status_code == 302
    assert SESSION_KEY in client.session
    return client


def tokens(user, password: str = factories.PASSWORD) -> dict:
    response = APIClient().post("/api/token/", {"username": user.username, "password": password}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def refresh(token: str):
    return APIClient().post("/api/token/refresh/", {"refresh": token}, format="json")


def bearer(access: str, url: str = "/appointments/"):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client.get(url)


# --- Password changes, on every path --------------------------------------------------------------


def test_changing_the_password_signs_out_the_other_session_and_ends_the_refresh_token(patient):
    user = patient.user
    here, elsewhere = browser(user), browser(user)
    old = tokens(user)
    response = here.post(
        "/accounts/password/change/",
        {"oldpassword": factories.PASSWORD, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert response.status_code == 302
    assert ended_everywhere(user, elsewhere)
    assert not signed_in(elsewhere)
    assert UserSession.objects.purge_and_list(user) == []  # neither session is left
    answer = refresh(old["refresh"])
    assert answer.status_code == 401
    # The new password works.
    assert signed_in(browser(user, NEW_PASSWORD))
    assert refresh(tokens(user, NEW_PASSWORD)["refresh"]).status_code == 200


def test_resetting_the_password_by_email_link_ends_every_session_and_refresh_token(patient):
    user = patient.user
    elsewhere = browser(user)
    old = tokens(user)
    user.refresh_from_db()  # the link is made after the last sign-in, which a reset key depends on
    client = Client()
    url = f"/accounts/password/reset/key/{user_pk_to_url_str(user)}-{default_token_generator.make_token(user)}/"
    form = client.get(url, follow=True)
    assert form.status_code == 200
    target = form.redirect_chain[-1][0] if form.redirect_chain else url
    response = client.post(target, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert response.status_code == 302, response.context["form"].errors
    assert ended_everywhere(user, elsewhere)
    assert not signed_in(elsewhere)
    assert refresh(old["refresh"]).status_code == 401


def test_the_clinic_admin_setting_a_password_in_the_admin_signs_that_user_out_everywhere(patient, clinic_admin):
    user = patient.user
    elsewhere = browser(user)
    old = tokens(user)
    admin = browser(clinic_admin)
    response = admin.post(
        f"/admin/clinic/user/{user.pk}/password/",
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "set_usable_password": "true"},
    )
    assert response.status_code == 302, response.context and response.context["form"].errors
    assert ended_everywhere(user, elsewhere)
    assert not signed_in(elsewhere)
    assert refresh(old["refresh"]).status_code == 401
    assert admin.get("/admin/").status_code == 200  # the clinic admin's own session stays
    assert signed_in(browser(user, NEW_PASSWORD))


def test_the_clinic_admin_setting_their_own_password_in_the_admin_keeps_that_session(clinic_admin):
    here, elsewhere = browser(clinic_admin), browser(clinic_admin)
    response = here.post(
        f"/admin/clinic/user/{clinic_admin.pk}/password/",
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "set_usable_password": "true"},
    )
    assert response.status_code == 302
    assert here.get("/admin/").status_code == 200
    assert elsewhere.get("/admin/").status_code == 302


def test_the_clinic_admin_setting_a_password_through_the_api_ends_the_users_tokens(patient, clinic_admin):
    old = tokens(patient.user)
    elsewhere = browser(patient.user)
    api = APIClient()
    api.force_authenticate(clinic_admin)
    response = api.patch(f"/patients/{patient.pk}/", {"password": NEW_PASSWORD}, format="json")
    assert response.status_code == 200, response.content
    assert ended_everywhere(patient.user, elsewhere)
    assert refresh(old["refresh"]).status_code == 401
    assert not signed_in(elsewhere)


def test_a_refresh_token_from_before_any_password_change_is_refused(patient):
    """However the password changed (here, bypassing every page), the token's stamp no longer fits."""
    old = tokens(patient.user)
    patient.user.set_password(NEW_PASSWORD)
    patient.user.save()
    response = refresh(old["refresh"])
    assert response.status_code == 401
    assert response.json() == {"detail": PASSWORD_CHANGED, "code": "password_changed"}


# --- Deactivation ---------------------------------------------------------------------------------


def _admin_change(client: Client, user, **changes):
    """Post a user's admin change form as it stands, with `changes`."""
    page = client.get(f"/admin/clinic/user/{user.pk}/change/")
    form = page.context["adminform"].form
    data = {}
    for name, field in form.fields.items():
        if field.disabled:
            continue
        value = form[name].value()
        if isinstance(value, list | tuple):
            data[name] = [str(v) for v in value]
        elif isinstance(value, bool):
            if value:
                data[name] = "on"
        elif value is not None:
            data[name] = form[name].field.widget.format_value(value) if hasattr(value, "isoformat") else value
    for name, value in changes.items():
        if value is False:
            data.pop(name, None)
        else:
            data[name] = value
    for name in ("last_login", "date_joined"):
        value = form[name].value()
        data.pop(name, None)
        if value:
            data[f"{name}_0"], data[f"{name}_1"] = f"{value:%Y-%m-%d}", f"{value:%H:%M:%S}"
    return client.post(f"/admin/clinic/user/{user.pk}/change/", data)


def test_deactivating_a_user_in_the_admin_stops_their_access_token_at_once(patient, clinic_admin):
    user = patient.user
    issued = tokens(user)
    elsewhere = browser(user)
    assert bearer(issued["access"]).status_code == 200
    response = _admin_change(browser(clinic_admin), user, is_active=False)
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    user.refresh_from_db()
    assert not user.is_active
    assert ended_everywhere(user, elsewhere)
    assert bearer(issued["access"]).status_code == 401
    assert refresh(issued["refresh"]).status_code == 401
    assert not signed_in(elsewhere)
    assert not UserSession.objects.filter(user=user).exists()


def test_a_deactivated_users_access_token_is_refused_with_the_one_query_that_loads_the_user(
    patient, django_assert_num_queries
):
    access = tokens(patient.user)["access"]
    patient.user.is_active = False
    patient.user.save()
    with django_assert_num_queries(1):  # the user with their role (clinic.access.user_with_role)
        response = bearer(access)
    assert response.status_code == 401
    assert response.json()["code"] == "user_inactive"


def test_deactivation_blacklists_every_refresh_token(patient, clinic_admin):
    chains = [tokens(patient.user)["refresh"] for _ in range(3)]
    patient.user.is_active = False
    accounts.user_update(actor=clinic_admin, user=patient.user, changed=["is_active"])
    patient.user.is_active = True  # even once active again, those tokens stay ended
    patient.user.save()
    assert [refresh(token).status_code for token in chains] == [401, 401, 401]


# --- Each user's sessions -------------------------------------------------------------------------


def test_a_user_sees_their_sessions_and_signs_out_the_others(patient):
    user = patient.user
    here, elsewhere = browser(user), browser(user)
    other = factories.PatientFactory().user
    theirs = browser(other)
    page = here.get("/accounts/sessions/")
    assert page.status_code == 200
    assert len(page.context["sessions"]) == 2
    assert "This browser" in page.content.decode() and "Another sign-in" in page.content.decode()
    old = tokens(user)
    response = here.post("/accounts/sessions/")
    assert response.status_code == 302
    assert ended_everywhere(user, elsewhere)
    assert signed_in(here)
    assert not signed_in(elsewhere)
    assert signed_in(theirs)  # nobody else's
    assert refresh(old["refresh"]).status_code == 401


def test_the_clinic_admin_signs_a_user_out_everywhere_from_their_page(patient, clinic_admin):
    user = patient.user
    elsewhere = browser(user)
    old = tokens(user)
    admin = browser(clinic_admin)
    page = admin.get(f"/admin/clinic/user/{user.pk}/change/")
    body = page.content.decode()
    assert f"/admin/clinic/user/{user.pk}/end-sessions/" in body and "Sign out everywhere" in body
    assert "Since " in body  # the user's sign-in is listed
    response = admin.post(f"/admin/clinic/user/{user.pk}/end-sessions/")
    assert response.status_code == 302 and response["Location"] == f"/admin/clinic/user/{user.pk}/change/"
    assert ended_everywhere(user, elsewhere)
    assert not signed_in(elsewhere)
    assert refresh(old["refresh"]).status_code == 401
    assert admin.get("/admin/").status_code == 200


def test_the_admin_action_signs_the_selected_users_out_everywhere(patient, clinic_admin):
    elsewhere = browser(patient.user)
    admin = browser(clinic_admin)
    response = admin.post(
        "/admin/clinic/user/", {"action": "end_sessions", "_selected_action": [patient.user.pk]}, follow=True
    )
    assert "1 user signed out everywhere." in response.content.decode()
    assert not signed_in(elsewhere)


def test_only_the_user_and_the_clinic_admin_end_a_users_sessions(patient, reception, clinic_admin):
    for actor in (reception, factories.PatientFactory().user, factories.DoctorFactory(user__is_staff=True).user):
        with pytest.raises(PermissionDenied):
            accounts.sessions_end(actor=actor, user=patient.user)
    accounts.sessions_end(actor=patient.user, user=patient.user)
    accounts.sessions_end(actor=clinic_admin, user=patient.user)


# --- A lost second factor -------------------------------------------------------------------------


def test_the_clinic_admin_resets_a_lost_second_factor_and_the_user_is_signed_out(reception, clinic_admin):
    totp_give(reception)
    client = Client()
    client.force_login(reception)
    assert client.get("/admin/").status_code == 200
    admin = browser(clinic_admin)
    page = admin.get(f"/admin/clinic/user/{reception.pk}/change/")
    assert "Authenticator app since" in page.content.decode()
    assert "secret" not in page.content.decode()
    response = admin.post(
        "/admin/clinic/user/", {"action": "reset_second_factor", "_selected_action": [reception.pk]}, follow=True
    )
    assert "removed" in response.content.decode()
    assert not Authenticator.objects.filter(user=reception).exists()
    with pytest.raises(PermissionDenied):
        accounts.second_factor_reset(actor=reception, user=clinic_admin)


def test_the_admin_shows_no_page_of_authenticators_or_sessions(clinic_admin):
    admin = browser(clinic_admin)
    assert admin.get("/admin/mfa/authenticator/").status_code == 404
    assert admin.get("/admin/usersessions/usersession/").status_code == 404
