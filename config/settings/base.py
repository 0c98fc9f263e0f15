"""Settings shared by every environment, read from the environment.

`local.py` adds development comfort, `test.py` speed, `production.py` only
tightens and demands secrets. Every name read here is listed in the README.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONE, SELF

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
env.read_env(BASE_DIR / ".env", overwrite=False)

# --- Core ---------------------------------------------------------------------

# local.py and test.py give a development key; production.py refuses to start without one.
SECRET_KEY = env("DJANGO_SECRET_KEY", default="")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
AUTH_USER_MODEL = "clinic.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "clinic.apps.ClinicAdminConfig",  # the clinic's AdminSite replaces django.contrib.admin
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "django_htmx",
    "template_partials",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.usersessions",
    "django_q",
    "simple_history",
    "csp",
    "axes",
    "clinic.apps.ClinicConfig",
]

MIDDLEWARE = [
    # First: the request id every log line of the request carries, and the access log line.
    "clinic.middleware.RequestLogMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Requests by route name and status, and their latency (/metrics); static files are not counted.
    "clinic.metrics.MetricsMiddleware",
    # Content-Security-Policy on every dynamic response (static files are served above).
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    # Staff without a second factor are sent to set one up (MFA_REQUIRED_FOR_STAFF).
    "clinic.middleware.SecondFactorSetupMiddleware",
    # Records request.user as the author of every history row (API users too:
    # DRF sets the authenticated user on the underlying request).
    "simple_history.middleware.HistoryRequestMiddleware",
    # Cache-Control: no-store on responses with patient data; 15-minute idle staff sessions.
    "clinic.middleware.PrivateDataMiddleware",
    # Last: turns a login refused by the lockout into the lockout page (clinic/lockout.py).
    "axes.middleware.AxesMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "clinic.context_processors.clinic",
            ],
        },
    },
]

# --- Security headers -----------------------------------------------------------

# Content-Security-Policy (django-csp): scripts and styles only from our own static
# files, no inline code, no eval, no plugins, no framing. The admin, Swagger UI
# (/api/docs/ loads its start-up script from a URL) and the htmx pages (htmx's
# allowEval off in templates/base.html) all run under it.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    }
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# --- Database -----------------------------------------------------------------

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'clinic.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
# Reconnect transparently after the database drops a connection.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Write transactions take the lock when they begin, so the overlap re-check
    # inside a booking transaction cannot race another writer. WAL lets the
    # worker and the web server read while one of them writes.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )

# --- Authentication -----------------------------------------------------------

AUTHENTICATION_BACKENDS = [
    # First: refuses any login of a (username, address) pair that is locked out.
    "axes.backends.AxesStandaloneBackend",
    # Django's username and password (the admin's login); loads users with their role.
    "clinic.authentication.ClinicModelBackend",
    # allauth's (username or email), hashing once per login whether the account exists or not.
    "clinic.authentication.ClinicAuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Staff sessions end after this long without a request (clinic/middleware.py).
STAFF_SESSION_IDLE_SECONDS = env.int("STAFF_SESSION_IDLE_SECONDS", default=15 * 60)
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "clinic:my-appointments"
LOGOUT_REDIRECT_URL = "account_login"

# django-allauth: sign in by email or username; patients sign up with email.
ACCOUNT_LOGIN_METHODS = {"email", "username"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "username*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_PRESERVE_USERNAME_CASING = False
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = True
# Sign-up creates the patient profile too (clinic.accounts.patient_register).
ACCOUNT_FORMS = {"login": "clinic.forms.ClinicLoginForm", "signup": "clinic.forms.PatientSignupForm"}
# A new patient lands where they book.
ACCOUNT_SIGNUP_REDIRECT_URL = "clinic:book"
# Account emails (password reset, …) are rendered in the request and sent by the worker.
ACCOUNT_ADAPTER = "clinic.adapters.ClinicAccountAdapter"
# Password reset answers alike for known and unknown addresses, and mails only known ones.
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_EMAIL_UNKNOWN_ACCOUNTS = False
# Failed sign-ins are counted by django-axes on every login path (below), not by allauth,
# whose own counter would also block a whole address.
ACCOUNT_RATE_LIMITS = {"login_failed": None}

# Second factor (allauth.mfa): an authenticator app (TOTP) with recovery codes. With
# MFA_REQUIRED_FOR_STAFF on (production's default), every staff user (whoever opens the admin)
# must set one up before any admin or staff page, and /api/token/ gives them no token without it.
MFA_REQUIRED_FOR_STAFF = env.bool("MFA_REQUIRED_FOR_STAFF", default=False)
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = env("CLINIC_NAME", default="Riverside Clinic")
MFA_ADAPTER = "clinic.adapters.ClinicMFAAdapter"
# Codes typed on the sign-in pages are checked like /api/token/'s (clinic/second_factor.py):
# a code is used once, and a wrong one counts toward the lockout.
MFA_FORMS = {
    "authenticate": "clinic.forms.SecondFactorForm",
    "reauthenticate": "clinic.forms.SecondFactorReauthenticateForm",
}
# allauth.usersessions lists each user's sign-ins (made by allauth's sign-in) so they can end them.
USERSESSIONS_TRACK_ACTIVITY = False
# Signing out the other sessions ends the user's API refresh tokens too (clinic/accounts.py).
USERSESSIONS_ADAPTER = "clinic.adapters.ClinicUserSessionsAdapter"

# django-axes: after AXES_FAILURE_LIMIT failed logins of one username from one address, that
# pair is refused for the cool-off, on the admin, the sign-in page and /api/token/ alike.
# Never by address alone: one attacker behind the clinic's address cannot lock everyone out.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Email and username of one account, in any case, count as one username.
AXES_USERNAME_CALLABLE = "clinic.lockout.login_key"
AXES_LOCKOUT_CALLABLE = "clinic.lockout.lockout_response"
AXES_CLIENT_IP_CALLABLE = "clinic.lockout.client_address"
# Behind reverse proxies, how many of them append to X-Forwarded-For (0: none, the client is
# REMOTE_ADDR). Set it exactly: a count too high lets a client choose its own address.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

# --- Internationalisation and time --------------------------------------------

LANGUAGE_CODE = "en-us"
# Day-first dates and 24-hour times wherever a template or the admin uses the default
# formats (config/formats/en/formats.py; "en-us" falls back to it).
FORMAT_MODULE_PATH = ["config.formats"]
# The clinic's own zone: doctors' hours, slot grids and emails are in this zone;
# the database stores UTC.
TIME_ZONE = env("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# --- Static files -------------------------------------------------------------

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- Email --------------------------------------------------------------------

# EMAIL_URL picks the backend: smtp://user:pass@host:25, consolemail://,
# filemail:///path/to/folder (what `make run` uses, see README).
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Clinic <appointments@clinic.localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
EMAIL_TIMEOUT = 10
# The clinic's public address: links in emails are absolute on it (account emails
# rendered in a request keep allauth's links on that request's host).
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000")

CLINIC_NAME = env("CLINIC_NAME", default="Riverside Clinic")
CLINIC_ADDRESS = env("CLINIC_ADDRESS", default="1 River Street, Springfield")
CLINIC_PHONE = env("CLINIC_PHONE", default="+1 555 0100")

# --- Booking rules (clinic/booking.py) ----------------------------------------

BOOKING_MIN_NOTICE_MINUTES = env.int("BOOKING_MIN_NOTICE_MINUTES", default=60)
BOOKING_HORIZON_DAYS = env.int("BOOKING_HORIZON_DAYS", default=90)
PATIENT_CHANGE_CUTOFF_HOURS = env.int("PATIENT_CHANGE_CUTOFF_HOURS", default=24)
# The visit: check-in opens this long before the start (on the appointment's day); a patient
# not checked in this long after the start may be marked as a no-show.
CHECK_IN_OPENS_MINUTES = env.int("CHECK_IN_OPENS_MINUTES", default=120)
NO_SHOW_GRACE_MINUTES = env.int("NO_SHOW_GRACE_MINUTES", default=15)

# --- REST framework and JWT ---------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Bearer first, so a 401 carries `WWW-Authenticate: Bearer`.
        "clinic.api.authentication.ClinicJWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["clinic.api.filters.FilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "clinic.api.pagination.ClinicPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "clinic.api.exceptions.exception_handler",
    # DRF's parsers, with JSON that refuses over-large and over-deep documents as a 400.
    "DEFAULT_PARSER_CLASSES": [
        "clinic.api.parsers.ClinicJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    # Throttles count per client address: REMOTE_ADDR, or the one the trusted proxies saw
    # (without it, DRF would take a client-sent X-Forwarded-For at its word).
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
    "DEFAULT_THROTTLE_RATES": {
        "registrations": env("THROTTLE_REGISTRATIONS", default="20/hour"),
        "tokens": env("THROTTLE_TOKENS", default="60/hour"),
        # The manage links of emails (/a/<token>/): pages without sign-in.
        "manage-links": env("THROTTLE_MANAGE_LINKS", default="30/minute"),
    },
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=5),
    # Idle life of a refresh token: each use rotates it and blacklists the old one.
    "REFRESH_TOKEN_LIFETIME": timedelta(minutes=30),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
    "ALGORITHM": "HS256",
    "AUTH_HEADER_TYPES": ("Bearer",),
}
# Absolute cap on a login's refresh chain, however often it is refreshed.
JWT_REFRESH_ABSOLUTE_LIFETIME = timedelta(hours=12)

SPECTACULAR_SETTINGS = {
    "TITLE": "Clinic API",
    "DESCRIPTION": "Patients, doctors, appointments and medical records of the clinic.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Two models have a `status`: each enum keeps its own name in the schema.
    "ENUM_NAME_OVERRIDES": {
        "AppointmentStatusEnum": "clinic.models.AppointmentStatus",
        "WaitlistStatusEnum": "clinic.models.WaitlistStatus",
    },
}

# --- Task queue (django-q2) and email delivery ---------------------------------

REDIS_URL = env("REDIS_URL", default="")
Q_CLUSTER = {
    "name": "clinic",
    "workers": env.int("Q_WORKERS", default=2),
    # A task running longer than `timeout` is killed; a task that failed or was killed
    # is offered again after `retry` seconds (longer than the timeout), at most
    # `max_attempts` times. Every failure is kept (admin: Tasks → Failed tasks).
    "timeout": 60,
    "retry": 90,
    "max_attempts": 5,
    "ack_failures": False,
    "save_limit": 1000,
    "catch_up": False,
    "label": "Tasks",
}
if REDIS_URL:
    # Several worker machines share one Redis broker. It does not re-deliver failed
    # tasks; the `emails_send_due` schedule queues unsent emails again (clinic/tasks.py).
    Q_CLUSTER["redis"] = REDIS_URL
else:
    # The database is the broker: nothing else to run.
    Q_CLUSTER["orm"] = "default"

# A confirmed appointment's reminder goes out this many hours before it starts.
EMAIL_REMINDER_HOURS = env.int("EMAIL_REMINDER_HOURS", default=24)
# Attempts at one email (all retries together) before its outbox row is marked failed.
EMAIL_MAX_ATTEMPTS = env.int("EMAIL_MAX_ATTEMPTS", default=10)

# --- Webhooks (clinic/webhooks.py) ----------------------------------------------
# Seconds to wait before each retry of a delivery; attempts = len + 1, then it is marked failed.
WEBHOOKS_RETRY_SECONDS = [30, 120, 600, 3600]
# One attempt's connect and answer timeout, in seconds (no redirect is ever followed).
WEBHOOKS_TIMEOUT = 5
# An endpoint whose deliveries failed (every attempt used) this many times in a row is switched off.
WEBHOOKS_SWITCH_OFF_AFTER = env.int("WEBHOOKS_SWITCH_OFF_AFTER", default=5)
# SSRF guard: strict unless a settings module loosens it (local and test allow loopback and http).
WEBHOOKS_ALLOW_PRIVATE = False
WEBHOOKS_REQUIRE_HTTPS = True
# --- Operating: metrics and logs ---------------------------------------------------

# /metrics answers `Authorization: Bearer <METRICS_TOKEN>`; unset, loopback clients only (clinic/metrics.py).
METRICS_TOKEN = env("METRICS_TOKEN", default="")
# `off` takes out the metrics and the access log (the bench's baseline); nothing else reads it.
OBSERVABILITY = env("CLINIC_OBSERVABILITY", default="on").lower() != "off"
if not OBSERVABILITY:
    MIDDLEWARE = [
        m for m in MIDDLEWARE if m not in ("clinic.middleware.RequestLogMiddleware", "clinic.metrics.MetricsMiddleware")
    ]

# --- Logging ------------------------------------------------------------------


def logging_config(*, json_lines: bool, access_log: bool) -> dict:
    """Plain lines locally; JSON lines with the request id under production (clinic/logs.py).
    The access log (one line per request, `clinic.access`) is on where json_lines is."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
            "json": {"()": "clinic.logs.JsonFormatter"},
        },
        # No manage-link token (/a/<token>/) reaches a log line (clinic/logs.py).
        "filters": {"manage_links": {"()": "clinic.logs.RedactManageLinks"}},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "json" if json_lines else "plain",
                "filters": ["manage_links"],
            }
        },
        "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
        "loggers": {
            "django.db.backends": {"level": "WARNING"},
            # runserver and gunicorn log each request already where the lines are plain.
            "clinic.access": {"level": "INFO" if access_log else "WARNING"},
        },
    }


LOGGING = logging_config(json_lines=False, access_log=False)
