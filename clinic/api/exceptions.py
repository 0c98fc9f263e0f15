"""JSON errors everywhere on the API, including a 500 without a traceback.

Django's and DRF's own client errors keep their status (400 for a request Django refuses,
404, 403); only an exception nobody expected becomes the 500."""

from __future__ import annotations

import logging

from django.core.exceptions import (
    BadRequest,
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import ProtectedError, RestrictedError
from rest_framework import status
from rest_framework.fields import DateTimeField
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

from clinic.booking import BookingError, SeriesConflict

logger = logging.getLogger(__name__)

PROTECTED_DELETE = "This object cannot be deleted: other clinical data refers to it."
INTERNAL_ERROR = "Internal server error"
# Django's refusals of a request body (its SuspiciousOperation family and BadRequest).
REQUEST_TOO_LARGE = "The request body is too large."
TOO_MANY_FIELDS = "The request has too many fields."
TOO_MANY_FILES = "The request has too many files."
BAD_REQUEST = "Bad request."
_BAD_REQUEST_MESSAGES = {
    RequestDataTooBig: REQUEST_TOO_LARGE,
    TooManyFieldsSent: TOO_MANY_FIELDS,
    TooManyFilesSent: TOO_MANY_FILES,
}
NON_FIELD_ERRORS = api_settings.NON_FIELD_ERRORS_KEY


def _bad_request(exc: SuspiciousOperation | BadRequest) -> Response:
    """Django's 400 for a request it refuses, as JSON; its reason is logged, never sent."""
    if isinstance(exc, SuspiciousOperation):
        # Where Django's own handler reports these, so the security log sees API requests too.
        logging.getLogger(f"django.security.{exc.__class__.__name__}").error(str(exc))
    detail = next((text for kind, text in _BAD_REQUEST_MESSAGES.items() if isinstance(exc, kind)), BAD_REQUEST)
    return Response({"detail": detail}, status=status.HTTP_400_BAD_REQUEST)


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, (SuspiciousOperation, BadRequest)):
        return _bad_request(exc)
    if isinstance(exc, BookingError):
        body = {"detail": exc.messages[0], "code": exc.code}
        if isinstance(exc, SeriesConflict):
            body["conflicts"] = [DateTimeField().to_representation(start) for start, _ in exc.conflicts]
        return Response(body, status=exc.status_code)
    if isinstance(exc, (ProtectedError, RestrictedError)):
        return Response({"detail": PROTECTED_DELETE}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            # Model-wide errors (`__all__`) under DRF's name for them.
            data = {NON_FIELD_ERRORS if k == "__all__" else k: v for k, v in exc.message_dict.items()}
        else:
            data = {"detail": exc.messages[0]}
        return Response(data, status=status.HTTP_400_BAD_REQUEST)
    response = drf_exception_handler(exc, context)
    if response is None:
        logger.exception("Unhandled API error", exc_info=exc)
        return Response({"detail": INTERNAL_ERROR}, status=status.HTTP_500_INTERNAL_SERVER_ERROR)
    return response
