"""The authorization table: every URL pattern of the project, what each role gets there.

`ROUTES` maps a regular expression over route patterns (as `project_routes()` spells them,
e.g. `admin/clinic/patient/<path:object_id>/change/`) to a sample URL and the status each role
gets: anonymous, patient, doctor (with staff access to the admin), reception, clinic admin.
test_url_matrix.py fails when a pattern matches no entry, so a new endpoint cannot ship
without a line here; test_get_is_safe.py requests every URL of the table again and checks
that no GET writes.

The admin's model pages come in families, one row per model (`ADMIN_MODELS`). A sample URL
is built from `World`: patient P with an appointment A with doctor D, its record R, D's time
off T, and one row of every other model the admin shows.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta

from django.urls import URLPattern, URLResolver, get_resolver

from clinic.access import manage_token, offer_token

ROLES = ("anonymous", "patient", "doctor", "reception", "admin")


def project_routes() -> Iterator[tuple[str, str | None]]:
    """(route pattern, name) of every URL pattern of the project, admin, allauth and API included."""

    def walk(patterns, prefix: str, namespace: str | None):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                inner = pattern.namespace
                if inner:
                    inner = f"{namespace}:{inner}" if namespace else inner
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern), inner or namespace)
            else:
                assert isinstance(pattern, URLPattern)
                name = pattern.name and (f"{namespace}:{pattern.name}" if namespace else pattern.name)
                yield prefix + str(pattern.pattern), name

    yield from walk(get_resolver().url_patterns, "", None)


@dataclass
class Route:
    """A family of route patterns: a sample URL, the method, and each role's status (ROLES order)."""

    url: Callable  # World -> str
    expected: tuple[int, int, int, int, int]
    method: str = "GET"
    data: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        assert len(self.expected) == len(ROLES)


# Shorthands, in ROLES order.
LOGIN = 302  # to a sign-in page
ALL_OK = (200, 200, 200, 200, 200)
SIGNED_IN = (LOGIN, 200, 200, 200, 200)
API_SIGNED_IN = (401, 200, 200, 200, 200)
ADMIN_ANON = (LOGIN, LOGIN)  # anonymous and patient (not staff): the admin's sign-in page


def admin(doctor: int, reception: int, clinic_admin: int) -> tuple[int, int, int, int, int]:
    return (*ADMIN_ANON, doctor, reception, clinic_admin)


