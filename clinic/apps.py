from importlib import import_module

from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig


class ClinicConfig(AppConfig):
    name = "clinic"
    verbose_name = "Clinic"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from axes.signals import user_locked_out
        from django.contrib.auth.signals import user_login_failed
        from django.core.signals import request_finished
        from django.db.models.signals import post_migrate

        from clinic import logs, metrics

        user_login_failed.connect(metrics.login_failed, dispatch_uid="clinic.metrics.login_failed")
        user_locked_out.connect(metrics.locked_out, dispatch_uid="clinic.metrics.locked_out")
        request_finished.connect(logs.request_id_clear, dispatch_uid="clinic.logs.request_id_clear")
        post_migrate.connect(heartbeat_schedule, sender=self, dispatch_uid="clinic.heartbeat_schedule")


def heartbeat_schedule(using: str = "default", **kwargs) -> None:
    """After every `migrate`: the worker heartbeat /health/ready looks for, every minute.
    (A schedule made here rather than in a migration: it has no data of the clinic's.)"""
    from django_q.models import Schedule

    from clinic.health import HEARTBEAT_SCHEDULE, HEARTBEAT_TASK

    Schedule.objects.using(using).update_or_create(
        name=HEARTBEAT_SCHEDULE,
        defaults={"func": HEARTBEAT_TASK, "schedule_type": Schedule.MINUTES, "minutes": 1, "repeats": -1},
    )


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
