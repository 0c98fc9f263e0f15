"""`manage.py check --deploy --fail-level WARNING` passes with the production settings, as CI runs it."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

from django.conf import settings


def manage(*args: str, **environment: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if not key.startswith("DJANGO_")}
    env.update({"DJANGO_SETTINGS_MODULE": "config.settings.production", **environment})
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_deploy_checks_pass_with_production_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", DJANGO_SECRET_KEY=secrets.token_urlsafe(64))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_refuses_to_start_without_a_strong_secret_key():
    for key in ("", "short", "django-insecure-" + "x" * 60):
        result = manage("check", DJANGO_SECRET_KEY=key)
        assert result.returncode != 0, key
        assert "DJANGO_SECRET_KEY must be set" in result.stderr, key
