"""Request ids and the access log line, response hygiene for medical data, and staff held at
the second factor's setup."""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.http import HttpResponseRedirect, JsonResponse
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.utils.functional import empty

from clinic import access, logs, metrics, second_factor

access_logger = logging.getLogger(logs.ACCESS_LOGGER)


class RequestLogMiddleware:
    """First in the chain: every request gets an id (a well-formed incoming `X-Request-ID`, else
    a new one), which every log line of the request carries and the response echoes. When the
    response is ready, one line on the `clinic.access` logger: method, route name, path (no query
    string; manage and claim links as `/a/…`, `/w/…`), status, duration and the user's id."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        # META, not request.headers: that would build a dict of every header on each request.
        request_id = logs.request_id_from(request.META.get(logs.REQUEST_ID_META))
        request.request_id = request_id
        # Cleared when the response is closed (clinic.logs.request_id_clear), not here: Django logs
        # a 4xx/5xx ("Not Found: …") after the middleware has returned, and that line has it too.
        logs.request_id_var.set(request_id)
        response = self.get_response(request)
        response[logs.REQUEST_ID_HEADER] = request_id
        if access_logger.isEnabledFor(logging.INFO):
            path = logs.redact(request.path)
            status = response.status_code
            # One field of the record holding them all (JsonFormatter writes its items), not one per item.
            fields = {
                "method": request.method,
                "route": metrics.route_of(request),
                "path": path,
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            }
            user_id = _user_id(request)
            if user_id is not None:
                fields["user_id"] = user_id
            access_logger.info("%s %s %s", request.method, path, status, extra={logs.ACCESS_FIELDS: fields})
        return response


def _user_id(request) -> int | None:
    """The signed-in user's id, without loading a user no one has looked at yet."""
    user = getattr(request, "user", None)
    if user is None or getattr(user, "_wrapped", None) is empty:
        return None
    return user.pk if user.is_authenticated else None


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