# Each admin model: (changelist, add, change, history, delete) for (doctor, reception, admin).
# The sample object is the doctor's own where the model has an owner (patient P, doctor D,
# appointment A, record R, time off T).
ADMIN_MODELS: dict[str, tuple[tuple[int, int, int], ...]] = {
    # Patients: a doctor reads their own patients; reception and the admin manage all.
    "clinic/patient": ((200, 200, 200), (403, 200, 200), (200, 200, 200), (200, 200, 200), (403, 200, 200)),
    # Doctors: a doctor edits their own profile; reception and the admin manage all.
    "clinic/doctor": ((200, 200, 200), (403, 200, 200), (200, 200, 200), (200, 200, 200), (403, 200, 200)),
    "clinic/appointment": ((200, 200, 200), (403, 200, 200), (200, 200, 200), (200, 200, 200), (403, 200, 200)),
    # Medical records: never reception.
    "clinic/medicalrecord": ((200, 403, 200), (200, 403, 200), (200, 403, 200), (200, 403, 200), (403, 403, 200)),
    "clinic/timeoff": ((200, 200, 200), (200, 200, 200), (200, 200, 200), (200, 200, 200), (200, 200, 200)),
    # Visit types: doctors read them; the front desk and the admin manage them.
    "clinic/appointmenttype": ((200, 200, 200), (403, 200, 200), (200, 200, 200), (200, 200, 200), (403, 200, 200)),
    # Sign-in accounts: the clinic admin only. Reception edits patients' and doctors' accounts on
    # their pages, and never sets a password.
    # The waitlist: the front desk's (doctors have none); entries are withdrawn, never deleted.
    "clinic/waitlistentry": ((403, 200, 200), (403, 200, 200), (403, 200, 200), (403, 200, 200), (403, 403, 403)),
    # The offers sent to it: the front desk reads them; the worker alone writes them.
    "clinic/waitlistoffer": ((403, 200, 200), (403, 403, 403), (403, 200, 200), (403, 200, 200), (403, 403, 403)),
    "clinic/user": ((403, 403, 200), (403, 403, 200), (403, 403, 200), (403, 403, 200), (403, 403, 200)),
    # Read-only logs and queues: the clinic admin only, and nobody adds or deletes.
    "clinic/emailoutbox": ((403, 403, 200), (403, 403, 403), (403, 403, 200), (403, 403, 200), (403, 403, 403)),
    "clinic/recordaccess": ((403, 403, 200), (403, 403, 403), (403, 403, 200), (403, 403, 200), (403, 403, 403)),
    # Webhooks: the clinic admin registers endpoints; deliveries are the worker's, read only.
    "clinic/webhookendpoint": ((403, 403, 200), (403, 403, 200), (403, 403, 200), (403, 403, 200), (403, 403, 200)),
    "clinic/webhookdelivery": ((403, 403, 200), (403, 403, 403), (403, 403, 200), (403, 403, 200), (403, 403, 403)),
    "django_q/schedule": ((403, 403, 200), (403, 403, 200), (403, 403, 200), (403, 403, 200), (403, 403, 200)),
    "django_q/success": ((403, 403, 200), (403, 403, 403), (403, 403, 200), (403, 403, 200), (403, 403, 200)),
    "django_q/failure": ((403, 403, 200), (403, 403, 403), (403, 403, 200), (403, 403, 200), (403, 403, 200)),
    "django_q/ormq": ((403, 403, 200), (403, 403, 403), (403, 403, 200), (403, 403, 200), (403, 403, 200)),
    "axes/accessattempt": ((403, 403, 200), (403, 403, 403), (403, 403, 200), (403, 403, 200), (403, 403, 200)),
    "axes/accesslog": ((403, 403, 200), (403, 403, 403), (403, 403, 200), (403, 403, 200), (403, 403, 403)),
    # Framework models: the clinic admin only.
    "auth/group": ((403, 403, 200), (403, 403, 200), (403, 403, 200), (403, 403, 200), (403, 403, 200)),
    # Issued tokens are a log: only blacklisting one changes anything.
    "token_blacklist/outstandingtoken": (
        (403, 403, 200),
        (403, 403, 403),
        (403, 403, 200),
        (403, 403, 200),
        (403, 403, 403),
    ),
    "token_blacklist/blacklistedtoken": (
        (403, 403, 200),
        (403, 403, 200),
        (403, 403, 200),
        (403, 403, 200),
        (403, 403, 200),
    ),
    "account/emailaddress": ((403, 403, 200), (403, 403, 200), (403, 403, 200), (403, 403, 200), (403, 403, 200)),
}
# Models with django-simple-history's per-version page; reverting is disabled, so a version
# is a read-only page for whoever may see the object's history.
HISTORY_VERSIONS: dict[str, tuple[int, int, int]] = {
    "clinic/patient": (200, 200, 200),
    "clinic/doctor": (200, 200, 200),
    "clinic/appointment": (200, 200, 200),
    "clinic/medicalrecord": (200, 403, 200),
    "clinic/appointmenttype": (200, 200, 200),
}


