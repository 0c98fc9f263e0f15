"""allauth's adapters: account emails sent by the django-q2 worker, passwords and the second factor.

allauth renders each account email (password reset, and any other it sends) in the
request, with its own templates and links; the rendered message goes to the worker
(`clinic.tasks.send_account_email`), which talks to the mail server. So the request
makes no SMTP round trip: a reset for a known address answers about as fast as one for
an unknown address, and a slow or down mail server neither slows nor breaks the page.
A failed send is a failed task, which the database broker offers again (the Redis broker
does not re-deliver failed tasks).

Every account email speaks in the clinic's name (`CLINIC_NAME`): its subject starts with it
and allauth's templates see it as the site's name. An account the front desk created gets a
"set your password" email (`password_set_email_enqueue`), built without a request on
allauth's own password-reset link, absolute on `SITE_URL`.

A password set on allauth's pages (change, reset, set) signs the user out everywhere else
(`accounts.password_changed`). The MFA adapter names the clinic as the authenticator app's
issuer and refuses to turn off a second factor the clinic requires (`clinic.access`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from email.utils import make_msgid
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from allauth.account import app_settings as allauth_settings
from allauth.account.adapter import DefaultAccountAdapter, get_adapter
from allauth.account.forms import default_token_generator
from allauth.account.internal.flows.login import get_authentication_records
from allauth.account.utils import user_pk_to_url_str
from allauth.core import context as allauth_context
from allauth.mfa.adapter import DefaultMFAAdapter
from allauth.usersessions.adapter import DefaultUserSessionsAdapter
from django.conf import settings
from django.core.mail import EmailMessage
from django.urls import reverse
from django.utils import timezone
from django_q.tasks import async_task

from clinic import access, accounts
from clinic.emails import clinic_domain, site_url
from clinic.tasks import ACCOUNT_EMAIL_TASK

if TYPE_CHECKING:
    from clinic.models import User

logger = logging.getLogger(__name__)

INVITE_TEMPLATE = "account/email/password_set_invite"


@dataclass(frozen=True)
class ClinicSite:
    """What allauth's email templates read as `current_site`: the clinic, not the request's host."""

    name: str
    domain: str

    def __str__(self) -> str:
        return self.domain


def clinic_site() -> ClinicSite:
    return ClinicSite(name=settings.CLINIC_NAME, domain=urlsplit(settings.SITE_URL).netloc)


class ClinicAccountAdapter(DefaultAccountAdapter):
    def format_email_subject(self, subject: str) -> str:
        """Start with the clinic's name, as the appointment emails' subjects do."""
        if allauth_settings.EMAIL_SUBJECT_PREFIX is not None:
            return super().format_email_subject(subject)
        return f"{settings.CLINIC_NAME}: {subject}"

    def send_mail(self, template_prefix: str, email: str, context: dict[str, Any]) -> None:
        """Render as allauth does, then queue the message instead of sending it here."""
        ctx = {"request": allauth_context.request, "email": email, "current_site": clinic_site()}
        ctx.update(context)
        message = self.render_mail(template_prefix, email, ctx)
        account_email_enqueue(message, template_prefix=template_prefix)

    def set_password(self, user, password: str) -> None:
        """The password change, reset and set pages: the user's other sessions and their refresh
        tokens end (the session making the change is signed out by allauth, or is not theirs)."""
        request = allauth_context.request
        session = getattr(request, "session", None)
        accounts.password_set(
            actor=user, user=user, password=password, keep_session_key=session.session_key if session else None
        )

    def is_reauthentication_required(self, *, app: str, **kwargs) -> bool:
        """The second factor's pages (setting one up, as staff must right after their first
        sign-in, its recovery codes, turning it off) ask for no password again within
        ACCOUNT_REAUTHENTICATION_TIMEOUT of signing in: the sign-in (with the second factor, for a
        user who has one) is the recent proof. Later they ask, as allauth does."""
        required = super().is_reauthentication_required(app=app, **kwargs)
        request = allauth_context.request
        if not required or app != "allauth.mfa" or request is None or not request.user.is_authenticated:
            return required
        recent = time.time() - allauth_settings.REAUTHENTICATION_TIMEOUT
        records = get_authentication_records(request, request.user)
        return not any(isinstance(r.get("at"), int | float) and r["at"] > recent for r in records)


class ClinicMFAAdapter(DefaultMFAAdapter):
    error_messages = {
        **DefaultMFAAdapter.error_messages,
        "cannot_delete_authenticator": (
            "Staff accounts must keep their authenticator app. If you lost your phone, ask the "
            "clinic admin to reset your second factor."
        ),
    }

    def get_totp_issuer(self) -> str:
        return settings.MFA_TOTP_ISSUER or settings.CLINIC_NAME

    def can_delete_authenticator(self, authenticator) -> bool:
        return access.can_remove_own_second_factor(authenticator.user)


def password_set_email_enqueue(user: User) -> None:
    """Email `user` a link to choose their own password, through the worker.

    For an account the front desk created: the front desk never sets another user's
    password. The link is allauth's password-reset link (its token generator and its
    `account_reset_password_from_key` page), so it expires like a reset and stops working
    once a password is chosen; it is absolute on `SITE_URL`, as no request is needed.
    Sending it again gives a new link. A user without an email address gets nothing.
    """
    if not user.email:
        return
    # Built as allauth builds a reset link (account.forms.ResetPasswordForm).
    path = reverse(
        "account_reset_password_from_key",
        kwargs={"uidb36": user_pk_to_url_str(user), "key": default_token_generator.make_token(user)},
    )
    context = {
        "user": user,
        "username": user.get_username(),
        "email": user.email,
        "password_set_url": site_url(path),
        # Django's reset tokens stop working PASSWORD_RESET_TIMEOUT seconds after they are made.
        "expires_at": timezone.localtime() + timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT),
        "time_zone": timezone.get_default_timezone_name(),
        "login_url": site_url(reverse("account_login")),
        "current_site": clinic_site(),
        "CLINIC_NAME": settings.CLINIC_NAME,
    }
    message = get_adapter().render_mail(INVITE_TEMPLATE, user.email, context)
    account_email_enqueue(message, template_prefix=INVITE_TEMPLATE)


def account_email_enqueue(message: EmailMessage, *, template_prefix: str) -> None:
    """Hand a rendered account email to the worker, as plain data.

    A broker that cannot take it is logged, not raised: the page answers as it would
    for an address without an account, so not even an outage tells which addresses
    have one.
    """
    # Fixed now, so a retried send carries the same Message-ID.
    message.extra_headers.setdefault("Message-ID", make_msgid(domain=clinic_domain()))
    try:
        async_task(
            ACCOUNT_EMAIL_TASK,
            str(message.subject),
            str(message.body),
            str(message.from_email),
            [str(address) for address in message.to],
            {str(name): str(value) for name, value in message.extra_headers.items()},
            [(str(content), str(mimetype)) for content, mimetype in getattr(message, "alternatives", [])],
            message.content_subtype,
            task_name=f"account email {template_prefix.rpartition('/')[2]}",
            # The message holds a live reset link: no copy is kept once it is sent.
            save=False,
        )
    except Exception:
        logger.exception("Account email %s not queued", template_prefix)


class ClinicUserSessionsAdapter(DefaultUserSessionsAdapter):
    def end_sessions(self, sessions) -> None:
        """ "Sign out the other sessions" (allauth's sessions page): through clinic/accounts.py, which
        also ends the user's API refresh tokens."""
        request = allauth_context.request
        current = request.session.session_key
        keep = None if any(session.session_key == current for session in sessions) else current
        accounts.sessions_end(actor=request.user, user=request.user, keep_session_key=keep)
