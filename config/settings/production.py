"""Production: everything from the environment, secure cookies, HSTS. Only tightens base."""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import OBSERVABILITY, SECRET_KEY, env, logging_config

DEBUG = False

if not SECRET_KEY or len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5 or SECRET_KEY.startswith("django-insecure"):
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY must be set to a long random value in production "
        "(python -c 'import secrets; print(secrets.token_urlsafe(64))')."
    )

# --- Sign-in ------------------------------------------------------------------------
# Staff sign in with a second factor (allauth.mfa); turn off only for a trial install.
MFA_REQUIRED_FOR_STAFF = env.bool("MFA_REQUIRED_FOR_STAFF", default=True)

# --- HTTPS ----------------------------------------------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
# Load balancers probe over plain HTTP; the health checks hold nothing private (clinic/health.py).
SECURE_REDIRECT_EXEMPT = [r"^health/(live|ready)$"]
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# --- Cookies --------------------------------------------------------------------
SESSION_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_SECURE = True
CSRF_COOKIE_HTTPONLY = True
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

# --- Webhooks -------------------------------------------------------------------
# Endpoints are https, and every address their host resolves to is public (no SSRF into the network).
WEBHOOKS_ALLOW_PRIVATE = False
WEBHOOKS_REQUIRE_HTTPS = True
# --- Logs -----------------------------------------------------------------------
# JSON lines with the request id, and one access line per request (clinic/logs.py).
LOGGING = logging_config(json_lines=OBSERVABILITY, access_log=OBSERVABILITY)
