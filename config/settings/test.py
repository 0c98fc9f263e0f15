"""Tests: fast hashing, in-memory email, tasks run inline unless a test starts a worker."""

from .base import *  # noqa: F403
from .base import Q_CLUSTER

SECRET_KEY = "test-key-not-for-production"  # noqa: S105
DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# async_task runs the task at once, in the test's process; the worker tests
# start a real `qcluster` process with their own settings.
Q_CLUSTER = {**Q_CLUSTER, "sync": True}
