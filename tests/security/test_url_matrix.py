"""Every URL pattern of the project is in the authorization table, and each role gets what it says.

The table is tests/security/url_table.py. A new route (a view, an API endpoint, an admin
model, an allauth page) fails `test_every_url_pattern_has_exactly_one_entry` until someone
writes down who may open it, and the per-role tests then request it as everyone.
"""

from __future__ import annotations

import re

import pytest
from django.core.cache import cache
from django.test import Client

from tests.security.url_table import ROLES, ROUTES, build_world, project_routes, route_for


def test_every_url_pattern_has_exactly_one_entry():
    routes = list(project_routes())
    assert len(routes) > 100  # the admin, allauth, the API and the pages
    unlisted = [pattern for pattern, _ in routes if not route_for(pattern)]
    ambiguous = {pattern: route_for(pattern) for pattern, _ in routes if len(route_for(pattern)) > 1}
    assert unlisted == [], "URL patterns missing from the authorization table (tests/security/url_table.py)"
    assert ambiguous == {}


def test_every_entry_of_the_table_still_has_a_route():
    patterns = [pattern for pattern, _ in project_routes()]
    stale = [key for key in ROUTES if not any(re.search(key, pattern) for pattern in patterns)]
    assert stale == []


@pytest.fixture
def world(db, next_monday_10):
    cache.clear()  # throttle counters
    yield build_world(next_monday_10)
    cache.clear()


def client_as(world, role: str) -> Client:
    client = Client()
    user = world.user(role)
    if user is not None:
        client.force_login(user)
    return client


def request(client: Client, route, world):
    url = route.url(world)
    if route.method == "GET":
        return url, client.get(url)
    return url, client.generic(route.method, url, "{}", content_type="application/json")


@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_what_the_table_says_on_every_route(world, role):
    index = ROLES.index(role)
    client = client_as(world, role)
    wrong = []
    for key, route in ROUTES.items():
        url, response = request(client, route, world)
        if response.status_code != route.expected[index]:
            wrong.append(
                f"{role}: {route.method} {url} ({key}): {response.status_code}, expected {route.expected[index]}"
            )
    assert not wrong, "\n" + "\n".join(wrong)


def test_a_302_for_someone_not_allowed_in_the_admin_goes_to_its_sign_in_page(world):
    for role in ("anonymous", "patient"):
        response = client_as(world, role).get(f"/admin/clinic/medicalrecord/{world.record.pk}/change/")
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/?next=")
    response = client_as(world, "anonymous").get("/my/appointments/")
    assert response["Location"].startswith("/accounts/login/?next=")
