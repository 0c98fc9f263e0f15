"""allauth's account adapter, with account emails sent by the django-q2 worker.

allauth renders each account email (password reset, and any other it sends) in the
request, with its own templates and links; the rendered message goes to the worker
(`clinic.tasks.send_account_email`), which talks to the mail server. So the request
makes no SMTP round trip: a reset for a known address answers about as fast as one for
an unknown address, and a slow or down mail server neither slows nor breaks the page.
A failed send is a failed task, which the database broker offers again (the Redis broker
does not re-deliver failed tasks).
"""

from __future__ import annotations

import logging
from email.utils import make_msgid
from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core import context as allauth_context
from django.contrib.sites.shortcuts import get_current_site
from django.core.mail import EmailMessage
from django_q.tasks import async_task

from clinic.emails import clinic_domain
from clinic.tasks import ACCOUNT_EMAIL_TASK

logger = logging.getLogger(__name__)


class ClinicAccountAdapter(DefaultAccountAdapter):
    def send_mail(self, template_prefix: str, email: str, context: dict[str, Any]) -> None:
        """Render as allauth does, then queue the message instead of sending it here."""
        request = allauth_context.request
        ctx = {"request": request, "email": email, "current_site": get_current_site(request)}
        ctx.update(context)
        message = self.render_mail(template_prefix, email, ctx)
        account_email_enqueue(message, template_prefix=template_prefix)


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
