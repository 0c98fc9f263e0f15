"""Development: debug on, a throwaway key, emails written to var/mail/."""

from .base import *  # noqa: F403
from .base import Q_CLUSTER, VAR_DIR, env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
SECRET_KEY = env("DJANGO_SECRET_KEY", default="local-development-key-not-for-production")

# Each email the app sends lands as a file in var/mail/ (see README), unless EMAIL_URL
# says otherwise. Set directly: django-environ reads filemail:///abs/path as a relative path.
if env("EMAIL_URL", default=""):
    vars().update(env.email_url("EMAIL_URL"))
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = str(VAR_DIR / "mail")

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Webhooks may go to a receiver on this machine, over plain http.
WEBHOOKS_ALLOW_PRIVATE = True
WEBHOOKS_REQUIRE_HTTPS = False

# `make run` (honcho) gives the worker 5 seconds after Ctrl-C before it SIGKILLs it. A stopping
# worker finishes the task it holds, so a send is kept short: the mail server gets 3 seconds, and
# a task (and an outbox claim, clinic/tasks.py) lasts at most 4; `retry` stays longer than `timeout`.
EMAIL_TIMEOUT = 3
Q_CLUSTER = {**Q_CLUSTER, "timeout": 4, "retry": 8}
