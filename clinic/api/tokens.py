"""JWT login, refresh and logout with an absolute cap on a login's life.

Every refresh token carries `login_at`, the time of the password login it
descends from. Refreshing rotates the token (the old one is blacklisted) and
keeps `login_at`, so however often a client refreshes, the chain ends
`JWT_REFRESH_ABSOLUTE_LIFETIME` after the login. A refresh for a user who has
been deactivated or deleted is refused with 401.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from rest_framework import exceptions, serializers, status
from rest_framework.exceptions import APIException
from rest_framework_simplejwt.exceptions import AuthenticationFailed, TokenError
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer, TokenRefreshSerializer
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import RefreshToken

from clinic import lockout

LOGIN_AT_CLAIM = "login_at"
LOGIN_EXPIRED = "This login has expired; sign in again."
# simplejwt's words for a refresh token already used, whichever request found it so.
REFRESH_BLACKLISTED = "Token is blacklisted"
NO_ACTIVE_ACCOUNT = "No active account found for the given token."


def _cap(login_at: int) -> datetime:
    return datetime.fromtimestamp(login_at, tz=UTC) + settings.JWT_REFRESH_ABSOLUTE_LIFETIME


class ClinicRefreshToken(RefreshToken):
    """A refresh token that never outlives its login's absolute cap."""

    @classmethod
    def for_user(cls, user):
        token = super().for_user(user)
        token[LOGIN_AT_CLAIM] = int(token.current_time.timestamp())
        token.set_exp(from_time=token.current_time)
        return token

    def set_exp(self, claim: str = "exp", from_time=None, lifetime=None) -> None:
        super().set_exp(claim, from_time, lifetime)
        login_at = self.payload.get(LOGIN_AT_CLAIM)
        if claim == "exp" and isinstance(login_at, int):
            cap = int(_cap(login_at).timestamp())
            self.payload["exp"] = min(self.payload["exp"], cap)


class LoginLockedOut(APIException):
    """429: too many failed logins of this username from this address (clinic/lockout.py)."""

    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = "locked_out"

    def __init__(self) -> None:
        super().__init__(lockout.lockout_message())
        # DRF's handler turns `wait` into a Retry-After header.
        self.wait = lockout.cooloff_minutes() * 60


class LoginSerializer(TokenObtainPairSerializer):
    """`username` (or the account's email), `password` → `access` (5 minutes) and `refresh`
    (30 minutes idle, 12 hours at most). An unknown username, a wrong password and an
    inactive account get the same 401; after 5 failures of one username from one
    address, 429 for 15 minutes, whether the account exists or not."""

    token_class = ClinicRefreshToken

    access = serializers.CharField(read_only=True)
    refresh = serializers.CharField(read_only=True)

    def validate(self, attrs: dict) -> dict:
        request = self.context.get("request")
        try:
            data = super().validate(attrs)
        except exceptions.AuthenticationFailed:
            # The lockout flags the request it saw refuse (or tip over) this login.
            if request is not None and getattr(request, "axes_locked_out", False):
                raise LoginLockedOut() from None
            raise
        if request is not None:
            lockout.login_attempts_reset(request=request, user=self.user)
        return data


class RefreshSerializer(TokenRefreshSerializer):
    """`refresh` → a new `access` and a rotated `refresh`; the one sent is blacklisted.

    A refresh token is redeemed once: its blacklist row (one per token) is inserted in the
    transaction that issues the new token, so of concurrent requests with the same token
    exactly one inserts it and the others are refused like any blacklisted token."""

    token_class = ClinicRefreshToken

    refresh = serializers.CharField()
    access = serializers.CharField(read_only=True)

    def validate(self, attrs: dict) -> dict:
        refresh = self.token_class(attrs["refresh"])
        login_at = refresh.payload.get(LOGIN_AT_CLAIM)
        if not isinstance(login_at, int) or timezone.now() >= _cap(login_at):
            raise AuthenticationFailed(LOGIN_EXPIRED, "login_expired")
        user_id = refresh.payload.get(api_settings.USER_ID_CLAIM)
        user = get_user_model().objects.filter(**{api_settings.USER_ID_FIELD: user_id}).first()
        if user is None or not api_settings.USER_AUTHENTICATION_RULE(user):
            raise AuthenticationFailed(NO_ACTIVE_ACCOUNT, "no_active_account")

        data = {"access": str(refresh.access_token)}
        with transaction.atomic():
            _, redeemed = refresh.blacklist()  # get_or_create on the unique token
            if not redeemed:
                raise TokenError(REFRESH_BLACKLISTED)
            refresh.set_jti()
            refresh.set_exp()
            refresh.set_iat()
            refresh.outstand()
        data["refresh"] = str(refresh)
        return data