def _admin_model_routes() -> dict[str, Route]:
    routes: dict[str, Route] = {}
    for model, (changelist, add, change, history, delete) in ADMIN_MODELS.items():
        base = re.escape(f"admin/{model}/")
        routes[f"^{base}$"] = Route(lambda w, m=model: f"/admin/{m}/", admin(*changelist))
        routes[f"^{base}add/$"] = Route(lambda w, m=model: f"/admin/{m}/add/", admin(*add))
        for page, expected in (("change", change), ("history", history), ("delete", delete)):
            routes[f"^{base}<path:object_id>/{page}/$"] = Route(
                lambda w, m=model, p=page: f"/admin/{m}/{w.sample(m)}/{p}/", admin(*expected)
            )
        # The bare object URL redirects to its change page.
        routes[f"^{base}<path:object_id>/$"] = Route(
            lambda w, m=model: f"/admin/{m}/{w.sample(m)}/", admin(302, 302, 302)
        )
    for model, expected in HISTORY_VERSIONS.items():
        routes[f"^{re.escape(f'admin/{model}/')}\\^\\(\\[\\^/\\]\\+\\)/history/"] = Route(
            lambda w, m=model: f"/admin/{m}/{w.sample(m)}/history/{w.history_id(m)}/", admin(*expected)
        )
    return routes


