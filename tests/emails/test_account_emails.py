"""Account emails (password reset, "set your password") are sent by the django-q2 worker.

The request never talks to the mail server: a reset for a known address only queues a
task, so it answers like one for an unknown address, and a mail server that is down
makes a failed task, never an error page. Every account email speaks in the clinic's
name, not the host's.
"""

from __future__ import annotations

import logging
import re
import time
from datetime import timedelta

import pytest
import time_machine
from django.conf import settings as django_settings
from django.core import mail
from django.test import Client, override_settings
from django.utils import timezone
from django.utils.module_loading import import_string
from django_q.models import OrmQ, Task

from clinic.adapters import password_set_email_enqueue
from clinic.tasks import ACCOUNT_EMAIL_TASK
from tests.emails.conftest import free_port, wait_for
from tests.factories import PatientFactory, UserFactory

pytestmark = pytest.mark.django_db

RESET = "/accounts/password/reset/"
RESET_DONE = "/accounts/password/reset/done/"
NEW_PASSWORD = "a-New-secret-77"


@pytest.fixture
def queued(monkeypatch):
    """async_task puts tasks on the database broker, as in production, instead of running them inline."""
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", False)


def queued_tasks() -> list[dict]:
    return [row.task for row in OrmQ.objects.order_by("id")]


def run(task: dict):
    """What the worker does with a task from the broker."""
    return import_string(task["func"])(*task["args"], **task["kwargs"])


def reset_link(text: str, *, site: str = "http://testserver") -> str:
    return re.search(re.escape(site) + r"(/accounts/password/reset/key/\S+)", text).group(1)


