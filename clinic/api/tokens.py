"""JWT login, refresh and logout with an absolute cap on a login's life.

Every refresh token carries `login_at`, the time of the password login it
descends from. Refreshing rotates the token (the old one is blacklisted) and
keeps `login_at`, so however often a client refreshes, the chain ends
`JWT_REFRESH_ABSOLUTE_LIFETIME` after the login. A refresh for a user who has
been deactivated or deleted is refused with 401.

A user with a second factor signs in with its code as `otp` (clinic/second_factor.py checks
it as the sign-in page does). A refresh token also carries a stamp of the password it was
issued under: changing or resetting the password blacklists the user's refresh tokens
(clinic/accounts.py), and the stamp refuses any issued while that happened.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import update_last_login
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import exceptions, serializers, status
from rest_framework.exceptions import APIException
from rest_framework_simplejwt.exceptions import AuthenticationFailed, TokenError
from rest_framework_simplejwt.serializers import TokenObtainSerializer, TokenRefreshSerializer
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import RefreshToken

from clinic import access, lockout, second_factor

LOGIN_AT_CLAIM = "login_at"
PASSWORD_CLAIM = "pwd"  # noqa: S105 (a claim name)
LOGIN_EXPIRED = "This login has expired; sign in again."
PASSWORD_CHANGED = "The password of this account has changed since this login; sign in again."  # noqa: S105 (a message)
# simplejwt's words for a refresh token already used, whichever request found it so.
REFRESH_BLACKLISTED = "Token is blacklisted"
NO_ACTIVE_ACCOUNT = "No active account found for the given token."


def password_stamp(user) -> str:
    """A short keyed digest of the user's password hash: it changes whenever the password does."""
    return salted_hmac("clinic.api.tokens.password", user.password).hexdigest()[:20]


def _cap(login_at: int) -> datetime:
    return datetime.fromtimestamp(login_at, tz=UTC) + settings.JWT_REFRESH_ABSOLUTE_LIFETIME


class ClinicRefreshToken(RefreshToken):
    """A refresh token that never outlives its login's absolute cap."""

    @classmethod
    def for_user(cls, user):
        token = super().for_user(user)
        token[LOGIN_AT_CLAIM] = int(token.current_time.timestamp())
        token[PASSWORD_CLAIM] = password_stamp(user)
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


class SecondFactorSetupRequired(APIException):
    """403: a staff account without a second factor while the clinic requires one."""

    status_code = status.HTTP_403_FORBIDDEN
    default_code = "mfa_setup_required"

    def __init__(self) -> None:
        super().__init__({"detail": second_factor.MFA_SETUP_REQUIRED, "code": self.default_code})


@extend_schema_field(OpenApiTypes.STR)
class OTPField(serializers.Field):
    """The code of the account's authenticator app, or one of its recovery codes. Anything else
    (a number, letters, a list) is kept as given and refused as a wrong code, never as a 400."""

    def __init__(self, **kwargs) -> None:
        super().__init__(required=False, allow_null=True, write_only=True, **kwargs)

    def to_internal_value(self, data):
        if isinstance(data, int) and not isinstance(data, bool):
            return str(data)
        return data


class LoginSerializer(TokenObtainSerializer):
    """`username` (or the account's email), `password`, and `otp` for an account with a second
    factor → `access` (5 minutes) and `refresh` (30 minutes idle, 12 hours at most).

    An unknown username, a wrong password and an inactive account get the same 401; after 5
    failures of one username from one address, 429 for 15 minutes, whether the account exists or
    not. An account with a second factor answers 401 `mfa_required` without `otp` and
    `mfa_invalid` with a wrong or already used code (which counts toward the lockout); each code
    of the app works once, and so does each recovery code. While the clinic requires a second
    factor for staff, a staff account without one gets 403 `mfa_setup_required`."""

    token_class = ClinicRefreshToken

    otp = OTPField(
        help_text="For an account with a second factor: the 6-digit code of its authenticator app, "
        "or one of its 8-digit recovery codes (each works once)."
    )
    access = serializers.CharField(read_only=True)
    refresh = serializers.CharField(read_only=True)

    def validate(self, attrs: dict) -> dict:
        request = self.context.get("request")
        try:
            super().validate(attrs)  # the password (and the lockout), setting self.user
        except exceptions.AuthenticationFailed:
            # The lockout flags the request it saw refuse (or tip over) this login.
            if request is not None and getattr(request, "axes_locked_out", False):
                raise LoginLockedOut() from None
            raise
        self._second_factor_check(request, attrs.get("otp"))
        refresh = self.get_token(self.user)
        if api_settings.UPDATE_LAST_LOGIN:
            update_last_login(None, self.user)
        if request is not None:
            lockout.login_attempts_reset(request=request, user=self.user)
        return {"refresh": str(refresh), "access": str(refresh.access_token)}

    def _second_factor_check(self, request, otp) -> None:
        if not second_factor.has_second_factor(self.user):
            if access.second_factor_required(self.user):
                raise SecondFactorSetupRequired()
            return
        if otp is None or otp == "":
            raise AuthenticationFailed(second_factor.MFA_REQUIRED, "mfa_required")
        if second_factor.code_verify(user=self.user, code=otp) is None:
            if request is not None and lockout.second_factor_failed(request=request, user=self.user):
                raise LoginLockedOut()
            raise AuthenticationFailed(second_factor.MFA_INVALID, "mfa_invalid")


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
        if refresh.payload.get(PASSWORD_CLAIM) != password_stamp(user):
            raise AuthenticationFailed(PASSWORD_CHANGED, "password_changed")
        if second_factor.setup_required(user):
            raise SecondFactorSetupRequired()

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
