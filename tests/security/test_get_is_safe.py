"""No GET changes the database: every URL of the authorization table, requested as each role.

Two writes are allowed, each the request's own bookkeeping rather than a change to clinic
data, and each matched narrowly by table and statement:

- the session row (`django_session`): a staff user's session slides its 15-minute idle
  expiry (clinic/middleware.py, at most once a minute), which saves the session;
- an INSERT into the medical-record access log (`clinic_recordaccess`): reading a record is
  what that log records, and it is append-only;
- on allauth's e-mail page (`/accounts/email/`) only, an INSERT into `account_emailaddress`:
  allauth copies the user's existing address into its own table on the first visit (users
  made by the admin or the API have none yet); nothing about the user changes.

Anything else (an UPDATE of an appointment, an outbox row, a history row, an email) fails.
"""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.security.url_table import ROLES, ROUTES, build_world

WRITE = re.compile(r'^\s*(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"?(\w+)"?', re.IGNORECASE)
ALLOWED = {("UPDATE", "django_session"), ("INSERT INTO", "django_session"), ("INSERT INTO", "clinic_recordaccess")}
ALLOWED_ON = {"/accounts/email/": {("INSERT INTO", "account_emailaddress")}}


def writes_in(queries) -> list[tuple[str, str]]:
    found = []
    for query in queries:
        match = WRITE.match(query["sql"])
        if match:
            found.append((re.sub(r"\s+", " ", match.group(1).upper()), match.group(2).lower()))
    return found


def test_the_write_detector_sees_inserts_updates_and_deletes(db):
    from tests import factories

    with CaptureQueriesContext(connection) as queries:
        user = factories.UserFactory()
        user.first_name = "Changed"
        user.save()
        user.delete()
    kinds = {kind for kind, table in writes_in(queries.captured_queries) if table == "clinic_user"}
    assert kinds == {"INSERT INTO", "UPDATE", "DELETE FROM"}


@pytest.fixture
def world(db, next_monday_10):
    cache.clear()
    yield build_world(next_monday_10)
    cache.clear()


@pytest.mark.parametrize("role", ROLES)
def test_no_get_writes_to_the_database_or_sends_mail(world, role):
    client = Client()
    user = world.user(role)
    if user is not None:
        client.force_login(user)
    mail.outbox.clear()
    offending = []
    for route in ROUTES.values():
        url = route.url(world)
        with CaptureQueriesContext(connection) as queries:
            client.get(url)
        allowed = ALLOWED | ALLOWED_ON.get(url, set())
        writes = [write for write in writes_in(queries.captured_queries) if write not in allowed]
        if writes:
            offending.append(f"GET {url}: {writes}")
    assert not offending, "\n" + "\n".join(offending)
    assert mail.outbox == []