ROUTES: dict[str, Route] = {
    # --- The staff admin -----------------------------------------------------------------
    r"^admin/$": Route(lambda w: "/admin/", admin(200, 200, 200)),
    # One sign-in for everyone: anonymous people are handed to allauth's sign-in page (with
    # `next`), signed-in people who are not staff see a note, staff go on to the index.
    r"^admin/login/$": Route(lambda w: "/admin/login/", (302, 200, 302, 302, 302)),
    # Signing out is a POST: staff get 405 for a GET, the others the sign-in page.
    r"^admin/logout/$": Route(lambda w: "/admin/logout/", (LOGIN, LOGIN, 405, 405, 405)),
    # One password change for everyone: allauth's page, which signs the user out elsewhere.
    r"^admin/password_change/$": Route(lambda w: "/admin/password_change/", admin(302, 302, 302)),
    r"^admin/password_change/done/$": Route(lambda w: "/admin/password_change/done/", admin(200, 200, 200)),
    # Autocomplete answers for a field of a form the user may fill in, from what they may see
    # (a doctor changes their own appointments: their own patients).
    r"^admin/autocomplete/$": Route(
        lambda w: "/admin/autocomplete/?app_label=clinic&model_name=appointment&field_name=patient&term=a",
        admin(200, 200, 200),
    ),
    r"^admin/jsi18n/$": Route(lambda w: "/admin/jsi18n/", admin(200, 200, 200)),
    # The front desk's calendar: reception and the clinic admin see every doctor's column, a doctor
    # with staff access their own (D's, here). Doctors neither book nor search for patients there;
    # an empty POST is invalid input (400).
    r"^admin/calendar/$": Route(lambda w: "/admin/calendar/", admin(200, 200, 200)),
    r"^admin/calendar/events/$": Route(
        lambda w: f"/admin/calendar/events/?start={w.day}&end={w.day + timedelta(days=1)}&doctors={w.doctor.pk}",
        admin(200, 200, 200),
    ),
    r"^admin/calendar/patients/$": Route(lambda w: "/admin/calendar/patients/?q=ab", admin(403, 200, 200)),
    r"^admin/calendar/book/$": Route(lambda w: "/admin/calendar/book/", admin(403, 400, 400), "POST"),
    r"^admin/calendar/appointments/<int:pk>/move/$": Route(
        lambda w: f"/admin/calendar/appointments/{w.appointment.pk}/move/", admin(400, 400, 400), "POST"
    ),
    r"^admin/calendar/appointments/<int:pk>/status/$": Route(
        lambda w: f"/admin/calendar/appointments/{w.appointment.pk}/status/", admin(400, 400, 400), "POST"
    ),
    # Patients have no page on the site: "view on site" finds nothing.
    r"^admin/r/": Route(
        lambda w: f"/admin/r/{w.content_type_id('clinic/patient')}/{w.patient.pk}/", admin(404, 404, 404)
    ),
    r"^admin/clinic/user/<id>/password/$": Route(
        lambda w: f"/admin/clinic/user/{w.patient.user_id}/password/", admin(403, 403, 200)
    ),
    # "Sign out everywhere" on a user's page: the clinic admin's (a POST, back to the page).
    r"^admin/clinic/user/<path:object_id>/end-sessions/$": Route(
        lambda w: f"/admin/clinic/user/{w.patient.user_id}/end-sessions/", admin(403, 403, 302), "POST"
    ),
    **_admin_model_routes(),
    # An app's index: the apps the user has pages in.
    r"^admin/\^\(\?P<app_label>": Route(lambda w: "/admin/clinic/", admin(200, 200, 200)),
    r"^admin/\(\?P<url>\.\*\)\$$": Route(lambda w: "/admin/no-such-page/", admin(404, 404, 404)),
    # --- Sign-in and accounts (django-allauth) ------------------------------------------------
    # Signed-in people are sent on from the sign-in and sign-up pages.
    r"^accounts/login/$": Route(lambda w: "/accounts/login/", (200, 302, 302, 302, 302)),
    r"^accounts/signup/$": Route(lambda w: "/accounts/signup/", (200, 302, 302, 302, 302)),
    r"^accounts/logout/$": Route(lambda w: "/accounts/logout/", (302, 200, 200, 200, 200)),
    r"^accounts/inactive/$": Route(lambda w: "/accounts/inactive/", ALL_OK),
    r"^accounts/reauthenticate/$": Route(lambda w: "/accounts/reauthenticate/", SIGNED_IN),
    # Re-authentication by a code sent to a verified address (patient P has one; the others
    # are sent to re-enter their password). Only a POST sends a code; without one sent,
    # confirming sends everyone back.
    r"^accounts/reauthenticate/code/$": Route(lambda w: "/accounts/reauthenticate/code/", (LOGIN, 200, 302, 302, 302)),
    r"^accounts/reauthenticate/code/confirm/$": Route(
        lambda w: "/accounts/reauthenticate/code/confirm/", (LOGIN, 302, 302, 302, 302)
    ),
    r"^accounts/login/code/confirm/$": Route(lambda w: "/accounts/login/code/confirm/", (302, 302, 302, 302, 302)),
    r"^accounts/email/$": Route(lambda w: "/accounts/email/", SIGNED_IN),
    r"^accounts/confirm-email/$": Route(lambda w: "/accounts/confirm-email/", ALL_OK),
    r"^accounts/\^confirm-email/": Route(lambda w: "/accounts/confirm-email/no-such-key/", ALL_OK),
    r"^accounts/password/change/$": Route(lambda w: "/accounts/password/change/", SIGNED_IN),
    # Everyone has a password: setting one sends them to changing it.
    r"^accounts/password/set/$": Route(lambda w: "/accounts/password/set/", (LOGIN, 302, 302, 302, 302)),
    r"^accounts/password/reset/$": Route(lambda w: "/accounts/password/reset/", ALL_OK),
    r"^accounts/password/reset/done/$": Route(lambda w: "/accounts/password/reset/done/", ALL_OK),
    r"^accounts/password/reset/key/done/$": Route(lambda w: "/accounts/password/reset/key/done/", ALL_OK),
    # A wrong key is a page saying so.
    r"^accounts/\^password/reset/key/": Route(lambda w: "/accounts/password/reset/key/1-no-such-key/", ALL_OK),
    # The second factor (allauth.mfa): each user's own. Nobody in the sample world has one yet, so
    # the pages of an existing factor are 404s; setting one up asks a session as old as the test
    # client's to confirm the password first (re-authentication).
    r"^accounts/2fa/$": Route(lambda w: "/accounts/2fa/", SIGNED_IN),
    # The code step of a sign-in in progress: without one, back to the start.
    r"^accounts/2fa/authenticate/$": Route(lambda w: "/accounts/2fa/authenticate/", (302, 302, 302, 302, 302)),
    r"^accounts/2fa/reauthenticate/$": Route(lambda w: "/accounts/2fa/reauthenticate/", (LOGIN, 302, 302, 302, 302)),
    r"^accounts/2fa/totp/activate/$": Route(lambda w: "/accounts/2fa/totp/activate/", (LOGIN, 302, 302, 302, 302)),
    r"^accounts/2fa/totp/deactivate/$": Route(lambda w: "/accounts/2fa/totp/deactivate/", (LOGIN, 404, 404, 404, 404)),
    r"^accounts/2fa/recovery-codes/$": Route(lambda w: "/accounts/2fa/recovery-codes/", (LOGIN, 404, 404, 404, 404)),
    r"^accounts/2fa/recovery-codes/generate/$": Route(
        lambda w: "/accounts/2fa/recovery-codes/generate/", (LOGIN, 302, 302, 302, 302)
    ),
    r"^accounts/2fa/recovery-codes/download/$": Route(
        lambda w: "/accounts/2fa/recovery-codes/download/", (LOGIN, 404, 404, 404, 404)
    ),
    # Where the user is signed in (allauth.usersessions): their own sessions only.
    r"^accounts/sessions/$": Route(lambda w: "/accounts/sessions/", SIGNED_IN),
    # --- The JSON API ---------------------------------------------------------------------------
    # Anyone may register or ask for tokens: an empty body is invalid input.
    r"^registrations/$": Route(lambda w: "/registrations/", (400, 400, 400, 400, 400), "POST"),
    r"^api/token/$": Route(lambda w: "/api/token/", (400, 400, 400, 400, 400), "POST"),
    r"^api/token/refresh/$": Route(lambda w: "/api/token/refresh/", (400, 400, 400, 400, 400), "POST"),
    r"^api/token/blacklist/$": Route(lambda w: "/api/token/blacklist/", (400, 400, 400, 400, 400), "POST"),
    # Patients book for themselves and staff for patients; doctors do not book.
    r"^book-appointment/$": Route(lambda w: "/book-appointment/", (401, 400, 403, 400, 400), "POST"),
    r"^api/schema/$": Route(lambda w: "/api/schema/", ALL_OK),
    r"^api/docs/$": Route(lambda w: "/api/docs/", ALL_OK),
    r"^\^patients/\$$": Route(lambda w: "/patients/", API_SIGNED_IN),
    r"^\^patients/\(\?P<pk>": Route(lambda w: f"/patients/{w.patient.pk}/", API_SIGNED_IN),
    r"^\^doctors/\$$": Route(lambda w: "/doctors/", API_SIGNED_IN),
    r"^\^doctors/\(\?P<pk>\[\^/\]\+\)/\$$": Route(lambda w: f"/doctors/{w.doctor.pk}/", API_SIGNED_IN),
    r"^\^doctors/\(\?P<pk>\[\^/\]\+\)/slots/": Route(
        lambda w: f"/doctors/{w.doctor.pk}/slots/?date={w.day.isoformat()}", API_SIGNED_IN
    ),
    r"^\^appointments/\$$": Route(lambda w: "/appointments/", API_SIGNED_IN),
    # The CSV export: the front desk and doctors (their own); not patients.
    r"^appointments/export/$": Route(lambda w: "/appointments/export/", (401, 403, 200, 200, 200)),
    r"^\^appointments/\(\?P<pk>": Route(lambda w: f"/appointments/{w.appointment.pk}/", API_SIGNED_IN),
    # Visit types: every signed-in user reads them (patients those bookable online, as this one).
    r"^\^appointment-types/\$$": Route(lambda w: "/appointment-types/", API_SIGNED_IN),
    r"^\^appointment-types/\(\?P<pk>": Route(
        lambda w: f"/appointment-types/{w.sample('clinic/appointmenttype')}/", API_SIGNED_IN
    ),
    # Series: the front desk books them (an empty POST is a 400); patient P has none to see.
    r"^\^appointment-series/\$$": Route(lambda w: "/appointment-series/", (401, 403, 403, 400, 400), "POST"),
    r"^\^appointment-series/\(\?P<pk>\[\^/\]\+\)/\$$": Route(
        lambda w: f"/appointment-series/{w.series.pk}/", (401, 404, 200, 200, 200)
    ),
    r"^\^appointment-series/\(\?P<pk>\[\^/\]\+\)/cancel/": Route(
        lambda w: f"/appointment-series/{w.series.pk}/cancel/", (401, 404, 400, 400, 400), "POST"
    ),
    # The waitlist: patients their own (P's entry here), the front desk all; doctors none.
    r"^\^waitlist/\$$": Route(lambda w: "/waitlist/", (401, 200, 403, 200, 200)),
    r"^\^waitlist/\(\?P<pk>": Route(
        lambda w: f"/waitlist/{w.sample('clinic/waitlistentry')}/", (401, 200, 403, 200, 200)
    ),
    # Reception never sees medical records.
    r"^\^medical-records/\$$": Route(lambda w: "/medical-records/", (401, 200, 200, 403, 200)),
    r"^\^medical-records/\(\?P<pk>": Route(lambda w: f"/medical-records/{w.record.pk}/", (401, 200, 200, 403, 200)),
    # --- The FHIR facade (clinic/fhir/): the API's visibility; its CapabilityStatement is public -------
    r"^fhir/metadata$": Route(lambda w: "/fhir/metadata", ALL_OK),
    # $find with no parameters: the free slots of the next 7 days. $book of an empty body is a 400.
    r"^fhir/Appointment/\$find$": Route(lambda w: "/fhir/Appointment/$find", API_SIGNED_IN, "POST"),
    r"^fhir/Appointment/\$book$": Route(lambda w: "/fhir/Appointment/$book", (401, 400, 403, 400, 400), "POST"),
    r"^fhir/Patient$": Route(lambda w: "/fhir/Patient", API_SIGNED_IN),
    r"^fhir/Patient/<str:pk>$": Route(lambda w: f"/fhir/Patient/{w.patient.pk}", API_SIGNED_IN),
    r"^fhir/Practitioner$": Route(lambda w: "/fhir/Practitioner", API_SIGNED_IN),
    r"^fhir/Practitioner/<str:pk>$": Route(lambda w: f"/fhir/Practitioner/{w.doctor.pk}", API_SIGNED_IN),
    r"^fhir/PractitionerRole$": Route(lambda w: "/fhir/PractitionerRole", API_SIGNED_IN),
    r"^fhir/PractitionerRole/<str:pk>$": Route(lambda w: f"/fhir/PractitionerRole/{w.doctor.pk}", API_SIGNED_IN),
    r"^fhir/Schedule$": Route(lambda w: "/fhir/Schedule", API_SIGNED_IN),
    r"^fhir/Schedule/<str:pk>$": Route(lambda w: f"/fhir/Schedule/{w.doctor.pk}", API_SIGNED_IN),
    r"^fhir/Slot$": Route(lambda w: f"/fhir/Slot?schedule=Schedule/{w.doctor.pk}", API_SIGNED_IN),
    # A slot id names a doctor and a start: the one of appointment A is taken, so no free slot has it.
    r"^fhir/Slot/<str:pk>$": Route(
        lambda w: f"/fhir/Slot/{w.doctor.pk}-{w.appointment.appointment_time:%Y%m%d%H%M}", (401, 404, 404, 404, 404)
    ),
    r"^fhir/Appointment$": Route(lambda w: "/fhir/Appointment", API_SIGNED_IN),
    r"^fhir/Appointment/<str:pk>$": Route(lambda w: f"/fhir/Appointment/{w.appointment.pk}", API_SIGNED_IN),
    # Any other path under /fhir/ is a 404 OperationOutcome for a signed-in user.
    r"^fhir/\^\.\*\$$": Route(lambda w: "/fhir/Observation", (401, 404, 404, 404, 404)),
    # --- The booking pages -----------------------------------------------------------------------
    # Home sends everyone on: to sign in, or to their appointments.
    r"^$": Route(lambda w: "/", (302, 302, 302, 302, 302)),
    # Doctors do not book: the page says so.
    r"^book/$": Route(lambda w: "/book/", (LOGIN, 200, 403, 200, 200)),
    r"^my/appointments/$": Route(lambda w: "/my/appointments/", SIGNED_IN),
    r"^my/appointments/<int:pk>/$": Route(lambda w: f"/my/appointments/{w.appointment.pk}/", SIGNED_IN),
    # The waitlist page is the patients'; the front desk's is in the admin.
    r"^my/waitlist/$": Route(lambda w: "/my/waitlist/", (LOGIN, 200, 403, 403, 403)),
    # The manage link of a notice: its token is the credential, whoever asks (clinic.access).
    r"^a/<str:token>/$": Route(lambda w: f"/a/{manage_token(w.appointment)}/", ALL_OK),
    # The claim link of a waitlist offer: the same.
    r"^w/<str:token>/$": Route(lambda w: f"/w/{offer_token(w.offer)}/", ALL_OK),
    # --- Operating (clinic/health.py, clinic/metrics.py) --------------------------------------------
    # No sign-in, the same answer for everyone. The table's world has no worker heartbeat, so
    # ready says 503 ("no worker seen"); tests/test_health.py covers each check.
    r"^health/live$": Route(lambda w: "/health/live", ALL_OK),
    r"^health/ready$": Route(lambda w: "/health/ready", (503, 503, 503, 503, 503)),
    # Not by role: a bearer token (METRICS_TOKEN), or, with none set as here, loopback clients
    # (the test client is 127.0.0.1); tests/test_metrics.py covers both.
    r"^metrics$": Route(lambda w: "/metrics", ALL_OK),
}


