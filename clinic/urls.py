"""The booking pages."""

from django.urls import path

from clinic import views

app_name = "clinic"

urlpatterns = [
    path("", views.home, name="home"),
    path("book/", views.book, name="book"),
    path("my/appointments/", views.my_appointments, name="my-appointments"),
    path("my/appointments/<int:pk>/", views.appointment_detail, name="appointment"),
    path("my/waitlist/", views.my_waitlist, name="my-waitlist"),
    # The manage link of a patient's notice (clinic.access: manage tokens).
    path("a/<str:token>/", views.manage, name="manage"),
    # The claim link of a waitlist offer's email (clinic.access: offer tokens).
    path("w/<str:token>/", views.waitlist_offer, name="waitlist-offer"),
]
