"""OpenAPI generation: every operation lists the error answers it can give."""

from __future__ import annotations

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse
from rest_framework.permissions import AllowAny

from clinic.api.serializers import ErrorSerializer


class ClinicJWTScheme(SimpleJWTScheme):
    """Documents ClinicJWTAuthentication as the Bearer scheme it is."""

    target_class = "clinic.api.authentication.ClinicJWTAuthentication"


ERRORS = {
    "400": "Invalid input: `{field: [messages]}`, or `{detail, code}` when a booking rule refuses.",
    "401": "Missing, invalid or expired token (`WWW-Authenticate: Bearer`).",
    "403": "Your role may not take this action.",
    "404": "Not found, or not visible to you.",
    "409": "Conflict: the slot is taken, or other clinical data refers to the object.",
    "429": "Too many requests; retry later.",
}


class ClinicAutoSchema(AutoSchema):
    """Adds the documented error responses (DESIGN.md "Errors") to each operation."""

    def _error_codes(self) -> list[str]:
        view = self.view
        method = self.method
        public = any(isinstance(p, AllowAny) for p in view.get_permissions())
        codes = []
        if not (method == "DELETE" or (method == "GET" and getattr(view, "action", None) == "retrieve")):
            codes.append("400")
        if not public or getattr(view, "authentication_required_401", False):
            codes.append("401")
        if not public:
            codes.append("403")
        if "{id}" in self.path or (method == "GET" and self._is_list_view()):
            codes.append("404")
        if method in ("DELETE", "PUT", "PATCH") or getattr(view, "may_conflict", False):
            codes.append("409")
        if getattr(view, "throttle_scope", None):
            codes.append("429")
        return codes

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code in self._error_codes():
            if code in responses:
                continue
            body = OpenApiTypes.OBJECT if code == "400" else ErrorSerializer
            responses[code] = self._get_response_for_code(
                OpenApiResponse(response=body, description=ERRORS[code]), code, direction=direction
            )
        return responses
