"""Login lockout with django-axes, the same on the admin, the sign-in page and `/api/token/`.

Failed logins are counted per (username, client address) pair (settings: AXES_*). Here:
which username a login counts against, the client's address, what a locked-out client
is told, the reset after a successful token login (simplejwt sends no login signal), and
a wrong second-factor code counted as a failed login of its user, on every path.
An unknown username is counted and answered exactly like a known one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_cool_off, get_credentials
from django.conf import settings
from django.contrib.auth import get_user_model, user_login_failed
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render

if TYPE_CHECKING:
    from django.http import HttpRequest

    from clinic.models import User

LOCKED_OUT = (
    "Too many failed sign-in attempts for this account from your network. "
    "Try again in {minutes} minutes, or ask the clinic to unlock the account."
)
LOCKOUT_TEMPLATE = "account/lockout.html"
# Where the typed username can be found: the admin and the API post `username`,
# the sign-in page `login` (allauth then passes `email` or `username` on).
_TYPED_FIELDS = ("username", "email", "login")


def _typed_login(request: HttpRequest | None, credentials: Mapping[str, Any] | None) -> str | None:
    for source in (credentials, _posted(request)):
        if not source:
            continue
        for name in _TYPED_FIELDS:
            value = source.get(name)
            if isinstance(value, str) and value.strip():
                return value
    return None


def _posted(request: HttpRequest | None) -> Mapping[str, Any] | None:
    if request is None:
        return None
    data = getattr(request, "data", None)  # a DRF request's parsed body
    if data is None:
        data = request.POST
    return data if isinstance(data, Mapping) else None


def login_key(request: HttpRequest | None, credentials: Mapping[str, Any] | None = None) -> str | None:
    """The username a login attempt counts against (AXES_USERNAME_CALLABLE).

    Case-insensitive, and an account's email address counts as its username, so
    switching between the two, or their case, does not buy more guesses.
    """
    typed = _typed_login(request, credentials)
    if typed is None:
        return None
    key = typed.strip().lower()
    if "@" not in key:
        return key
    memo = request.__dict__.setdefault("_clinic_login_keys", {}) if request is not None else {}
    if key not in memo:
        username = get_user_model().objects.filter(email__iexact=key).values_list("username", flat=True).first()
        memo[key] = username.lower() if username else key
    return memo[key]


def client_address(request: HttpRequest) -> str | None:
    """The client's address (AXES_CLIENT_IP_CALLABLE).

    REMOTE_ADDR, unless TRUSTED_PROXY_COUNT proxies stand in front: then the address the
    outermost of them saw, which is the entry that many places from the right of
    X-Forwarded-For. Entries further left are the client's own claims and are ignored.
    """
    proxies = getattr(settings, "TRUSTED_PROXY_COUNT", 0)
    if proxies > 0:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [part for part in forwarded if part]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR")


def cooloff_minutes() -> int:
    cool_off = get_cool_off()
    return max(1, int(cool_off.total_seconds() // 60)) if cool_off else 15


def lockout_message() -> str:
    return LOCKED_OUT.format(minutes=cooloff_minutes())


def lockout_response(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    """What a locked-out login is answered (AXES_LOCKOUT_CALLABLE): 429, a page or JSON."""
    status = settings.AXES_HTTP_RESPONSE_CODE
    if request.path.startswith("/api/") or "application/json" in request.headers.get("Accept", ""):
        response: HttpResponse = JsonResponse({"detail": lockout_message()}, status=status)
    else:
        response = render(request, LOCKOUT_TEMPLATE, {"message": lockout_message()}, status=status)
    response["Retry-After"] = str(cooloff_minutes() * 60)
    return response


def login_attempts_reset(*, request: HttpRequest, user: User) -> None:
    """Forget the failed logins of `user` from this client after it signed in with a token."""
    if not (settings.AXES_ENABLED and settings.AXES_RESET_ON_SUCCESS):
        return
    AxesProxyHandler.update_request(request)
    AxesProxyHandler.get_implementation().reset_user_attempts(request, get_credentials(user.get_username()))


def second_factor_failed(*, request: HttpRequest, user: User) -> bool:
    """Count a wrong second-factor code as a failed login of `user` from this client; True when
    that locks the pair out (the page or the API then answers as for a locked-out password)."""
    if not settings.AXES_ENABLED:
        return False
    user_login_failed.send(sender=__name__, credentials=get_credentials(user.get_username()), request=request)
    return bool(getattr(request, "axes_locked_out", False))


def is_locked_out(*, request: HttpRequest, user: User) -> bool:
    """Whether `user`'s logins from this client are locked out now."""
    if not settings.AXES_ENABLED:
        return False
    return AxesProxyHandler.is_locked(request, get_credentials(user.get_username()))
