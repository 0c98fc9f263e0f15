"""Tests: fast hashing, in-memory email, tasks run inline unless a test starts a worker."""

import os
import tempfile

from .base import *  # noqa: F403
from .base import DATABASES, Q_CLUSTER, STATIC_ROOT

SECRET_KEY = "test-key-not-for-production-0123456789-abcdefghijklmnopqrstuvwxyz"  # noqa: S105
DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Django's test client signs in without a request, which the lockout needs; the lockout
# tests (tests/security/) switch it on with override_settings(AXES_ENABLED=True).
AXES_ENABLED = False
# Staff need no second factor unless a test asks for it (override_settings(MFA_REQUIRED_FOR_STAFF=True)).
MFA_REQUIRED_FOR_STAFF = False
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# async_task runs the task at once, in the test's process; the worker tests
# start a real `qcluster` process with their own settings.
Q_CLUSTER = {**Q_CLUSTER, "sync": True}

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file rather than memory, so the `qcluster` process of the worker tests
    # (config/settings/worker_test.py) opens the same test database.
    DATABASES["default"]["TEST"] = {"NAME": os.path.join(tempfile.gettempdir(), f"test_clinic_{os.getpid()}.sqlite3")}

# WhiteNoise looks for collected files at start-up; tests serve static files through the finders.
STATIC_ROOT.mkdir(parents=True, exist_ok=True)

# Webhook tests use a receiver on loopback over http, and retry within a second.
WEBHOOKS_ALLOW_PRIVATE = True
WEBHOOKS_REQUIRE_HTTPS = False
WEBHOOKS_RETRY_SECONDS = [0, 0, 0, 0]
