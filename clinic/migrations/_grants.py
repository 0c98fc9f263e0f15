"""Shared by the migrations that give the front desk ("Reception") permissions on a new model.
(The migration loader skips modules whose names start with an underscore.)"""


def grant_to_reception(apps, codenames: list[str]) -> None:
    """Add the clinic permissions `codenames` to the Reception group, creating them first: in a
    migration they exist only once post_migrate has run, which is after every migration."""
    from django.contrib.auth.management import create_permissions

    app_config = apps.get_app_config("clinic")
    if getattr(app_config, "models_module", None) is None:  # migration state: no models module yet
        app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name="Reception")
    group.permissions.add(*Permission.objects.filter(content_type__app_label="clinic", codename__in=codenames))