def route_for(pattern: str) -> list[str]:
    """The keys of ROUTES matching a route pattern (exactly one is expected)."""
    return [key for key in ROUTES if re.search(key, pattern)]


# --- The sample world ------------------------------------------------------------------------


@dataclass
class World:
    """One of each: patient P, staff doctor D, appointment A of P with D, record R, time off T."""

    patient: object
    doctor: object
    appointment: object
    record: object
    time_off: object
    reception: object
    admin: object
    series: object
    offer: object
    samples: dict[str, object]

    @property
    def day(self):
        return self.appointment.appointment_time.date()

    def user(self, role: str):
        return {
            "anonymous": None,
            "patient": self.patient.user,
            "doctor": self.doctor.user,
            "reception": self.reception,
            "admin": self.admin,
        }[role]

    def sample(self, model: str):
        """The id of the sample object of an admin model ("app/model")."""
        if model not in self.samples:
            from django.apps import apps

            pk = apps.get_model(*model.split("/"))._default_manager.order_by("pk").values_list("pk", flat=True).first()
            self.samples[model] = pk if pk is not None else 999999
        return self.samples[model]

    def history_id(self, model: str) -> int:
        from django.apps import apps

        history = apps.get_model(*model.split("/")).history
        return history.filter(id=self.sample(model)).latest("history_date").history_id

    def content_type_id(self, model: str) -> int:
        from django.apps import apps
        from django.contrib.contenttypes.models import ContentType

        return ContentType.objects.get_for_model(apps.get_model(*model.split("/"))).pk


