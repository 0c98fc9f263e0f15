"""The JSON API's routes, at the root paths DESIGN.md lists (with trailing slashes)."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import SimpleRouter

from clinic.api import views

router = SimpleRouter()
router.register("patients", views.PatientViewSet, basename="patient")
router.register("doctors", views.DoctorViewSet, basename="doctor")
router.register("appointments", views.AppointmentViewSet, basename="appointment")
router.register("medical-records", views.MedicalRecordViewSet, basename="medical-record")
router.register("appointment-types", views.AppointmentTypeViewSet, basename="appointment-type")
router.register("appointment-series", views.AppointmentSeriesViewSet, basename="appointment-series")
router.register("waitlist", views.WaitlistViewSet, basename="waitlist")

urlpatterns = [
    path("registrations/", views.RegistrationView.as_view(), name="registration"),
    # Before the router's `appointments/<pk>/`, which would take "export" for an id.
    path("appointments/export/", views.AppointmentExportView.as_view(), name="appointment-export"),
    path("book-appointment/", views.BookAppointmentView.as_view(), name="book-appointment"),
    path("api/token/", views.TokenObtainView.as_view(), name="token-obtain"),
    path("api/token/refresh/", views.TokenRefreshView.as_view(), name="token-refresh"),
    path("api/token/blacklist/", views.TokenBlacklistView.as_view(), name="token-blacklist"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # Swagger UI loads its start-up script from `?script` rather than inline: it runs under the CSP.
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(url_name="api:schema", template_name="api/swagger_ui.html"),
        name="docs",
    ),
    *router.urls,
]
