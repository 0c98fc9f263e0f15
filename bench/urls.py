"""The project's URLs plus the bench-only reference views (config.settings.bench only)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from bench import views
from config.urls import urlpatterns as project_urlpatterns

router = SimpleRouter()
router.register("bench/naive/appointments", views.NaiveAppointmentViewSet, basename="naive-appointments")
router.register("bench/naive/patients", views.NaivePatientViewSet, basename="naive-patients")
router.register("bench/naive/doctors", views.NaiveDoctorViewSet, basename="naive-doctors")

urlpatterns = [
    *project_urlpatterns,
    path("bench/limit/appointments/", views.limit_appointments),
    path("bench/limit/patients/", views.limit_patients),
    path("bench/limit/doctors/", views.limit_doctors),
    *router.urls,
]
