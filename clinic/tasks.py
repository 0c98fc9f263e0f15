"""Tasks run by the django-q2 worker. They take ids, never model instances."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.utils import timezone

from clinic.models import Appointment

logger = logging.getLogger(__name__)

SUBJECTS = {
    "booked": "Your appointment request is received",
    "confirmed": "Your appointment is confirmed",
    "rescheduled": "Your appointment has moved",
    "cancelled": "Your appointment is cancelled",
}


def send_appointment_email(appointment_id: int, kind: str) -> None:
    """Tell the patient about their appointment (`kind` is one of SUBJECTS)."""
    appointment = Appointment.objects.select_related("patient__user", "doctor__user").get(pk=appointment_id)
    local = timezone.localtime(appointment.appointment_time)
    body = (
        f"{SUBJECTS[kind]}.\n\n"
        f"{appointment.doctor}, {local:%A %d %B %Y at %H:%M} ({settings.TIME_ZONE}).\n"
        f"{settings.CLINIC_NAME}, {settings.CLINIC_ADDRESS}\n"
    )
    send_mail(f"{settings.CLINIC_NAME}: {SUBJECTS[kind]}", body, None, [appointment.patient.user.email])