def build_world(start) -> World:
    """The sample objects, and a row of every other model the admin lists."""
    from allauth.account.models import EmailAddress
    from django.apps import apps
    from django.utils import timezone
    from django_q.models import OrmQ, Schedule, Task
    from rest_framework.test import APIClient

    from clinic.api.tokens import ClinicRefreshToken
    from clinic.models import (
        AppointmentSeries,
        EmailOutbox,
        WaitlistEntry,
        WaitlistOffer,
        WebhookDelivery,
        WebhookEndpoint,
    )
    from tests import factories

    doctor = factories.DoctorFactory(user__is_staff=True)
    visit_type = factories.AppointmentTypeFactory(doctors=[doctor])
    appointment = factories.AppointmentFactory(doctor=doctor, appointment_time=start)
    record = factories.MedicalRecordFactory(appointment=appointment)
    time_off = factories.TimeOffFactory(
        doctor=doctor, starts_at=start + timedelta(days=3), ends_at=start + timedelta(days=4)
    )
    clinic_admin = factories.AdminFactory()
    waiting = WaitlistEntry.objects.create(
        patient=appointment.patient, doctor=doctor, date_from=start.date(), date_to=start.date() + timedelta(days=7)
    )
    offer = WaitlistOffer.objects.create(
        entry=waiting, doctor=doctor, start=start + timedelta(days=1), valid_until=timezone.now() + timedelta(hours=2)
    )
    hook = WebhookEndpoint.objects.create(url="http://127.0.0.1:9/hook", events=["appointment.booked"], secret="x")
    delivery = WebhookDelivery.objects.create(
        endpoint=hook, event="appointment.booked", payload={"type": "appointment.booked"}, message_id="msg_sample"
    )
    # A series of doctor D with another patient than P (P's view of it is a 404).
    series = AppointmentSeries.objects.create(
        patient=factories.PatientFactory(), doctor=doctor, every_weeks=1, count=2, created_by=clinic_admin
    )
    world = World(
        patient=appointment.patient,
        doctor=doctor,
        appointment=appointment,
        record=record,
        time_off=time_off,
        reception=factories.ReceptionFactory(),
        admin=clinic_admin,
        series=series,
        offer=offer,
        samples={
            "clinic/patient": appointment.patient.pk,
            "clinic/doctor": doctor.pk,
            "clinic/appointment": appointment.pk,
            "clinic/medicalrecord": record.pk,
            "clinic/timeoff": time_off.pk,
            "clinic/appointmenttype": visit_type.pk,
            "clinic/waitlistentry": waiting.pk,
            "clinic/waitlistoffer": offer.pk,
            "clinic/webhookendpoint": hook.pk,
            "clinic/webhookdelivery": delivery.pk,
            "clinic/user": appointment.patient.user_id,
            "auth/group": factories.reception_group().pk,
        },
    )
    user = appointment.patient.user
    EmailOutbox.objects.create(appointment=appointment, kind=EmailOutbox.Kind.BOOKED, sequence=0)
    EmailAddress.objects.create(user=user, email=user.email, primary=True, verified=True)
    ClinicRefreshToken.for_user(user)
    ClinicRefreshToken.for_user(user).blacklist()
    now = timezone.now()
    Schedule.objects.create(name="Sample schedule", func="math.floor", args="1")
    Task.objects.create(id="a" * 32, name="sample-success", func="math.floor", started=now, stopped=now, success=True)
    Task.objects.create(id="b" * 32, name="sample-failure", func="math.floor", started=now, stopped=now, success=False)
    OrmQ.objects.create(key="clinic", payload="sample")
    if apps.is_installed("axes"):
        from axes.models import AccessAttempt, AccessLog

        seen = {"user_agent": "test", "ip_address": "127.0.0.1", "http_accept": "*/*", "path_info": "/api/token/"}
        AccessAttempt.objects.create(
            username="someone", get_data="", post_data="", failures_since_start=1, attempt_time=now, **seen
        )
        AccessLog.objects.create(username="someone", attempt_time=now, **seen)
    # A read of a medical record, for the access log (where one is kept).
    api = APIClient()
    api.force_authenticate(clinic_admin)
    api.get(f"/medical-records/{record.pk}/")
    return world
