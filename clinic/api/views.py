"""The JSON API's views: parse input, call one service or selector, render.

Querysets come from `clinic.access` (an object outside them is a 404); writes go
through `clinic.booking`, `clinic.records` and `clinic.accounts`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework_simplejwt import views as jwt_views

from clinic import access, accounts, audit, booking, export, records
from clinic.api import filters, permissions, tokens
from clinic.api.rows import ValuesListMixin
from clinic.api.schema import ClinicAutoSchema
from clinic.api.serializers import (
    AppointmentBookSerializer,
    AppointmentChangeSerializer,
    AppointmentSerializer,
    AppointmentSeriesBookedSerializer,
    AppointmentSeriesCreateSerializer,
    AppointmentSeriesSerializer,
    AppointmentTypeSerializer,
    AppointmentTypeWriteSerializer,
    DoctorCreateSerializer,
    DoctorSerializer,
    DoctorWriteSerializer,
    ErrorSerializer,
    MedicalRecordSerializer,
    MedicalRecordWriteSerializer,
    PatientCreateSerializer,
    PatientSerializer,
    PatientWriteSerializer,
    RegistrationSerializer,
    SeriesCancelledSerializer,
    SeriesCancelSerializer,
    SeriesConflictSerializer,
    SlotsQuerySerializer,
    SlotsSerializer,
    WaitlistEntrySerializer,
    WaitlistJoinSerializer,
)

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description=(
        "Send the same key when retrying: within 24 hours the first booking is answered again. "
        "The same key with a different request answers 422 and books nothing."
    ),
)


class ClinicViewMixin:
    schema = ClinicAutoSchema()
    # Any id segment reaches the view, so a malformed id is a JSON 404 rather than an HTML one.
    lookup_value_regex = r"[^/]+"


class ProfileWritesMixin:
    """POST, PUT/PATCH and DELETE of a patient or doctor, through `clinic.accounts`, which
    decides which fields the user may write."""

    create_serializer_class: type
    write_serializer_class: type
    profile_create: Callable

    def create(self, request, *args, **kwargs):
        serializer = self.create_serializer_class(data=request.data)
        serializer.is_valid(raise_exception=True)
        profile = self.profile_create(actor=request.user, **serializer.validated_data)
        return Response(self.serializer_class(profile).data, status=status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs):
        profile = self.get_object()
        serializer = self.write_serializer_class(data=request.data, partial=kwargs.get("partial", False))
        serializer.is_valid(raise_exception=True)
        profile = accounts.profile_update(actor=request.user, profile=profile, changes=serializer.validated_data)
        return Response(self.serializer_class(profile).data)

    def perform_destroy(self, instance):
        accounts.profile_delete(actor=self.request.user, profile=instance)


# --- Accounts and tokens -------------------------------------------------------------


class RegistrationView(ClinicViewMixin, generics.GenericAPIView):
    """Create a patient account. Username and email must be free (in any case); the
    password must pass the clinic's password rules. Sign in at `/api/token/` afterwards."""

    serializer_class = RegistrationSerializer
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "registrations"

    @extend_schema(request=RegistrationSerializer, responses={201: PatientSerializer}, tags=["accounts"])
    def post(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        patient = accounts.patient_register(**serializer.validated_data)
        return Response(PatientSerializer(patient).data, status=status.HTTP_201_CREATED)


class _TokenView(ClinicViewMixin):
    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "tokens"
    authentication_required_401 = True


@extend_schema(
    tags=["tokens"],
    responses={
        200: tokens.LoginSerializer,
        401: OpenApiResponse(
            ErrorSerializer,
            description="Not signed in: `no_active_account` (unknown username, wrong password or inactive "
            "account, alike), `mfa_required` (the account has a second factor: send its code as `otp`) or "
            "`mfa_invalid` (a wrong, malformed or already used code; it counts toward the lockout).",
        ),
        403: OpenApiResponse(
            ErrorSerializer,
            description="`mfa_setup_required`: a staff account without a second factor while the clinic "
            "requires one (set it up on the website first).",
        ),
    },
)
class TokenObtainView(_TokenView, jwt_views.TokenObtainPairView):
    """Sign in with `username` and `password`: an `access` token (5 minutes) for the
    `Authorization: Bearer` header, and a `refresh` token to get the next one.

    An account with a second factor also sends `otp`: the current 6-digit code of its
    authenticator app (each code works once), or one of its 8-digit recovery codes (each works
    once, ever). Without it the answer is 401 `mfa_required`; with a wrong one 401 `mfa_invalid`."""

    serializer_class = tokens.LoginSerializer


@extend_schema(
    tags=["tokens"],
    responses={
        200: tokens.RefreshSerializer,
        401: OpenApiResponse(
            ErrorSerializer,
            description="`token_not_valid` (expired, tampered or already used), `login_expired` (12 hours "
            "after sign-in), `no_active_account` (deactivated) or `password_changed` (sign in again).",
        ),
        403: OpenApiResponse(
            ErrorSerializer,
            description="`mfa_setup_required`: a staff account without a second factor while the clinic requires one.",
        ),
    },
)
class TokenRefreshView(_TokenView, jwt_views.TokenRefreshView):
    """Trade a refresh token for a new access token and a new refresh token. The one sent
    is blacklisted; a refresh token lives 30 minutes unused and 12 hours from sign-in at most.
    Changing or resetting the password, or deactivating the account, ends every refresh token."""

    serializer_class = tokens.RefreshSerializer


@extend_schema(tags=["tokens"], responses={200: OpenApiTypes.OBJECT})
class TokenBlacklistView(_TokenView, jwt_views.TokenBlacklistView):
    """Sign out: the refresh token sent can no longer be used."""


# --- Patients ------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="Patients visible to you"),
    create=extend_schema(request=PatientCreateSerializer, responses={201: PatientSerializer}),
    update=extend_schema(request=PatientWriteSerializer, responses={200: PatientSerializer}),
    partial_update=extend_schema(request=PatientWriteSerializer, responses={200: PatientSerializer}),
)
class PatientViewSet(ClinicViewMixin, ValuesListMixin, ProfileWritesMixin, viewsets.ModelViewSet):
    """Patients: a patient sees and edits their own contact details, a doctor reads the
    patients they have appointments with, reception and the clinic admin manage all."""

    serializer_class = PatientSerializer
    create_serializer_class = PatientCreateSerializer
    write_serializer_class = PatientWriteSerializer
    profile_create = staticmethod(accounts.patient_create)
    permission_classes = [IsAuthenticated, permissions.PatientPermission]
    http_method_names = ["get", "post", "put", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return access.patients_visible_to(self.request.user).order_by("id")


# --- Doctors -------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="All doctors"),
    create=extend_schema(request=DoctorCreateSerializer, responses={201: DoctorSerializer}),
    update=extend_schema(request=DoctorWriteSerializer, responses={200: DoctorSerializer}),
    partial_update=extend_schema(request=DoctorWriteSerializer, responses={200: DoctorSerializer}),
)
class DoctorViewSet(ClinicViewMixin, ValuesListMixin, ProfileWritesMixin, viewsets.ModelViewSet):
    """Doctors: every signed-in user reads them; a doctor edits their own profile and
    hours; reception and the clinic admin manage all."""

    serializer_class = DoctorSerializer
    create_serializer_class = DoctorCreateSerializer
    write_serializer_class = DoctorWriteSerializer
    profile_create = staticmethod(accounts.doctor_create)
    permission_classes = [IsAuthenticated, permissions.DoctorPermission]
    filterset_class = filters.DoctorFilter
    http_method_names = ["get", "post", "put", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return access.doctors_visible_to(self.request.user).order_by("id")

    @extend_schema(
        parameters=[SlotsQuerySerializer],
        responses={200: SlotsSerializer},
        summary="Free slots of a doctor on a day",
    )
    @action(detail=True, methods=["get"], permission_classes=[IsAuthenticated], filterset_class=None)
    def slots(self, request, pk=None):
        """The doctor's free future starts on a clinic-local day, for a visit of `type` (one the
        doctor offers; without it, a slot of the doctor's length): on their grid, ending inside
        their hours, outside time off, its blocked time (buffers included) clear of other
        appointments', within the booking window."""
        doctor = self.get_object()
        query = SlotsQuerySerializer(data=request.query_params, context={"request": request})
        query.is_valid(raise_exception=True)
        day, appointment_type = query.validated_data["date"], query.validated_data.get("type")
        booking.check_type(actor=request.user, doctor=doctor, appointment_type=appointment_type, field="type")
        starts = booking.slots_free(doctor=doctor, day=day, appointment_type=appointment_type)
        return Response(SlotsSerializer({"doctor": doctor.pk, "date": day, "slots": starts}).data)


# --- Appointments --------------------------------------------------------------------


def book_request(request, fields, render) -> tuple[Any, int]:
    """Book `fields` through `clinic.booking` and answer (body, status), `render` making the body of
    the appointment; with an Idempotency-Key, a repeat gets the first answer. The JSON API and
    FHIR's $book both book here."""
    key = request.headers.get("Idempotency-Key", "").strip()
    fingerprint = booking.request_fingerprint(request.data)
    if key and (replay := booking.booking_replay(actor=request.user, key=key, fingerprint=fingerprint)):
        return replay.body, replay.status
    serializer = AppointmentBookSerializer(data=fields, context={"request": request})
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    booking_args = {
        "actor": request.user,
        "patient": data["patient"],
        "doctor": data["doctor"],
        "start": data["appointment_time"],
        "reason": data.get("reason", ""),
        "appointment_type": data.get("appointment_type"),
    }
    if not key:
        return render(booking.appointment_book(**booking_args)), status.HTTP_201_CREATED
    answer = booking.appointment_book_once(key=key, fingerprint=fingerprint, render=render, **booking_args)
    return answer.body, answer.status


def _book(request) -> Response:
    return Response(*book_request(request, request.data, lambda appointment: AppointmentSerializer(appointment).data))


@extend_schema_view(
    list=extend_schema(summary="Appointments visible to you"),
    create=extend_schema(
        request=AppointmentBookSerializer, responses={201: AppointmentSerializer}, parameters=[IDEMPOTENCY_HEADER]
    ),
    update=extend_schema(request=AppointmentChangeSerializer, responses={200: AppointmentSerializer}),
    partial_update=extend_schema(request=AppointmentChangeSerializer, responses={200: AppointmentSerializer}),
)
class AppointmentViewSet(ClinicViewMixin, ValuesListMixin, viewsets.ModelViewSet):
    """Appointments. Patients book, reschedule and cancel their own (not within the
    change cut-off); doctors confirm and cancel theirs; reception and the clinic admin
    do everything. A new `appointment_time` or `doctor` reschedules, a new `status`
    confirms or cancels; overlaps answer 409."""

    serializer_class = AppointmentSerializer
    permission_classes = [IsAuthenticated, permissions.AppointmentPermission]
    filterset_class = filters.AppointmentFilter
    http_method_names = ["get", "post", "put", "patch", "delete", "head", "options"]
    may_conflict = True

    def get_queryset(self):
        return access.appointments_visible_to(self.request.user)

    def create(self, request, *args, **kwargs):
        return _book(request)

    def update(self, request, *args, **kwargs):
        appointment = self.get_object()
        serializer = AppointmentChangeSerializer(
            data=request.data, partial=kwargs.get("partial", False), context={"request": request}
        )
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        appointment = booking.appointment_change(
            actor=request.user,
            appointment=appointment,
            doctor=data.get("doctor"),
            start=data.get("appointment_time"),
            patient=data.get("patient"),
            status=data.get("status"),
            reason=data.get("reason"),
        )
        return Response(AppointmentSerializer(appointment).data)


class AppointmentExportView(ClinicViewMixin, generics.GenericAPIView):
    """The appointments you see, as a CSV download, streamed: the same rows and filters as
    `GET /appointments/` (all of them, not one page). Reception, the clinic admin, and doctors
    (their own); not patients. Times are ISO 8601 in the clinic's time zone; cells that a
    spreadsheet would read as a formula start with `'`. No medical-record notes."""

    permission_classes = [IsAuthenticated, permissions.CanExportAppointments]
    filterset_class = filters.AppointmentFilter
    pagination_class = None

    def get_queryset(self):
        return access.appointments_visible_to(self.request.user)

    def perform_content_negotiation(self, request, force=False):
        # The download is CSV whatever Accept says; errors are always JSON.
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        operation_id="appointments_export",
        summary="Export the appointments visible to you as CSV",
        filters=True,
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="CSV with a header row.")},
    )
    def get(self, request, *args, **kwargs):
        return export.appointments_csv_response(self.filter_queryset(self.get_queryset()))


