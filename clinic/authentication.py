"""How a password login is checked, and how a signed-in user is loaded.

Both backends load the session's user with their clinic role in one query
(`access.user_with_role`), so `clinic.access` asks nothing more on the request.

The allauth backend (username or email) does the same password work whether or
not the account exists.

allauth's backend may look one user up twice in a login — the typed value as an email,
then as a username, then the `email` it was also given — and check the password each
time it finds them, while for an unknown login it hashes once. With a slow hasher that
difference tells which emails have accounts. Here each user's password is checked at
most once per login, so a known login costs one hash, like an unknown one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from allauth.account.auth_backends import AuthenticationBackend
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import ValidationError

from clinic import access
from clinic.models import User

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser
    from django.http import HttpRequest


class RoleAwareUserMixin:
    def get_user(self, user_id):
        try:
            user_id = User._meta.pk.to_python(user_id)
        except ValidationError:  # a session holding something that is not an id
            return None
        user = access.user_with_role(user_id)
        return user if user is not None and self.user_can_authenticate(user) else None


class ClinicModelBackend(RoleAwareUserMixin, ModelBackend):
    """Django's username and password backend (the admin's login)."""


class ClinicAuthenticationBackend(RoleAwareUserMixin, AuthenticationBackend):
    def authenticate(self, request: HttpRequest | None, **credentials) -> AbstractBaseUser | None:
        # Django makes a backend instance per authenticate() call: the memo is this login's.
        self._checked: dict[object, AbstractBaseUser | None] = {}
        return super().authenticate(request, **credentials)

    def _check_password(self, user: AbstractBaseUser | None, password: str) -> AbstractBaseUser | None:
        if user is None:
            return None
        checked = getattr(self, "_checked", {})
        if user.pk not in checked:
            checked[user.pk] = super()._check_password(user, password)
        return checked[user.pk]
