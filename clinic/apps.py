from importlib import import_module

from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig


class ClinicConfig(AppConfig):
    name = "clinic"
    verbose_name = "Clinic"
    default_auto_field = "django.db.models.BigAutoField"


class ClinicAdminConfig(AdminConfig):
    """django.contrib.admin with the clinic's own AdminSite as the default site."""

    default_site = "clinic.admin.site.ClinicAdminSite"

    def ready(self) -> None:
        # The site class lives in the clinic.admin package, whose modules register on the site.
        # Importing the package first builds the site once, from inside it; were another app's
        # admin module first, building the site would import the package half-way through.
        import_module("clinic.admin")
        super().ready()
        import_module("clinic.admin.people").allauth_admins_unregister()
