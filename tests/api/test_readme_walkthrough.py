"""The README's "Integrating" walkthrough, run as written against a live server."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

from clinic.models import Appointment, User
from tests.factories import DoctorFactory

README = Path(settings.BASE_DIR) / "README.md"


def _walkthrough() -> str:
    section = README.read_text().split("## Integrating", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1, "the Integrating section has one shell block"
    return blocks[0]


@pytest.mark.django_db(transaction=True)
def test_the_readme_walkthrough_registers_signs_in_books_refreshes_and_signs_out(live_server):
    DoctorFactory(specialization="Cardiology")
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", _walkthrough()],
        env={**os.environ, "BASE": live_server.url},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    user = User.objects.get(username="ada")
    appointment = Appointment.objects.get(patient__user=user)
    assert appointment.status == Appointment.Status.PENDING
    assert f'"id":{appointment.pk}' in result.stdout.replace(" ", "")
    # Every refresh token of the walkthrough ended blacklisted: the rotated one and the signed-out one.
    from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

    tokens = OutstandingToken.objects.filter(user=user)
    assert tokens.count() == 2
    assert all(hasattr(token, "blacklistedtoken") for token in tokens)
