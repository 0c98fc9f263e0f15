"""What the logs may not hold: the token of a manage link (`/a/<token>/`) opens an appointment
without signing in, and that of a waitlist offer (`/w/<token>/`) books one, so every log line
writes those paths as `/a/…` and `/w/…`.

`RedactManageLinks` filters Django's log records (settings.LOGGING); `GunicornLogger` does the
same for gunicorn's access log (config/gunicorn.py).
"""

from __future__ import annotations

import logging
import re

from gunicorn.glogging import Logger

# `/a/<token>` or `/w/<token>` where a path starts: at the start, after a space, a quote, an "=",
# or a URL's host.
MANAGE_LINK = re.compile(r"(^|[\s\"'=(]|//[^/\s\"']*)/([aw])/[^/\s?#\"']+")


def redact(text: str) -> str:
    return MANAGE_LINK.sub(r"\1/\2/…", text)


class RedactManageLinks(logging.Filter):
    """Rewrites a record's message with its manage-link tokens taken out."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


class GunicornLogger(Logger):
    """gunicorn's logger, with manage-link tokens taken out of every access-log field."""

    def atoms(self, resp, req, environ, request_time) -> dict:
        atoms = super().atoms(resp, req, environ, request_time)
        return {key: redact(value) if isinstance(value, str) else value for key, value in atoms.items()}