def set_password_through(client: Client, link: str) -> None:
    form_page = client.get(link, follow=True)
    assert "Choose a new password" in form_page.content.decode()
    url = form_page.redirect_chain[-1][0] if form_page.redirect_chain else link
    done = client.post(url, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert done.status_code == 302


def test_a_password_reset_only_queues_the_email_and_the_queued_task_delivers_a_working_link(queued, patient):
    client = Client()
    response = client.post(RESET, {"email": patient.user.email})

    assert (response.status_code, response["Location"]) == (302, RESET_DONE)
    assert mail.outbox == [], "the request itself sends nothing"
    (task,) = queued_tasks()
    assert task["func"] == ACCOUNT_EMAIL_TASK
    assert task["name"] == "account email password_reset_key"
    unknown = client.post(RESET, {"email": "nobody@example.test"})
    assert (unknown.status_code, unknown["Location"]) == (302, RESET_DONE)
    assert len(queued_tasks()) == 1, "nothing is queued for an address without an account"

    run(task)
    (message,) = mail.outbox
    assert message.to == [patient.user.email]
    assert "Password Reset" in message.subject
    assert message.extra_headers["Message-ID"].endswith("@clinic.localhost>")
    set_password_through(client, reset_link(message.body))
    patient.user.refresh_from_db()
    assert patient.user.check_password(NEW_PASSWORD)


def test_the_reset_email_speaks_in_the_clinics_name_not_the_hosts(patient, settings):
    settings.CLINIC_NAME = "Hill Clinic"

    Client().post(RESET, {"email": patient.user.email})

    (message,) = mail.outbox
    assert message.subject == "Hill Clinic: Password Reset Email"
    assert "Hello from Hill Clinic!" in message.body
    assert "Thank you for using Hill Clinic!" in message.body
    assert "testserver!" not in message.body
    assert reset_link(message.body).startswith("/accounts/password/reset/key/")


# --- The "set your password" email of an account the front desk created -----------------

SITE = "https://clinic.example.test"


@pytest.fixture
def created(settings):
    """A patient the front desk created: no usable password until they choose one."""
    settings.SITE_URL = SITE
    settings.CLINIC_NAME = "Hill Clinic"
    return PatientFactory(user__username="maria.lopez", user__password=None).user


def test_a_created_account_is_emailed_a_link_that_lets_its_user_choose_a_password_and_sign_in(created):
    assert not created.has_usable_password()

    password_set_email_enqueue(created)

    (message,) = mail.outbox
    assert message.to == [created.email]
    assert message.subject == "Hill Clinic: Choose your password"
    assert "Hill Clinic created an account for you" in message.body
    assert "Your username is maria.lopez" in message.body
    assert message.extra_headers["Message-ID"].endswith("@clinic.localhost>")
    assert "testserver" not in message.body
    link = reset_link(message.body, site=SITE)

    client = Client()
    set_password_through(client, link)
    created.refresh_from_db()
    assert created.check_password(NEW_PASSWORD)
    signed_in = client.post("/accounts/login/", {"login": "maria.lopez", "password": NEW_PASSWORD})
    assert signed_in.status_code == 302
    assert client.session["_auth_user_id"] == str(created.pk)


def test_the_password_set_email_is_queued_for_the_worker_like_the_other_account_emails(queued, created):
    password_set_email_enqueue(created)

    assert mail.outbox == [], "nothing is sent before the worker runs the task"
    (task,) = queued_tasks()
    assert task["func"] == ACCOUNT_EMAIL_TASK
    assert task["name"] == "account email password_set_invite"
    run(task)
    (message,) = mail.outbox
    assert message.to == [created.email]


def test_the_password_set_link_works_once_and_expires_like_a_reset(created):
    password_set_email_enqueue(created)
    password_set_email_enqueue(created)  # the front desk sent it again
    first, second = (reset_link(message.body, site=SITE) for message in mail.outbox)

    later = timezone.now() + timedelta(seconds=django_settings.PASSWORD_RESET_TIMEOUT + 60)
    with time_machine.travel(later):
        expired = Client().get(first, follow=True)
    assert "This link has expired" in expired.content.decode()

    set_password_through(Client(), second)
    used = Client().get(first, follow=True)
    assert "This link has expired" in used.content.decode(), "a chosen password retires every earlier link"


def test_a_user_without_an_email_is_sent_nothing(queued):
    user = UserFactory(email="", password=None)

    password_set_email_enqueue(user)

    assert queued_tasks() == []
    assert mail.outbox == []


def test_with_the_mail_server_unreachable_a_reset_answers_the_usual_redirect_and_the_task_fails(queued, patient):
    closed_port = free_port()  # bound once and released: nothing listens there
    smtp = {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": closed_port,
        "EMAIL_USE_TLS": False,
        "EMAIL_USE_SSL": False,
        "EMAIL_TIMEOUT": 5,
    }
    with override_settings(**smtp):
        client = Client(raise_request_exception=False)
        known = client.post(RESET, {"email": patient.user.email})
        unknown = client.post(RESET, {"email": "nobody@example.test"})
        assert known.status_code == unknown.status_code == 302
        assert known["Location"] == unknown["Location"] == RESET_DONE

        # The worker's attempt fails, which django-q2 records as a failed task and retries.
        (task,) = queued_tasks()
        with pytest.raises(ConnectionRefusedError):
            run(task)


def test_a_broker_that_refuses_the_task_still_answers_the_usual_redirect(patient, monkeypatch, caplog):
    def broker_down(*args, **kwargs):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr("clinic.adapters.async_task", broker_down)
    with caplog.at_level(logging.ERROR, logger="clinic.adapters"):
        response = Client(raise_request_exception=False).post(RESET, {"email": patient.user.email})
    assert (response.status_code, response["Location"]) == (302, RESET_DONE)
    assert "Account email account/email/password_reset_key not queued" in caplog.text
    assert mail.outbox == []


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_worker_delivers_the_reset_email_once_the_mail_server_is_back(workers, smtp_server, patient):
    smtp_server.stop()
    workers.start()

    client = Client()
    started = time.monotonic()
    response = client.post(RESET, {"email": patient.user.email})
    assert (response.status_code, response["Location"]) == (302, RESET_DONE)
    assert time.monotonic() - started < 3  # the request never waits on the mail server

    wait_for(
        lambda: Task.objects.filter(func=ACCOUNT_EMAIL_TASK, success=False).exists(),
        what="the worker to record the failed send",
    )
    smtp_server.start()
    (message,) = wait_for(lambda: smtp_server.messages, what="the reset email at the SMTP server")
    assert message["To"] == patient.user.email
    assert "Password Reset" in message["Subject"]
    text = next(part for part in message.walk() if part.get_content_type() == "text/plain")

    set_password_through(client, reset_link(text.get_payload(decode=True).decode()))
    patient.user.refresh_from_db()
    assert patient.user.check_password(NEW_PASSWORD)

    wait_for(lambda: not OrmQ.objects.exists(), what="the retried task to be acknowledged")
    time.sleep(0.5)
    assert len(smtp_server.messages) == 1
