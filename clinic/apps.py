from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig


class ClinicConfig(AppConfig):
    name = "clinic"
    verbose_name = "Clinic"
    default_auto_field = "django.db.models.BigAutoField"


class ClinicAdminConfig(AdminConfig):
    """django.contrib.admin with the clinic's own AdminSite as the default site."""

    default_site = "clinic.admin_site.ClinicAdminSite"