class BookAppointmentView(ClinicViewMixin, generics.GenericAPIView):
    """Book a slot: a patient for themselves (`patient` may be left out), reception or
    the clinic admin for any patient. The appointment starts `pending` and the patient
    is emailed. Retrying with the same `Idempotency-Key` header answers the first booking."""

    serializer_class = AppointmentBookSerializer
    permission_classes = [IsAuthenticated, permissions.CanBook]
    may_conflict = True

    @extend_schema(
        request=AppointmentBookSerializer,
        responses={201: AppointmentSerializer},
        parameters=[IDEMPOTENCY_HEADER],
        tags=["appointments"],
    )
    def post(self, request):
        return _book(request)


# --- Series of visits --------------------------------------------------------------------


@extend_schema(tags=["appointment-series"])
class AppointmentSeriesViewSet(ClinicViewMixin, viewsets.GenericViewSet):
    """Courses of visits at the same wall-clock time every one to four weeks. Reception and the
    clinic admin book them; the patient and the doctor read theirs. Booking is all or none:
    409 with the times that conflict, unless `skip_conflicts` books the rest and lists them."""

    serializer_class = AppointmentSeriesSerializer
    permission_classes = [IsAuthenticated, permissions.SeriesPermission]
    may_conflict = True

    def get_queryset(self):
        return access.series_visible_to(self.request.user).order_by("id")

    @extend_schema(
        request=AppointmentSeriesCreateSerializer,
        responses={201: AppointmentSeriesBookedSerializer, 409: SeriesConflictSerializer},
    )
    def create(self, request):
        """Book a series of visits."""
        serializer = AppointmentSeriesCreateSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        booked = booking.series_book(
            actor=request.user,
            patient=data["patient"],
            doctor=data["doctor"],
            start=data["appointment_time"],
            appointment_type=data["appointment_type"],
            every_weeks=data["every_weeks"],
            count=data["count"],
            skip_conflicts=data["skip_conflicts"],
            reason=data["reason"],
        )
        body = AppointmentSeriesBookedSerializer(booked.series).data
        body["skipped"] = [serializers.DateTimeField().to_representation(start) for start, _ in booked.skipped]
        return Response(body, status=status.HTTP_201_CREATED)

    def retrieve(self, request, pk=None):
        """A series and its visits."""
        return Response(AppointmentSeriesSerializer(self.get_object()).data)

    @extend_schema(request=SeriesCancelSerializer, responses={200: SeriesCancelledSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Cancel the visit `from` and the later ones of the series, each under the usual rules
        (a patient's cut-off included): if one may not be cancelled, none is."""
        series = self.get_object()
        serializer = SeriesCancelSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        first = serializer.validated_data["from"]
        if first.series_id != series.pk:
            raise ValidationError({"from": [booking.NOT_IN_SERIES]})
        cancelled = booking.series_cancel_from(actor=request.user, appointment=first)
        return Response({"cancelled": [appointment.pk for appointment in cancelled]})


# --- Waitlist ---------------------------------------------------------------------------


@extend_schema(tags=["waitlist"])
class WaitlistViewSet(ClinicViewMixin, viewsets.GenericViewSet):
    """Patients waiting for a time to free up. Patients join and withdraw their own entries;
    reception and the clinic admin do it for anyone. Doctors have none (403)."""

    serializer_class = WaitlistEntrySerializer
    permission_classes = [IsAuthenticated, permissions.WaitlistPermission]

    def get_queryset(self):
        return access.waitlist_visible_to(self.request.user).order_by("created_at", "id")

    def list(self, request):
        """The entries the user sees, oldest first (the order offers follow)."""
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(WaitlistEntrySerializer(page, many=True).data)

    @extend_schema(request=WaitlistJoinSerializer, responses={201: WaitlistEntrySerializer})
    def create(self, request):
        """Join the waitlist."""
        serializer = WaitlistJoinSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        entry = booking.waitlist_join(
            actor=request.user,
            patient=data["patient"],
            doctor=data.get("doctor"),
            specialization=data["specialization"],
            appointment_type=data.get("appointment_type"),
            date_from=data["date_from"],
            date_to=data["date_to"],
            part_of_day=data["part_of_day"],
        )
        return Response(WaitlistEntrySerializer(entry).data, status=status.HTTP_201_CREATED)

    def retrieve(self, request, pk=None):
        """One entry."""
        return Response(WaitlistEntrySerializer(self.get_object()).data)

    @extend_schema(responses={204: None})
    def destroy(self, request, pk=None):
        """Withdraw an entry: it stays on record as withdrawn and is offered nothing more."""
        booking.waitlist_withdraw(actor=request.user, entry=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Visit types -----------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="Visit types (patients: those they may book online)"),
    create=extend_schema(request=AppointmentTypeWriteSerializer, responses={201: AppointmentTypeSerializer}),
    update=extend_schema(request=AppointmentTypeWriteSerializer, responses={200: AppointmentTypeSerializer}),
    partial_update=extend_schema(request=AppointmentTypeWriteSerializer, responses={200: AppointmentTypeSerializer}),
)
class AppointmentTypeViewSet(ClinicViewMixin, viewsets.ModelViewSet):
    """Visit types, each with its length, buffers before and after, colour and the doctors who
    offer it. Every signed-in user reads them (patients only the active ones they may book
    online); reception and the clinic admin write them. A type in use cannot be deleted (409):
    set `active` to false to stop booking it."""

    serializer_class = AppointmentTypeSerializer
    permission_classes = [IsAuthenticated, permissions.AppointmentTypePermission]
    http_method_names = ["get", "post", "put", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return access.appointment_types_visible_to(self.request.user).prefetch_related("doctors").order_by("id")

    def create(self, request, *args, **kwargs):
        serializer = AppointmentTypeWriteSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        saved = booking.appointment_type_save(actor=request.user, **serializer.validated_data)
        return Response(self._render(saved), status=status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs):
        appointment_type = self.get_object()
        serializer = AppointmentTypeWriteSerializer(
            data=request.data, partial=kwargs.get("partial", False), context={"request": request}
        )
        serializer.is_valid(raise_exception=True)
        saved = booking.appointment_type_save(
            actor=request.user, appointment_type=appointment_type, **serializer.validated_data
        )
        return Response(self._render(saved))

    def perform_destroy(self, instance):
        booking.appointment_type_delete(actor=self.request.user, appointment_type=instance)

    def _render(self, appointment_type) -> dict:
        return AppointmentTypeSerializer(self.get_queryset().get(pk=appointment_type.pk)).data


# --- Medical records -----------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="Medical records visible to you"),
    create=extend_schema(request=MedicalRecordWriteSerializer, responses={201: MedicalRecordSerializer}),
    update=extend_schema(request=MedicalRecordWriteSerializer, responses={200: MedicalRecordSerializer}),
    partial_update=extend_schema(request=MedicalRecordWriteSerializer, responses={200: MedicalRecordSerializer}),
)
class MedicalRecordViewSet(ClinicViewMixin, ValuesListMixin, viewsets.ModelViewSet):
    """Medical records: patients read their own, doctors read their patients' and write
    them for their own appointments, the clinic admin does everything; reception gets 403.
    Every list and detail read is logged: who, when, which request, which record ids."""

    serializer_class = MedicalRecordSerializer
    permission_classes = [IsAuthenticated, permissions.MedicalRecordPermission]
    filterset_class = filters.MedicalRecordFilter
    http_method_names = ["get", "post", "put", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return access.medical_records_visible_to(self.request.user).order_by("-id")

    def list(self, request, *args, **kwargs):
        response = super().list(request, *args, **kwargs)
        rows = response.data["results"] if isinstance(response.data, dict) else response.data
        audit.record_reads_log(user=request.user, request=request, record_ids=[row["id"] for row in rows])
        return response

    def retrieve(self, request, *args, **kwargs):
        response = super().retrieve(request, *args, **kwargs)
        audit.record_reads_log(user=request.user, request=request, record_ids=[response.data["id"]])
        return response

    def create(self, request, *args, **kwargs):
        serializer = MedicalRecordWriteSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        record = records.medical_record_create(actor=request.user, **serializer.validated_data)
        return Response(MedicalRecordSerializer(record).data, status=status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs):
        record = self.get_object()
        serializer = MedicalRecordWriteSerializer(
            data=request.data, partial=kwargs.get("partial", False), context={"request": request}
        )
        serializer.is_valid(raise_exception=True)
        record = records.medical_record_update(actor=request.user, record=record, **serializer.validated_data)
        return Response(MedicalRecordSerializer(record).data)
