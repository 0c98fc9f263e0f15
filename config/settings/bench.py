"""Benchmarks (`make bench`): production-like, on loopback HTTP, with the bench-only reference views.

The reference views live in bench/ and are routed only here (ROOT_URLCONF), never in production.
"""

import os
from datetime import timedelta

from .base import *  # noqa: F403
from .base import MIDDLEWARE, OBSERVABILITY, Q_CLUSTER, REST_FRAMEWORK, SIMPLE_JWT, logging_config

DEBUG = False
SECRET_KEY = "bench-key-not-for-production-" + "x" * 40
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "bench.urls"
EMAIL_BACKEND = "django.core.mail.backends.dummy.EmailBackend"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# A run outlasts the 5-minute access token; no throttling of the load generator.
SIMPLE_JWT = {**SIMPLE_JWT, "ACCESS_TOKEN_LIFETIME": timedelta(hours=3)}
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {"registrations": None, "tokens": None, "manage-links": None},
}
# The admin sessions made before the 10k run still sign in at the growth runs, hours later.
STAFF_SESSION_IDLE_SECONDS = 12 * 60 * 60
# Every response says how many SQL queries it ran (X-Queries).
MIDDLEWARE = ["bench.middleware.QueryCountMiddleware", *MIDDLEWARE]
if OBSERVABILITY:
    # As production: metrics, JSON lines and one access line per request, written to /dev/null so
    # the run's terminal stays readable (the cost measured is building and writing each line).
    LOGGING = logging_config(json_lines=True, access_log=True)
    LOGGING["handlers"]["console"] = {
        "class": "logging.FileHandler",
        "filename": os.devnull,
        "formatter": "json",
        "filters": ["manage_links"],
    }
    LOGGING["root"]["level"] = "WARNING"
else:
    # CLINIC_OBSERVABILITY=off: no metrics middleware, no access line, plain logs (the baseline).
    LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
Q_CLUSTER = {**Q_CLUSTER, "log_level": "WARNING"}
