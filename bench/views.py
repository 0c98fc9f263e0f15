"""Bench-only reference views, measured beside the real API on the same rows.

- the limit: `JsonResponse(list(qs.values(...)))` — what Django can do with no serializer at all;
- the naive peer: a plain ModelSerializer viewset with a nested user and no select_related,
  as many Django clinic backends ship it.

Both authenticate the same way (JWT) and see the same rows (clinic.access).
"""

from __future__ import annotations

from django.http import JsonResponse
from rest_framework import serializers, viewsets
from rest_framework.exceptions import AuthenticationFailed

from clinic import access
from clinic.api.authentication import ClinicJWTAuthentication
from clinic.models import Appointment, Doctor, Patient, User

PAGE = 50

APPOINTMENT_FIELDS = (
    *("id", "patient_id", "doctor_id", "appointment_time", "ends_at", "status", "reason"),
    *("arrived_at", "started_at", "completed_at", "created_at"),
)
PATIENT_FIELDS = (
    "id",
    "user_id",
    "user__username",
    "user__email",
    "user__first_name",
    "user__last_name",
    "phone",
    "insurance_number",
    "created_at",
)
DOCTOR_FIELDS = (
    "id",
    "user_id",
    "user__username",
    "user__email",
    "user__first_name",
    "user__last_name",
    "specialization",
    "available_from",
    "available_to",
    "slot_minutes",
    "working_days",
)


def _user(request):
    try:
        result = ClinicJWTAuthentication().authenticate(request)
    except AuthenticationFailed:
        result = None
    return result[0] if result else None


def _limit_view(selector, fields, ordering=None):
    def view(request):
        user = _user(request)
        if user is None:
            return JsonResponse({"detail": "Authentication credentials were not provided."}, status=401)
        queryset = selector(user)
        if ordering:  # the API's order, so both read the same rows the same way
            queryset = queryset.order_by(*ordering)
        rows = list(queryset.values(*fields)[:PAGE])
        return JsonResponse({"results": rows})

    return view


limit_appointments = _limit_view(access.appointments_visible_to, APPOINTMENT_FIELDS)
limit_patients = _limit_view(access.patients_visible_to, PATIENT_FIELDS, ordering=["id"])
limit_doctors = _limit_view(access.doctors_visible_to, DOCTOR_FIELDS, ordering=["id"])


class NaiveUserSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "username", "email", "first_name", "last_name"]


class NaivePatientSerializer(serializers.ModelSerializer):
    user = NaiveUserSerializer()

    class Meta:
        model = Patient
        fields = ["id", "user", "phone", "insurance_number", "created_at"]


class NaiveDoctorSerializer(serializers.ModelSerializer):
    user = NaiveUserSerializer()

    class Meta:
        model = Doctor
        fields = ["id", "user", "specialization", "available_from", "available_to", "slot_minutes", "working_days"]


class NaiveAppointmentSerializer(serializers.ModelSerializer):
    patient = NaivePatientSerializer()
    doctor = NaiveDoctorSerializer()

    class Meta:
        model = Appointment
        fields = [
            *("id", "patient", "doctor", "appointment_time", "ends_at", "status", "reason"),
            *("arrived_at", "started_at", "completed_at", "created_at"),
        ]


def _naive_viewset(model, serializer, selector):
    class NaiveViewSet(viewsets.ReadOnlyModelViewSet):
        serializer_class = serializer
        filter_backends = []

        def get_queryset(self):
            # The same rows as the API, without the joins: the per-row queries are the point.
            queryset = selector(self.request.user).select_related(None).prefetch_related(None)
            return queryset if model is Appointment else queryset.order_by("id")

    NaiveViewSet.__name__ = f"Naive{model.__name__}ViewSet"
    return NaiveViewSet


NaiveAppointmentViewSet = _naive_viewset(Appointment, NaiveAppointmentSerializer, access.appointments_visible_to)
NaivePatientViewSet = _naive_viewset(Patient, NaivePatientSerializer, access.patients_visible_to)
NaiveDoctorViewSet = _naive_viewset(Doctor, NaiveDoctorSerializer, access.doctors_visible_to)
