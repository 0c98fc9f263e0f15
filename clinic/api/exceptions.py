"""JSON errors everywhere on the API, including a 500 without a traceback."""

from __future__ import annotations

import logging

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import ProtectedError, RestrictedError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

from clinic.booking import BookingError

logger = logging.getLogger(__name__)

PROTECTED_DELETE = "This object cannot be deleted: other clinical data refers to it."
INTERNAL_ERROR = "Internal server error"
NON_FIELD_ERRORS = api_settings.NON_FIELD_ERRORS_KEY


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, BookingError):
        return Response({"detail": exc.messages[0], "code": exc.code}, status=exc.status_code)
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
