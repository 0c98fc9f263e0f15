"""The clinic's AdminSite: its own title and header."""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin


class ClinicAdminSite(admin.AdminSite):
    site_title = "Clinic staff"
    index_title = "Today at the clinic"

    @property
    def site_header(self) -> str:  # type: ignore[override]
        return f"{settings.CLINIC_NAME} — staff"
