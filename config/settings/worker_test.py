"""The `qcluster` process started by the worker tests (tests/emails/test_worker.py).

It opens the test run's database (a SQLite file or the PostgreSQL test database,
named in WORKER_TEST_DATABASE_NAME), sends through SMTP to the test's server on
loopback, and retries within seconds rather than minutes.
"""

from .test import *  # noqa: F403
from .test import DATABASES, Q_CLUSTER, env, logging_config

DATABASES["default"]["NAME"] = env("WORKER_TEST_DATABASE_NAME")
DATABASES["default"].pop("TEST", None)

EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = "127.0.0.1"
EMAIL_PORT = env.int("WORKER_TEST_SMTP_PORT")
EMAIL_HOST_USER = ""
EMAIL_HOST_PASSWORD = ""
EMAIL_USE_TLS = False
EMAIL_USE_SSL = False
EMAIL_TIMEOUT = 5

Q_CLUSTER = {key: value for key, value in Q_CLUSTER.items() if key != "sync"}
# Short enough for tests; `retry` stays longer than `timeout`, as in production.
Q_CLUSTER.update(
    {"workers": env.int("WORKER_TEST_WORKERS", default=2), "timeout": 2, "retry": 3, "poll": 0.1, "guard_cycle": 0.2}
)
if env("WORKER_TEST_CLUSTER_NAME", default=""):
    # Its own queue (and signing salt), so parallel test runs sharing a Redis never mix.
    Q_CLUSTER["name"] = env("WORKER_TEST_CLUSTER_NAME")

# A webhook attempt ends well inside the task timeout above.
WEBHOOKS_TIMEOUT = 1
if env.bool("WORKER_TEST_JSON_LOGS", default=False):
    # The production log lines (tests/test_logs.py reads the task's request id from them).
    LOGGING = logging_config(json_lines=True, access_log=True)
