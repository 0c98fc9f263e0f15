"""The clinic's URLs: the staff admin, the JSON API, the booking pages and sign-in."""

from django.contrib import admin
from django.urls import include, path

from clinic import health, metrics

urlpatterns = [
    # For load balancers and probes (no auth, nothing about people) and Prometheus (clinic/metrics.py).
    path("health/live", health.live, name="health-live"),
    path("health/ready", health.ready, name="health-ready"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    # The FHIR R4 facade (DESIGN.md "FHIR R4").
    path("fhir/", include("clinic.fhir.urls")),
    # The JSON API at the root paths of DESIGN.md, its schema at /api/schema/, Swagger UI at /api/docs/.
    path("", include(("clinic.api.urls", "api"), namespace="api")),
    path("", include("clinic.urls")),
]
