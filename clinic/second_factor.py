"""The second factor: who must have one, and checking a code, the same on every login path.

Staff (whoever may open the admin: reception, the clinic admin, doctors with staff access) must
sign in with an authenticator app (TOTP, with recovery codes as the fallback) when
`MFA_REQUIRED_FOR_STAFF` is on; patients may turn it on. allauth.mfa stores the authenticators
and runs the sign-in page's step; `code_verify` is the one check of a typed code, used by that
step (clinic.forms.SecondFactorForm) and by `/api/token/`'s `otp` alike:

- a TOTP code goes through allauth's own validation, which marks it used in the cache, and the
  time step it belongs to is then recorded on the authenticator under a row lock, so a code is
  accepted once even when the cache is per process (several web workers or nodes);
- a recovery code goes through allauth's, which marks it used in the database: it works once;
- anything that cannot be a code (letters, the wrong length, empty) is refused without a lookup.

A refused code counts as a failed login for the lockout (clinic/lockout.py).
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from allauth.mfa import app_settings as mfa_settings
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, hotp_value, yield_hotp_counters_from_time
from allauth.mfa.utils import decrypt
from django.db import transaction

from clinic import access

if TYPE_CHECKING:
    from clinic.models import User

# The last time step whose TOTP code was accepted, kept in the authenticator's data.
LAST_STEP_KEY = "clinic_last_step"
# Messages and codes of /api/token/; tests assert on them.
MFA_REQUIRED = "This account signs in with a second factor: send the code of its authenticator app as `otp`."
MFA_INVALID = "The code is wrong or was already used."
MFA_SETUP_REQUIRED = (
    "Staff accounts sign in with a second factor. Set one up first: sign in on the website "
    "(/accounts/2fa/), then ask for a token with its code as `otp`."
)


def has_second_factor(user: User) -> bool:
    """Whether `user` signs in with an authenticator app (recovery codes alone do not count)."""
    return Authenticator.objects.filter(user_id=user.pk, type=Authenticator.Type.TOTP).exists()


def setup_required(user: User) -> bool:
    """Whether `user` must set up a second factor before anything else (one query, for staff only)."""
    return access.second_factor_required(user) and not has_second_factor(user)


def looks_like_a_code(code: object) -> bool:
    """A TOTP code or a recovery code: digits only, of one of their lengths."""
    if not isinstance(code, str) or not code.isascii() or not code.isdigit():
        return False
    return len(code) in (mfa_settings.TOTP_DIGITS, mfa_settings.RECOVERY_CODE_DIGITS)


def code_verify(*, user: User, code: object) -> Authenticator | None:
    """The authenticator that accepts `code` for `user` (and marks the code used), or None.

    A code of an authenticator app is accepted once; a recovery code once, ever.
    """
    if isinstance(code, str):
        code = "".join(code.split())
    if not looks_like_a_code(code):
        return None
    authenticators = Authenticator.objects.filter(
        user_id=user.pk, type__in=(Authenticator.Type.TOTP, Authenticator.Type.RECOVERY_CODES)
    )
    # The app first, then the recovery codes.
    for authenticator in sorted(authenticators, key=lambda a: a.type != Authenticator.Type.TOTP):
        if authenticator.type == Authenticator.Type.TOTP:
            if len(code) == mfa_settings.TOTP_DIGITS and _totp_accepts(authenticator, code):
                return authenticator
        elif authenticator.wrap().validate_code(code):
            return authenticator
    return None


def _totp_accepts(authenticator: Authenticator, code: str) -> bool:
    if not TOTP(authenticator).validate_code(code):  # allauth's check and its used-code mark
        return False
    step = _matching_step(authenticator, code)
    if step is None:  # allauth's development bypass code (DEBUG only)
        return True
    with transaction.atomic():
        locked = Authenticator.objects.select_for_update().get(pk=authenticator.pk)
        last = locked.data.get(LAST_STEP_KEY)
        if isinstance(last, int) and step <= last:
            return False  # already used here, or an older code than one already used
        locked.data[LAST_STEP_KEY] = step
        locked.save(update_fields=["data"])
    authenticator.data = locked.data
    return True


def _matching_step(authenticator: Authenticator, code: str) -> int | None:
    secret = decrypt(authenticator.data["secret"])
    for step in yield_hotp_counters_from_time():
        if hmac.compare_digest(code, format_hotp_value(hotp_value(secret, step))):
            return step
    return None
