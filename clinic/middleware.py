"""Response hygiene for medical data."""

from __future__ import annotations

import time

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.utils.cache import patch_cache_control

STAFF_IDLE_SECONDS = 15 * 60
RENEW_EVERY_SECONDS = 60
RENEWED_AT_KEY = "clinic_idle_renewed_at"


class PrivateDataMiddleware:
    """Keep patient data out of caches, and staff sessions short.

    - Every dynamic response (API, pages, admin) gets `Cache-Control: no-store`
      unless the view chose its own caching; static files are served before
      this middleware and keep theirs.
    - A staff user's session expires after 15 minutes without a request. The
      window slides at most once a minute, so a busy staff page does not write
      its session on every request (the idle limit holds to within that minute).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        session = getattr(request, "session", None)
        if session is not None and session.get(SESSION_KEY) and request.user.is_staff:
            # Signed in through the session (not a Bearer token): slide the idle window.
            now = int(time.time())
            if now - session.get(RENEWED_AT_KEY, 0) >= RENEW_EVERY_SECONDS:
                session[RENEWED_AT_KEY] = now
                session.set_expiry(getattr(settings, "STAFF_SESSION_IDLE_SECONDS", STAFF_IDLE_SECONDS))
        if not response.has_header("Cache-Control"):
            patch_cache_control(response, no_store=True, private=True)
        return response
