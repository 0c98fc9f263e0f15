"""The FHIR facade's routes, under /fhir/ (no trailing slashes, as FHIR spells them)."""

from __future__ import annotations

from django.urls import path, re_path

from clinic.fhir import views

app_name = "fhir"

RESOURCES = {
    "Patient": views.PatientView,
    "Practitioner": views.PractitionerView,
    "PractitionerRole": views.PractitionerRoleView,
    "Schedule": views.ScheduleView,
    "Slot": views.SlotView,
    "Appointment": views.AppointmentView,
}

urlpatterns = [
    path("metadata", views.MetadataView.as_view(), name="metadata"),
    path("Appointment/$find", views.FindView.as_view(), name="appointment-find"),
    path("Appointment/$book", views.BookView.as_view(), name="appointment-book"),
]
for _name, _view in RESOURCES.items():
    urlpatterns += [
        path(_name, _view.as_view(), name=_name.lower()),
        path(f"{_name}/<str:pk>", _view.as_view(), name=f"{_name.lower()}-read"),
    ]
urlpatterns.append(re_path(r"^.*$", views.UnknownView.as_view(), name="unknown"))
