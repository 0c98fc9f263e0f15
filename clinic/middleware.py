"""Response hygiene for medical data."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.utils.cache import patch_cache_control

STAFF_IDLE_SECONDS = 15 * 60


class PrivateDataMiddleware:
    """Keep patient data out of caches, and staff sessions short.

    - Every dynamic response (API, pages, admin) gets `Cache-Control: no-store`
      unless the view chose its own caching; static files are served before
      this middleware and keep theirs.
    - A staff user's session expires after 15 minutes without a request; each
      request slides the window.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        session = getattr(request, "session", None)
        if session is not None and session.get(SESSION_KEY) and request.user.is_staff:
            # Signed in through the session (not a Bearer token): slide the idle window.
            session.set_expiry(getattr(settings, "STAFF_SESSION_IDLE_SECONDS", STAFF_IDLE_SECONDS))
        if not response.has_header("Cache-Control"):
            patch_cache_control(response, no_store=True, private=True)
        return response
