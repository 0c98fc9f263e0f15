"""Response hygiene for medical data, and staff held at the second factor's setup."""

from __future__ import annotations

import time

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.http import HttpResponseRedirect, JsonResponse
from django.urls import reverse
from django.utils.cache import patch_cache_control

from clinic import access, second_factor

STAFF_IDLE_SECONDS = 15 * 60
RENEW_EVERY_SECONDS = 60
RENEWED_AT_KEY = "clinic_idle_renewed_at"


class PrivateDataMiddleware:
    """Keep patient data out of caches, and staff sessions short.

    - Every dynamic response (API, pages, admin) gets `Cache-Control: no-store`
      unless the view chose its own caching; static files are served before
      this middleware and keep theirs.
    - A staff user's session expires after 15 minutes without a request. The
      window slides at most once a minute, so a busy staff page does not write
      its session on every request (the idle limit holds to within that minute).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        session = getattr(request, "session", None)
        if session is not None and session.get(SESSION_KEY) and request.user.is_staff:
            # Signed in through the session (not a Bearer token): slide the idle window.
            now = int(time.time())
            if now - session.get(RENEWED_AT_KEY, 0) >= RENEW_EVERY_SECONDS:
                session[RENEWED_AT_KEY] = now
                session.set_expiry(getattr(settings, "STAFF_SESSION_IDLE_SECONDS", STAFF_IDLE_SECONDS))
        if not response.has_header("Cache-Control"):
            patch_cache_control(response, no_store=True, private=True)
        return response


# What a staff user without a second factor may still open: setting one up (and the
# re-authentication it may ask for), and signing out.
SETUP_URL_NAMES = frozenset(
    {
        "mfa_index",
        "mfa_activate_totp",
        "mfa_view_recovery_codes",
        "mfa_generate_recovery_codes",
        "mfa_download_recovery_codes",
        "mfa_reauthenticate",
        "account_reauthenticate",
        "account_logout",
        "logout",  # the admin's
    }
)
SETUP_CHECKED_KEY = "clinic_second_factor_of"


class SecondFactorSetupMiddleware:
    """With MFA_REQUIRED_FOR_STAFF on, a signed-in staff user without an authenticator app is
    sent from every page to setting one up (an API request signed in by session gets 403
    `mfa_setup_required`), until they have one. Static files are served before this runs.

    Costs nothing for users who are not staff; a staff session asks once, then remembers it
    (a reset of the factor by the clinic admin ends the user's sessions)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        user = getattr(request, "user", None)
        if user is None or not access.second_factor_required(user):
            return None
        match = request.resolver_match
        if match is not None and match.url_name in SETUP_URL_NAMES:
            return None
        if request.session.get(SETUP_CHECKED_KEY) == user.pk:
            return None
        if second_factor.has_second_factor(user):
            request.session[SETUP_CHECKED_KEY] = user.pk
            return None
        if match is not None and match.namespace == "api":
            return JsonResponse({"detail": second_factor.MFA_SETUP_REQUIRED, "code": "mfa_setup_required"}, status=403)
        return HttpResponseRedirect(reverse("mfa_activate_totp"))
