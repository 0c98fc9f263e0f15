from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from clinic import access


def clinic(request: HttpRequest) -> dict[str, Any]:
    """The clinic's name and contact details, for every template; whether the user must sign in
    with a second factor (read only by the pages that show it)."""
    return {
        "CLINIC_NAME": settings.CLINIC_NAME,
        "CLINIC_ADDRESS": settings.CLINIC_ADDRESS,
        "CLINIC_PHONE": settings.CLINIC_PHONE,
        "second_factor_required": SimpleLazyObject(lambda: access.second_factor_required(request.user)),
    }
