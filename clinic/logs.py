"""What the logs may not hold: the token of a manage link (`/a/<token>/`) opens an appointment
without signing in, and that of a waitlist offer (`/w/<token>/`) books one, so every log line
writes those paths as `/a/…` and `/w/…`.

`RedactManageLinks` filters Django's log records (settings.LOGGING); `GunicornLogger` does the
same for gunicorn's access log (config/gunicorn.py), and leaves out its query strings, user
names and credentials.

Under the production settings each line is a JSON object (`JsonFormatter`) carrying the id of
the request it belongs to, or of the request that queued the task a worker runs.
"""

from __future__ import annotations

import contextvars
import functools
import json
import logging
import re
import secrets
from datetime import UTC, datetime

from gunicorn.glogging import Logger

# `/a/<token>` or `/w/<token>` where a path starts: at the start, after a space, a quote, an "=",
# or a URL's host.
MANAGE_LINK = re.compile(r"(^|[\s\"'=(]|//[^/\s\"']*)/([aw])/[^/\s?#\"']+")


def redact(text: str) -> str:
    if "/a/" not in text and "/w/" not in text:
        return text  # most lines: no regular expression to run
    return MANAGE_LINK.sub(r"\1/\2/…", text)


# The access log: one line per request, written by clinic.middleware.RequestLogMiddleware.
ACCESS_LOGGER = "clinic.access"


class RedactManageLinks(logging.Filter):
    """Rewrites a record's message with its manage-link tokens taken out."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == ACCESS_LOGGER:
            return True  # its path is redacted where the line is made (RequestLogMiddleware)
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


# A query string wherever a URL appears in a value (the request line, a referer, a redirect's
# Location): it can hold a name or an address.
QUERY_STRING = re.compile(r"\?[^\s\"']*")


class GunicornLogger(Logger):
    """gunicorn's logger. Its access-log fields carry no manage-link token and no query string,
    and the fields that are only a query string, a Basic-auth user name, credentials or cookies
    are written as "-", whatever `--access-logformat` asks for."""

    HIDDEN = frozenset(
        {
            "q",  # the query string
            "u",  # the user name of a Basic Authorization header
            "{query_string}e",
            "{authorization}i",
            "{http_authorization}e",
            "{cookie}i",
            "{http_cookie}e",
            "{set-cookie}o",
        }
    )

    def atoms(self, resp, req, environ, request_time) -> dict:
        atoms = super().atoms(resp, req, environ, request_time)
        for key, value in atoms.items():
            if key in self.HIDDEN:
                atoms[key] = "-"
            elif isinstance(value, str):
                atoms[key] = redact(QUERY_STRING.sub("", value) if "?" in value else value)
        return atoms


# --- Request ids and JSON lines -------------------------------------------------------------

# The id of the request (or of the request that queued the task) this code runs for.
request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("clinic_request_id", default="")
# 1-64 characters a header may carry; anything else is replaced, never echoed.
REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
REQUEST_ID_HEADER = "X-Request-ID"
# The same header as WSGI names it in request.META.
REQUEST_ID_META = "HTTP_" + REQUEST_ID_HEADER.upper().replace("-", "_")
# Fields a record may carry besides its message, written when present: the request's fields of an
# access line (a dict, clinic.middleware.RequestLogMiddleware) and a finished task's name.
ACCESS_FIELDS = "access"
TASK_FIELD = "task"


task_logger = logging.getLogger("clinic.tasks")


def request_id_from(value: str | None) -> str:
    """The incoming id when it is well formed, else a new one."""
    if value and REQUEST_ID.fullmatch(value):
        return value
    return secrets.token_hex(16)


def request_id_clear(**kwargs) -> None:
    """On request_finished: the next lines of this thread belong to no request."""
    request_id_var.set("")


def current_request_id() -> str:
    return request_id_var.get()


def request_context() -> dict:
    """The enqueuing request's id, as keyword arguments of async_task (see carries_request_id)."""
    request_id = current_request_id()
    return {"request_id": request_id} if request_id else {}


def carries_request_id(task):
    """A task queued with `request_id=` runs with that id in its log lines (the enqueuing
    request's, see clinic.tasks), and without it the task's own call is unchanged."""

    @functools.wraps(task)
    def run(*args, request_id: str = "", **kwargs):
        token = request_id_var.set(request_id_from(request_id) if request_id else "")
        try:
            result = task(*args, **kwargs)
            # The task's name only: what it returns may name the patient's address.
            task_logger.info("task %s finished", task.__name__, extra={TASK_FIELD: task.__name__})
            return result
        finally:
            request_id_var.reset(token)

    return run


_JSON = json.JSONEncoder(ensure_ascii=False, default=str)


@functools.lru_cache(maxsize=4)
def _utc_second(second: int) -> str:
    """A line's time up to the second, made once for all the lines of that second."""
    return datetime.fromtimestamp(second, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the request id, and the request
    fields of the access line. Messages are already redacted by RedactManageLinks.

    A line carries no thread name, multiprocessing name nor source location, so where this
    formatter is configured, logging stops looking them up for every record (the Logging HOWTO's
    "Optimization": a third of the access line's cost). The process id stays: gunicorn's own
    lines print it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        logging.logThreads = False
        logging.logMultiprocessing = False
        logging._srcfile = None

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": f"{_utc_second(int(record.created))}.{int(record.msecs):03d}+00:00",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or request_id_var.get()
        if request_id:
            line["request_id"] = request_id
        access = getattr(record, ACCESS_FIELDS, None)
        if access:
            line.update(access)
        task = getattr(record, TASK_FIELD, None)
        if task:
            line[TASK_FIELD] = task
        if record.exc_info:
            line["exc"] = redact(self.formatException(record.exc_info))
        return _JSON.encode(line)
