"""`make bench`: the API, the references and the admin under load, at two data sizes.

For each profile (10k and 1M appointments) it prepares a PostgreSQL database with
`seed_scale` (kept between runs), starts gunicorn (2 × cores + 1 sync workers) with
the bench settings, drives each endpoint from wrk on loopback, and writes
bench/results.json, bench/results.md and bench/results.png.

Then the list endpoints with metrics and JSON logs on and off, side by side (`observability()`).

    python bench/run.py [--profiles 10k,1m] [--duration 10] [--connections 8] [--observability-rounds 8]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from datetime import date, datetime, timedelta
from pathlib import Path
from urllib.parse import quote_plus

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
PORT = int(os.environ.get("BENCH_PORT", "8765"))
BASE = f"http://127.0.0.1:{PORT}"
PROFILES = {
    "10k": {"patients": 2000, "doctors": 50, "appointments": 10_000, "records": 1000},
    "1m": {"patients": 100_000, "doctors": 50, "appointments": 1_000_000, "records": 50_000},
}
PAGE = 50
# Raise when seed_scale makes different data.
SEED_VERSION = 4
# The environment and fixtures of each profile run, for the side-by-side growth runs.
PREPARED: dict[str, tuple[dict, dict]] = {}


def log(message: str) -> None:
    print(f"[bench {datetime.now():%H:%M:%S}] {message}", flush=True)


def psql(sql: str, db: str = "postgres") -> str:
    return subprocess.run(
        ["psql", f"{PG}/{db}", "-tAc", sql], check=True, capture_output=True, text=True
    ).stdout.strip()


def manage(env: dict, *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True)


def child(env: dict, what: str, code: str, *argv: str):
    """Runs `code` in a fresh Python with the profile's environment and returns the JSON of its
    last line of output; a failure stops the bench with the child's traceback."""
    out = subprocess.run([sys.executable, "-c", code, *argv], cwd=ROOT, env=env, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"bench: {what} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def prepare_database(name: str, sizes: dict) -> dict:
    """A migrated database with the profile's scale data, reused when it already matches."""
    db = f"clinic_bench_{name}"
    env = {**os.environ, "DATABASE_URL": f"{PG}/{db}", "DJANGO_SETTINGS_MODULE": "config.settings.bench"}
    # A database seeded by an older seed_scale (without visit types, say) is seeded again.
    marker = json.dumps({**sizes, "seed_version": SEED_VERSION}, sort_keys=True)
    exists = psql(f"SELECT 1 FROM pg_database WHERE datname = '{db}'") == "1"
    if exists:
        try:
            if psql("SELECT comment FROM bench_marker", db) == marker:
                log(f"{db}: scale data present")
                manage(env, "migrate", "--noinput", "-v0")
                return env
        except subprocess.CalledProcessError:
            pass
        psql(f"DROP DATABASE {db} WITH (FORCE)")
    psql(f"CREATE DATABASE {db}")
    manage(env, "migrate", "--noinput", "-v0")
    log(f"{db}: seeding {sizes}")
    started = time.perf_counter()
    manage(env, "seed_scale", *[f"--{k}={v}" for k, v in sizes.items()])
    seed_seconds = time.perf_counter() - started
    psql(f"CREATE TABLE bench_marker (comment text); INSERT INTO bench_marker VALUES ('{marker}')", db)
    psql("VACUUM ANALYZE", db)
    log(f"{db}: seeded in {seed_seconds:.0f} s")
    return env


class Server:
    def __init__(self, env: dict, port: int = PORT) -> None:
        workers = 2 * (os.cpu_count() or 1) + 1
        self.workers = workers
        self.base = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}",
                "--workers", str(workers), "--worker-class", "sync", "--log-level", "warning",
                "--env", "DJANGO_SETTINGS_MODULE=config.settings.bench",
            ],
            cwd=ROOT, env=env, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.base}/api/schema/", timeout=2)
                break
            except OSError:
                time.sleep(0.3)
        else:
            self.stop()
            raise RuntimeError("gunicorn did not start")
        # Every worker's first requests import and connect; keep them out of the measurements.
        subprocess.run(["wrk", "-t2", "-c16", "-d3s", f"{self.base}/api/schema/"], check=True, capture_output=True)

    def cpu_seconds(self) -> float:
        """CPU time (user and system) its workers have used so far."""
        ticks = 0
        for pid in Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except FileNotFoundError:
                continue  # a worker that has just exited
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
        return ticks / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(timeout=30)


def fixtures(env: dict) -> dict:
    """Ids, tokens and a staff session from the bench database (run in a child process)."""
    code = r"""
import json, django
django.setup()
from datetime import timedelta
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.models import Group
from django.contrib.sessions.backends.db import SessionStore
from django.utils import timezone
from rest_framework_simplejwt.tokens import RefreshToken
from clinic.access import RECEPTION_GROUP, manage_token, offer_token
from clinic.booking import BookingWindow, slots_free
from clinic.models import Appointment, AppointmentType, Doctor, MedicalRecord, Patient, User, WaitlistEntry, WaitlistOffer
from clinic.models import WebhookDelivery, WebhookEndpoint

reception, _ = User.objects.get_or_create(username="bench-reception", defaults={"email": "bench-reception@clinic.example", "is_staff": True})
reception.groups.add(Group.objects.get(name=RECEPTION_GROUP))
admin, _ = User.objects.get_or_create(username="bench-admin", defaults={"email": "bench-admin@clinic.example", "is_staff": True, "is_superuser": True})
doctor = Doctor.objects.order_by("id").first()
patient = Appointment.objects.filter(doctor=doctor).order_by("id").first().patient
appointment = Appointment.objects.filter(doctor=doctor).order_by("-appointment_time").first()
record = MedicalRecord.objects.order_by("id").first()
# A live appointment days ahead, for the manage link of its notice.
live = Appointment.objects.filter(
    doctor=doctor, status__in=["pending", "confirmed"], appointment_time__gt=timezone.now() + timedelta(days=2)
).order_by("appointment_time").first()
# A waitlist offer of that time, taken since: its page looks for the other free times of a
# two-week range (at 1M, weeks of full days).
live_day = timezone.localdate(live.appointment_time)
entry, _ = WaitlistEntry.objects.get_or_create(
    patient=patient, doctor=doctor, date_from=live_day, defaults={"date_to": live_day + timedelta(days=14)}
)
WaitlistEntry.objects.filter(pk=entry.pk).update(status="waiting")
offer, _ = WaitlistOffer.objects.update_or_create(
    entry=entry, doctor=doctor, start=live.appointment_time,
    defaults={"valid_until": timezone.now() + timedelta(hours=2), "outcome": "open"},
)
# A page and more of webhook deliveries for the admin's list. The endpoint is switched off, so the
# bench's bookings write no deliveries of their own (a live one would add a row per booking).
hook, _ = WebhookEndpoint.objects.get_or_create(
    url="https://hooks.bench.example/clinic", defaults={"events": ["appointment.booked"], "secret": "whsec_YmVuY2g=", "active": False}
)
have = WebhookDelivery.objects.filter(endpoint=hook).count()
WebhookDelivery.objects.bulk_create(
    WebhookDelivery(endpoint=hook, event="appointment.booked", message_id=f"msg_bench{n}", status="failed" if n % 7 == 0 else "sent",
                    attempts=1, last_status_code=200, payload={"type": "appointment.booked", "data": {"appointment_id": n}})
    for n in range(have, 120)
)
day = timezone.localdate() + timedelta(days=1)
while not slots_free(doctor=doctor, day=day):
    day += timedelta(days=1)
# The calendar: a weekday every doctor's grid is full on (the one before the doctor's last), and its week.
calendar_day = timezone.localtime(appointment.appointment_time).date() - timedelta(days=1)
while calendar_day.weekday() >= 5:
    calendar_day -= timedelta(days=1)
calendar_week = calendar_day - timedelta(days=calendar_day.weekday())
def session(user):
    s = SessionStore()
    s[SESSION_KEY] = str(user.pk)
    s[BACKEND_SESSION_KEY] = "clinic.authentication.ClinicModelBackend"
    s[HASH_SESSION_KEY] = user.get_session_auth_hash()
    s.create()
    return s.session_key
tokens = {name: str(RefreshToken.for_user(u).access_token) for name, u in
          {"reception": reception, "admin": admin, "doctor": doctor.user, "patient": patient.user}.items()}
# Bookings: future slots beyond the seeded days, each patient at most once per time.
last = Appointment.objects.order_by("-appointment_time").values_list("appointment_time", flat=True).first()
start_day = max(timezone.localdate(), timezone.localtime(last).date()) + timedelta(days=1)
doctors = list(Doctor.objects.order_by("id")[:50])
patients = list(Patient.objects.order_by("id").values_list("id", flat=True)[:5000])
# The days left in the booking window: the plain bookings take the first half, the typed ones
# (a consultation with a buffer after it) the second, so that neither meets the other.
latest = BookingWindow.at(timezone.now()).latest.date()
days = [start_day + timedelta(days=n) for n in range((latest - start_day).days)]
if len(days) < 2:
    raise SystemExit(f"bench: no free days left in the booking window after {start_day}")
kind = AppointmentType.objects.filter(buffer_after_minutes__gt=0).order_by("id").first()


def bookings(on_days, offset, appointment_type=None):
    typed = {"appointment_type": appointment_type.id} if appointment_type else {}
    found = []
    for d in on_days:
        for doc in doctors:
            found += [{"doctor": doc.id, "appointment_time": s.isoformat(), **typed}
                      for s in slots_free(doctor=doc, day=d, appointment_type=appointment_type)]
    found.sort(key=lambda b: (b["appointment_time"], b["doctor"]))
    # Like seed_scale: at one time the doctors see distinct patients, so nobody is double-booked.
    times, previous, n = -1, None, 0
    for b in found:
        if b["appointment_time"] != previous:
            times, previous, n = times + 1, b["appointment_time"], 0
        b["patient"] = patients[(times * len(doctors) + n + offset) % len(patients)]
        n += 1
    if not found:
        raise SystemExit(f"bench: no free slots to book between {on_days[0]} and {on_days[-1]}")
    return found


half = len(days) // 2
bodies = bookings(days[:half], 0)
typed = bookings(days[half:], 2500, appointment_type=kind)
print(json.dumps({
    "doctor": doctor.id, "patient": patient.id, "appointment": appointment.id, "record": record.id,
    "slot_date": day.isoformat(), "tokens": tokens, "session": session(admin),
    "patient_session": session(patient.user), "specialization": doctor.specialization,
    "reception_session": session(reception), "bookings": bodies[:20000], "typed_bookings": typed[:20000],
    "appointment_type": kind.id, "manage_token": manage_token(live), "offer_token": offer_token(offer), "doctor_name": doctor.user.last_name,
    "calendar_doctors": ",".join(str(doc.id) for doc in doctors),
    "calendar_day": calendar_day.isoformat(), "calendar_day_end": (calendar_day + timedelta(days=1)).isoformat(),
    "calendar_week": calendar_week.isoformat(), "calendar_week_end": (calendar_week + timedelta(days=7)).isoformat(),
}))
"""
    return child(env, "making the fixtures", code)


def row_costs(env: dict) -> dict:
    """CPU microseconds per row to turn 200 fetched rows into JSON-ready dicts: the API's
    values() reader against a plain ModelSerializer over the instances (run in a child process)."""
    code = r"""
import json, time, django
django.setup()
from clinic.api.rows import ValuesReader
from clinic.api.serializers import AppointmentSerializer, DoctorSerializer, MedicalRecordSerializer, PatientSerializer
from clinic.models import Appointment, Doctor, MedicalRecord, Patient

def per_row(render, rows, n=40):
    render()
    start = time.process_time()
    for _ in range(n):
        render()
    return round((time.process_time() - start) / n / rows * 1e6, 1)

out = {}
for name, model, serializer in [("appointments", Appointment, AppointmentSerializer), ("patients", Patient, PatientSerializer),
                                ("doctors", Doctor, DoctorSerializer), ("medical records", MedicalRecord, MedicalRecordSerializer)]:
    reader = ValuesReader(serializer)
    rows = list(reader.values(model.objects.order_by("id"))[:200])
    instances = list(model.objects.order_by("id").select_related()[:200])
    out[name] = {"values_reader_us": per_row(lambda: reader.render(rows), len(rows)),
                 "model_serializer_us": per_row(lambda: serializer(instances, many=True).data, len(instances))}
print(json.dumps(out))
"""
    return child(env, "row_costs", code)


def export_memory(env: dict) -> dict:
    """The whole appointments table as CSV, read to the end through the export's streaming
    response in a child process: rows, bytes, seconds, and the process's resident memory before
    and at its peak (VmHWM). Constant memory shows as the same small growth at 10k and at 1M."""
    code = r"""
import json, time, django
django.setup()
from django.test import Client
from rest_framework_simplejwt.tokens import RefreshToken
from clinic.models import User

def rss_mb(field):
    line = next(l for l in open("/proc/self/status") if l.startswith(field))
    return round(int(line.split()[1]) / 1024, 1)

token = str(RefreshToken.for_user(User.objects.get(username="bench-reception")).access_token)
client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {token}")
client.get("/appointments/export/?page_size=1")  # imports and connects before the baseline
before = rss_mb("VmRSS:")
started = time.perf_counter()
response = client.get("/appointments/export/")
assert response.status_code == 200 and response.streaming, response.status_code
lines = size = 0
for chunk in response.streaming_content:
    size += len(chunk)
    lines += chunk.count(b"\n")
print(json.dumps({"rows": lines - 1, "mb": round(size / 2**20, 1), "seconds": round(time.perf_counter() - started, 1),
                  "rss_before_mb": before, "rss_peak_mb": rss_mb("VmHWM:"), "rss_after_mb": rss_mb("VmRSS:")}))
"""
    result = child(env, "export_memory", code)
    log(f"CSV export of every appointment: {result}")
    return result


def endpoints(fx: dict) -> list[dict]:
    t = fx["tokens"]
    d, p, a, r = fx["doctor"], fx["patient"], fx["appointment"], fx["record"]
    page = f"page_size={PAGE}"
    return [
        # name, group, path, auth, reference of the same rows
        {"name": "appointments list", "kind": "list", "path": f"/appointments/?{page}", "token": t["reception"],
         "limit": "/bench/limit/appointments/", "naive": f"/bench/naive/appointments/?{page}"},
        {"name": "appointments list, by doctor", "kind": "list", "path": f"/appointments/?doctor={d}&{page}",
         "token": t["reception"]},
        {"name": "appointments list (doctor)", "kind": "list", "path": f"/appointments/?{page}", "token": t["doctor"]},
        {"name": "appointments list (patient)", "kind": "list", "path": f"/appointments/?{page}", "token": t["patient"]},
        # The CSV export of one doctor's appointments (every one, streamed): about 1/D of the
        # table. Its memory stays flat (a server-side cursor read in chunks of 2000 rows); X-Queries
        # shows 1 (the role): the SELECT runs while the body streams, after the headers are sent.
        {"name": "appointments CSV export, by doctor", "kind": "export",
         "path": f"/appointments/export/?doctor={d}", "token": t["reception"]},
        {"name": "appointment detail", "kind": "detail", "path": f"/appointments/{a}/", "token": t["reception"]},
        {"name": "patients list", "kind": "list", "path": f"/patients/?{page}", "token": t["reception"],
         "limit": "/bench/limit/patients/", "naive": f"/bench/naive/patients/?{page}"},
        {"name": "patient detail", "kind": "detail", "path": f"/patients/{p}/", "token": t["reception"]},
        {"name": "doctors list", "kind": "list", "path": f"/doctors/?{page}", "token": t["patient"],
         "limit": "/bench/limit/doctors/", "naive": f"/bench/naive/doctors/?{page}"},
        {"name": "doctor detail", "kind": "detail", "path": f"/doctors/{d}/", "token": t["patient"]},
        {"name": "doctor slots, by type", "kind": "slots",
         "path": f"/doctors/{d}/slots/?date={fx['slot_date']}&type={fx['appointment_type']}",
         "token": t["patient"]},
        {"name": "doctor slots", "kind": "slots", "path": f"/doctors/{d}/slots/?date={fx['slot_date']}",
         "token": t["patient"]},
        # The FHIR facade, against the JSON API's rows of the same request: `ratio_to` names that endpoint.
        {"name": "fhir Appointment search", "kind": "fhir", "path": f"/fhir/Appointment?_count={PAGE}",
         "token": t["reception"], "ratio_to": "appointments list"},
        {"name": "fhir Slot search", "kind": "fhir",
         "path": f"/fhir/Slot?schedule=Schedule/{d}&start=ge{fx['slot_date']}"
                 f"&start=lt{date.fromisoformat(fx['slot_date']) + timedelta(days=1)}&status=free",
         "token": t["patient"], "ratio_to": "doctor slots"},
        {"name": "medical records list", "kind": "list", "path": f"/medical-records/?{page}", "token": t["admin"]},
        {"name": "medical record detail", "kind": "detail", "path": f"/medical-records/{r}/", "token": t["admin"]},
        {"name": "htmx: free slots fragment (/book/)", "kind": "page", "hx": True,
         "path": f"/book/?specialization={fx['specialization'].replace(' ', '+')}&date={fx['slot_date']}",
         "cookie": f"sessionid={fx['patient_session']}"},
        # Without a date, /book/ opens on the doctors' first day with a free slot: at 1M every
        # slot is taken until two months ahead, so the search runs through weeks of full days.
        {"name": "htmx: next available (/book/)", "kind": "page", "hx": True,
         "path": f"/book/?doctor_q={quote_plus(fx['doctor_name'])}", "cookie": f"sessionid={fx['patient_session']}"},
        {"name": "htmx: my appointments fragment", "kind": "page", "hx": True, "path": "/my/appointments/",
         "cookie": f"sessionid={fx['patient_session']}"},
        # The waitlist: the front desk's list (API) and a patient's page.
        {"name": "waitlist list", "kind": "list", "path": f"/waitlist/?{page}", "token": t["reception"]},
        {"name": "my waitlist page", "kind": "page", "path": "/my/waitlist/",
         "cookie": f"sessionid={fx['patient_session']}"},
        # The page of an email's manage link, signed in or not.
        {"name": "manage link page (/a/…/)", "kind": "page", "path": f"/a/{fx['manage_token']}/"},
        # A waitlist offer's claim link, its time taken: "someone was quicker", and the other times.
        {"name": "waitlist offer page, time taken (/w/…/)", "kind": "page", "path": f"/w/{fx['offer_token']}/"},
        {"name": "admin appointments changelist", "kind": "admin", "path": "/admin/clinic/appointment/",
         "cookie": f"sessionid={fx['session']}"},
        # A doctor's confirmed appointments fill the page at either size; their pending ones
        # (2% of them) are 4 rows at 10k and a full page at 1M.
        {"name": "admin appointments, filtered", "kind": "admin",
         "path": f"/admin/clinic/appointment/?status__exact=confirmed&doctor__id__exact={d}",
         "cookie": f"sessionid={fx['session']}"},
        {"name": "admin appointments, pending of a doctor", "kind": "admin",
         "path": f"/admin/clinic/appointment/?status__exact=pending&doctor__id__exact={d}",
         "cookie": f"sessionid={fx['session']}"},
        # One patient at either size, by the start of their email; then a name shared by 1 in 120
        # patients (17 at 10k, 833 at 1M: the matches grow with the data, up to the 500 searched).
        {"name": "admin appointments, search by email", "kind": "admin",
         "path": "/admin/clinic/appointment/?q=scale-p42%40", "cookie": f"sessionid={fx['session']}"},
        {"name": "admin appointments, search by name", "kind": "admin",
         "path": "/admin/clinic/appointment/?q=Grace+Hopper", "cookie": f"sessionid={fx['session']}"},
        {"name": "admin patients changelist", "kind": "admin", "path": "/admin/clinic/patient/",
         "cookie": f"sessionid={fx['session']}"},
        # The day's dashboard: today's schedule and front desk, the week, 30 days of no-shows.
        {"name": "admin dashboard", "kind": "admin", "path": "/admin/", "cookie": f"sessionid={fx['session']}"},
        {"name": "admin appointment change page", "kind": "admin", "path": f"/admin/clinic/appointment/{a}/change/",
         "cookie": f"sessionid={fx['session']}"},
        # Webhook deliveries (the clinic admin's): the list, and the failed ones of an endpoint.
        {"name": "admin webhook deliveries changelist", "kind": "admin", "path": "/admin/clinic/webhookdelivery/",
         "cookie": f"sessionid={fx['session']}"},
        {"name": "admin webhook deliveries, failed", "kind": "admin",
         "path": "/admin/clinic/webhookdelivery/?status__exact=failed", "cookie": f"sessionid={fx['session']}"},
        # The front desk's calendar: a day of every doctor (50 columns), and a week of one doctor.
        {"name": "admin calendar events, a day of 50 doctors", "kind": "admin",
         "path": f"/admin/calendar/events/?start={fx['calendar_day']}&end={fx['calendar_day_end']}"
                 f"&doctors={fx['calendar_doctors']}",
         "cookie": f"sessionid={fx['reception_session']}"},
        {"name": "admin calendar events, a week of one doctor", "kind": "admin",
         "path": f"/admin/calendar/events/?start={fx['calendar_week']}&end={fx['calendar_week_end']}&doctors={d}",
         "cookie": f"sessionid={fx['reception_session']}"},
    ]  # fmt: skip


def probe(path: str, token: str | None = None, cookie: str | None = None, hx: bool = False) -> tuple[int, int | None]:
    """Status and queries of one request, once every worker has connected (a worker's first
    request also loads PostgreSQL's type ids, which later requests do not repeat)."""
    answers = [_probe_once(path, token, cookie, hx) for _ in range(2 * (os.cpu_count() or 1) + 2)]
    return answers[-1][0], min(queries for _, queries in answers)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect (to the sign-in page, say) is the answer measured, never followed."""

    def redirect_request(self, *args, **kwargs):
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def _probe_once(path: str, token: str | None, cookie: str | None, hx: bool, base: str = BASE) -> tuple[int, int]:
    request = urllib.request.Request(base + path)
    if hx:
        request.add_header("HX-Request", "true")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    if cookie:
        request.add_header("Cookie", cookie)
    try:
        with _opener.open(request, timeout=30) as response:
            return response.status, int(response.headers.get("X-Queries", "-1"))
    except urllib.error.HTTPError as error:
        return error.code, int(error.headers.get("X-Queries", "-1"))


def wrk(
    path: str, *, duration: int, connections: int, token=None, cookie=None, bodies=None, delay_ms=0, hx=False,
    base: str = BASE,
) -> dict:  # fmt: skip
    env = {
        **os.environ,
        "BENCH_TOKEN": token or "",
        "BENCH_COOKIE": cookie or "",
        "BENCH_DELAY_MS": str(delay_ms),
        "BENCH_HX": "1" if hx else "0",
    }
    if bodies:
        env["BENCH_BODIES"] = str(bodies)
    threads = 1 if bodies else min(2, connections)
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "10s",
         "-s", str(BENCH / "wrk.lua"), base + path],
        env=env, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    line = next(line for line in out.splitlines() if line.startswith("BENCHJSON "))
    data = json.loads(line.removeprefix("BENCHJSON "))
    seconds = data["duration_us"] / 1e6
    errors = data["connect"] + data["read"] + data["write"] + data["status"] + data["timeout"]
    return {
        "requests": data["requests"],
        "rps": round(data["requests"] / seconds, 1),
        "p50_ms": round(data["p50_us"] / 1000, 2),
        "p95_ms": round(data["p95_us"] / 1000, 2),
        "p99_ms": round(data["p99_us"] / 1000, 2),
        "mean_ms": round(data["mean_us"] / 1000, 2),
        "errors": errors,
    }


def wrk_endpoint(ep: dict, **run) -> dict:
    """`wrk` on an endpoint of `endpoints()`, with its credentials and headers."""
    return wrk(ep["path"], token=ep.get("token"), cookie=ep.get("cookie"), hx=ep.get("hx", False), **run)


def run_profile(name: str, args) -> dict:
    env = prepare_database(name, PROFILES[name])
    fx = fixtures(env)
    PREPARED[name] = (env, fx)
    costs = row_costs(env)
    exported = export_memory(env)
    server = Server(env)
    results: dict = {
        "profile": name,
        "sizes": PROFILES[name],
        "workers": server.workers,
        "row_costs_us": costs,
        "export_memory": exported,
        "endpoints": [],
    }
    try:
        for ep in endpoints(fx):
            if not selected(ep, args):
                continue
            status, queries = probe(ep["path"], ep.get("token"), ep.get("cookie"), ep.get("hx", False))
            row = {"name": ep["name"], "kind": ep["kind"], "path": ep["path"], "status": status, "queries": queries}
            if status != 200:
                log(f"{ep['name']}: HTTP {status}, skipped")
                row["skipped"] = True
                results["endpoints"].append(row)
                continue
            if ep["kind"] == "list":
                sized = {}
                for size in (1, 50, 200):
                    sized[size] = probe(ep["path"].replace(f"page_size={PAGE}", f"page_size={size}"), ep.get("token"))[
                        1
                    ]
                row["queries_by_page_size"] = sized
            # Staff pages: a handful of people at once, not a crowd.
            connections = args.admin_connections if ep["kind"] == "admin" else args.connections
            row["connections"] = connections
            row["saturation"] = wrk_endpoint(ep, duration=args.duration, connections=connections)
            if ep["kind"] != "admin":
                # Hold about 70% of the saturation rate: each connection waits between requests.
                target = 0.7 * row["saturation"]["rps"]
                delay = max(1, int(1000 * args.connections / target - row["saturation"]["mean_ms"]))
                row["at_70pct"] = wrk_endpoint(ep, duration=args.duration, connections=args.connections, delay_ms=delay)
            # One client at a time, on warm workers: the cost of the request itself, without
            # queueing behind others.
            row["unloaded"] = wrk_endpoint(ep, duration=max(3, args.duration // 2), connections=1)
            for ref in ("limit", "naive"):
                if ep.get(ref):
                    ref_row = wrk(ep[ref], duration=args.duration, connections=args.connections, token=ep["token"])
                    ref_row["queries"] = probe(ep[ref], ep["token"])[1]
                    row[ref] = ref_row
                    row[f"ratio_to_{ref}"] = round(row["saturation"]["rps"] / ref_row["rps"], 2)
            log(f"{ep['name']}: {row['saturation']['rps']} req/s, p95 {row['saturation']['p95_ms']} ms, "
                f"alone p95 {row['unloaded']['p95_ms']} ms, {queries} queries")  # fmt: skip
            results["endpoints"].append(row)
        by_name = {row["name"]: row for row in results["endpoints"]}
        for ep in endpoints(fx):
            ref = by_name.get(ep.get("ratio_to", ""))
            row = by_name.get(ep["name"])
            if ref and row and "saturation" in row and "saturation" in ref:
                # Throughput of this endpoint over the one it stands beside (e.g. FHIR over the JSON API).
                row["ratio_to"] = ep["ratio_to"]
                row["ratio"] = round(row["saturation"]["rps"] / max(ref["saturation"]["rps"], 0.01), 2)
        if not args.only:
            results["booking"] = bench_booking(fx, env, args)
            results["typed booking"] = bench_booking(fx, env, args, "typed_bookings")
    finally:
        server.stop()
    return results


def selected(ep: dict, args) -> bool:
    return not args.only or any(part in ep["name"] for part in args.only.split(","))


def growth(args) -> list[dict]:
    """Each endpoint alone at 10k and at 1M, both served at once and measured in turns
    (`--growth-rounds` runs of 3 s each), so that whatever else slows the machine for a
    while falls on both sizes alike. The figure is the median of the runs' p95s."""
    (small_env, small_fx), (large_env, large_fx) = PREPARED["10k"], PREPARED["1m"]
    servers = {"10k": Server(small_env, PORT), "1m": Server(large_env, PORT + 1)}
    rows = []
    try:
        for small, large in zip(endpoints(small_fx), endpoints(large_fx), strict=True):
            if not selected(small, args):
                continue
            for size, ep in (("10k", small), ("1m", large)):
                status, _ = _probe_once(ep["path"], ep.get("token"), ep.get("cookie"), ep.get("hx", False),
                                        base=servers[size].base)  # fmt: skip
                if status != 200:
                    raise SystemExit(f"growth: {ep['name']} at {size} answers HTTP {status}, not 200")
            p95: dict[str, list[float]] = {"10k": [], "1m": []}
            for _ in range(args.growth_rounds):
                for size, ep in (("10k", small), ("1m", large)):
                    run = wrk_endpoint(ep, duration=3, connections=1, base=servers[size].base)
                    p95[size].append(run["p95_ms"])
            median = {size: statistics.median(values) for size, values in p95.items()}
            ratio = round(median["1m"] / max(median["10k"], 0.01), 2)
            rows.append({"name": small["name"], "p95_ms": median, "ratio": ratio, "runs_p95_ms": p95})
            log(f"growth {small['name']}: p95 {median['10k']} → {median['1m']} ms alone, × {ratio}")
    finally:
        for server in servers.values():
            server.stop()
    return rows


# The list endpoints measured with metrics and JSON logs on and off (README, "Operating").
OBSERVED_LISTS = ("appointments list", "patients list", "doctors list")


def start_servers(envs: dict[str, tuple[dict, int]]) -> dict[str, Server]:
    """Several servers started at the same moment: one started and warmed before another, then
    left idle, served the same requests 2–3% dearer for the whole run here."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(len(envs)) as pool:
        started = {name: pool.submit(Server, env, port) for name, (env, port) in envs.items()}
        return {name: future.result() for name, future in started.items()}


def observability(args) -> dict:
    """The list endpoints with metrics and JSON access logs on (as production, prometheus-client in
    multiprocess mode) and off (`CLINIC_OBSERVABILITY=off`: no metrics middleware, no access line),
    and a second server with them off, the control: three servers on the same database, started
    together and driven at the same time, so that all meet the same machine. Each of
    `--observability-rounds` windows of 5 s gives each server's CPU seconds (its workers', from
    /proc) per request served; the figures are the medians. The goal: CPU per request off ÷ on
    ≥ 0.95. The control's off ÷ off is what two identical servers differ by."""
    import tempfile
    from concurrent.futures import ThreadPoolExecutor

    name = "10k" if "10k" in PREPARED else next(iter(PREPARED))
    env, fx = PREPARED[name]
    multiproc = tempfile.mkdtemp(prefix="clinic-bench-metrics-")
    servers = start_servers({
        "on": ({**env, "CLINIC_OBSERVABILITY": "on", "PROMETHEUS_MULTIPROC_DIR": multiproc}, PORT + 2),
        "off": ({**env, "CLINIC_OBSERVABILITY": "off"}, PORT + 3),
        "control": ({**env, "CLINIC_OBSERVABILITY": "off"}, PORT + 4),
    })  # fmt: skip
    rows = []
    try:
        for ep in endpoints(fx):
            if ep["name"] not in OBSERVED_LISTS or not selected(ep, args):
                continue
            for mode, server in servers.items():
                status, _ = _probe_once(ep["path"], ep.get("token"), None, False, base=server.base)
                if status != 200:
                    raise SystemExit(f"observability: {ep['name']} with it {mode} answers HTTP {status}, not 200")
            windows = []
            order = list(servers.items())
            for window in range(args.observability_rounds + 1):
                cpu_before = {mode: server.cpu_seconds() for mode, server in order}
                with ThreadPoolExecutor(len(order)) as pool:
                    runs = {mode: pool.submit(wrk_endpoint, ep, duration=5, connections=args.connections,
                                              base=server.base) for mode, server in order}  # fmt: skip
                    runs = {mode: run.result() for mode, run in runs.items()}
                order = order[1:] + order[:1]  # which wrk starts first goes round
                if window == 0:
                    continue  # every worker's first requests of this endpoint stay out of the figures
                windows.append({
                    mode: {"rps": run["rps"], "p95_ms": run["p95_ms"], "requests": run["requests"],
                           "cpu_us": round((servers[mode].cpu_seconds() - cpu_before[mode]) / run["requests"] * 1e6)}
                    for mode, run in runs.items()
                })  # fmt: skip
            cpu = {mode: round(statistics.median(w[mode]["cpu_us"] for w in windows)) for mode in servers}
            rps = {mode: round(statistics.median(w[mode]["rps"] for w in windows), 1) for mode in servers}
            p95 = {mode: round(statistics.median(w[mode]["p95_ms"] for w in windows), 1) for mode in servers}
            ratio = round(statistics.median(w["off"]["cpu_us"] / w["on"]["cpu_us"] for w in windows), 3)
            control = round(statistics.median(w["off"]["cpu_us"] / w["control"]["cpu_us"] for w in windows), 3)
            rows.append({
                "name": ep["name"], "cpu_us": cpu, "ratio": ratio, "control_ratio": control,
                "rps": rps, "rps_ratio": round(rps["on"] / max(rps["off"], 0.1), 3), "p95_ms": p95,
                "windows": windows,
            })  # fmt: skip
            log(
                f"observability {ep['name']}: {cpu['on']} µs CPU per request on, {cpu['off']} off, "
                f"× {ratio} (control × {control})"
            )
        # The "on" server really kept metrics: its /metrics counted the runs above.
        metrics_page = urllib.request.urlopen(f"{servers['on'].base}/metrics", timeout=10).read().decode()
        if "clinic_http_requests_total" not in metrics_page:
            raise SystemExit("observability: the server with metrics on lists no clinic_http_requests_total")
    finally:
        for server in servers.values():
            server.stop()
        shutil.rmtree(multiproc, ignore_errors=True)
    return {"profile": name, "rounds": args.observability_rounds, "endpoints": rows}


def bench_booking(fx: dict, env: dict, args, kind: str = "bookings") -> dict:
    bodies = BENCH / "data" / f"{kind}.jsonl"
    bodies.parent.mkdir(exist_ok=True)
    bodies.write_text("\n".join(json.dumps(b) for b in fx[kind]) + "\n")
    db = env["DATABASE_URL"].rsplit("/", 1)[1]
    started = psql("SELECT now()", db)
    before = int(psql("SELECT count(*) FROM clinic_appointment", db))
    queued_before = int(psql("SELECT count(*) FROM django_q_ormq", db))
    ormq_before = int(psql("SELECT coalesce(max(id), 0) FROM django_q_ormq", db))
    result = wrk("/book-appointment/", duration=args.duration, connections=args.connections,
                 token=fx["tokens"]["reception"], bodies=bodies)  # fmt: skip
    created = int(psql("SELECT count(*) FROM clinic_appointment", db)) - before
    # Each booking made during the run against every other live appointment of its doctor (their
    # blocked ranges, buffers included), then of its patient (the appointments themselves), both
    # through the owner's index.
    doubles = sum(
        int(psql(
            "SELECT count(*) FROM clinic_appointment a JOIN clinic_appointment b "
            f"ON b.{owner} = a.{owner} AND b.id <> a.id AND b.status <> 'cancelled' "
            f"AND b.{first} < a.{last} AND b.{first} > a.{first} - interval '1 day' "
            f"AND a.{first} < b.{last} "
            f"WHERE a.status <> 'cancelled' AND a.created_at >= '{started}'", db))
        for owner, first, last in (("doctor_id", "blocked_from", "blocked_until"),
                                   ("patient_id", "appointment_time", "ends_at"))
    )  # fmt: skip
    queued = int(psql("SELECT count(*) FROM django_q_ormq", db)) - queued_before
    result.update({"created": created, "double_bookings": doubles, "emails_queued": queued})
    # Back to the seeded data, so that the next run finds the same free days.
    made = f"SELECT id FROM clinic_appointment WHERE created_at >= '{started}'"
    psql(f"DELETE FROM clinic_emailoutbox WHERE appointment_id IN ({made}); "
         f"DELETE FROM clinic_historicalappointment WHERE history_date >= '{started}'; "
         f"DELETE FROM django_q_ormq WHERE id > {ormq_before}; "
         f"DELETE FROM clinic_appointment WHERE created_at >= '{started}'", db)  # fmt: skip
    log(f"booking: {result['rps']} bookings/s, {created} created, {doubles} double bookings, {queued} emails queued")
    return result


def machine() -> dict:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")), platform.processor(),
    )  # fmt: skip
    mem_kb = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if "MemTotal" in line))
    pg = psql("SHOW server_version")
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem_kb / 2**20, 1), "python": platform.python_version(),
            "postgresql": pg, "date": datetime.now().strftime("%Y-%m-%d %H:%M")}  # fmt: skip


def write_reports(results: dict) -> None:
    (BENCH / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    m = results["machine"]
    lines = [
        "# Benchmark results",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; Python {m['python']}, "
        f"PostgreSQL {m['postgresql']}; {m['date']}. gunicorn sync workers: {results['profiles'][0]['workers']}; "
        f"wrk on loopback, {results['args']['connections']} connections ({results['args']['admin_connections']} for "
        f"admin pages), {results['args']['duration']} s per run.",
        "",
    ]
    for prof in results["profiles"]:
        lines += [f"## {prof['profile']} appointments ({prof['sizes']})", ""]
        lines += [
            "| endpoint | req/s | p50 ms | p95 ms | p99 ms | errors | queries | × limit | × naive "
            "| p95 @70% | p99 @70% | requests @70% | p50 alone | p95 alone |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for row in prof["endpoints"]:
            if row.get("skipped"):
                lines.append(f"| {row['name']} | HTTP {row['status']} | | | | | | | | | | | | |")
                continue
            s, low, alone = row["saturation"], row.get("at_70pct", {}), row.get("unloaded", {})
            lines.append(
                f"| {row['name']} | {s['rps']} | {s['p50_ms']} | {s['p95_ms']} | {s['p99_ms']} | {s['errors']} "
                f"| {row['queries']} | {row.get('ratio_to_limit', '')} | {row.get('ratio_to_naive', '')} "
                f"| {low.get('p95_ms', '')} | {low.get('p99_ms', '')} | {low.get('requests', '')} "
                f"| {alone.get('p50_ms', '')} | {alone.get('p95_ms', '')} |"
            )
        refs = [
            f"- {row['name']}: limit {row['limit']['rps']} req/s ({row['limit']['queries']} queries), "
            f"naive peer {row['naive']['rps']} req/s ({row['naive']['queries']} queries)"
            for row in prof["endpoints"]
            if row.get("limit")
        ]
        ratios = [
            f"- {row['name']}: {row['ratio']} × the req/s of {row['ratio_to']} "
            f"({row['saturation']['rps']} req/s, {row['queries']} queries)"
            for row in prof["endpoints"]
            if row.get("ratio_to")
        ]
        if ratios:
            lines += ["", "Throughput beside the JSON API (saturation req/s, same rows and auth):", *ratios]
        sized = [
            f"- {row['name']}: {row['queries_by_page_size']}"
            for row in prof["endpoints"]
            if row.get("queries_by_page_size")
        ]
        costs = [
            f"- {name}: {c['values_reader_us']} µs per row (a plain ModelSerializer: {c['model_serializer_us']} µs)"
            for name, c in prof.get("row_costs_us", {}).items()
        ]
        if costs:
            lines += ["", "Serialization, CPU per row of a 200-row page (rows already fetched):", *costs]
        e = prof.get("export_memory")
        if e:
            lines += ["", f"CSV export of every appointment (reception, streamed, read in one process): {e['rows']} rows, "
                      f"{e['mb']} MB in {e['seconds']} s; resident memory {e['rss_before_mb']} MB before, "
                      f"{e['rss_peak_mb']} MB at the peak, {e['rss_after_mb']} MB after."]  # fmt: skip
        b = prof["booking"]
        lines += ["", "References on the same rows, same auth, page size 50:", *refs, "",
                  "Queries per request at page sizes 1 / 50 / 200:", *sized, "",
                  f"Booking (POST /book-appointment/, email queued): {b['rps']} bookings/s, p95 {b['p95_ms']} ms, "
                  f"{b['created']} created, {b['errors']} non-2xx, {b['double_bookings']} double bookings, "
                  f"{b['emails_queued']} emails queued."]  # fmt: skip
        t = prof.get("typed booking")
        if t:
            lines += [f"Booking a visit type with a buffer: {t['rps']} bookings/s, p95 {t['p95_ms']} ms, "
                      f"{t['created']} created, {t['errors']} non-2xx, {t['double_bookings']} double bookings."]  # fmt: skip
        lines += [""]
    if len(results["profiles"]) == 2:
        small, large = results["profiles"]
        side_by_side = {row["name"]: row for row in results.get("growth", [])}
        lines += [
            "## Growth: p95 at 1M ÷ p95 at 10k",
            "",
            "Alone: one client at a time, the request's own cost. Side by side: both sizes served at once and "
            f"measured in turns, {results['args'].get('growth_rounds', 0)} runs of 3 s each, the median of their "
            "p95s (the growth figure). In each profile's run: the alone run of the tables above, minutes apart. "
            "Saturated: 8 clients (2 on admin pages), where the p95 is mostly the wait for a free worker.",
            "",
            "| endpoint | side by side: p95 ms 10k → 1M | side by side × | alone in each profile's run × "
            "| saturated × | at 70% × |",
            "|---|---|---|---|---|---|",
        ]
        for a, b in zip(small["endpoints"], large["endpoints"], strict=True):
            ratios = [
                round(b[run]["p95_ms"] / max(a[run]["p95_ms"], 0.01), 2) if run in a and run in b else ""
                for run in ("unloaded", "saturation", "at_70pct")
            ]
            both = side_by_side.get(a["name"])
            pair = f"{both['p95_ms']['10k']} → {both['p95_ms']['1m']}" if both else ""
            if any(ratios) or both:
                lines.append(
                    f"| {a['name']} | {pair} | {both['ratio'] if both else ''} | {' | '.join(map(str, ratios))} |"
                )
        lines.append("")
    obs = results.get("observability")
    if obs:
        lines += [
            f"## Metrics and JSON logs: on ÷ off ({obs['profile']})",
            "",
            "Three servers on the same database, started together and driven at the same time: metrics "
            "(multiprocess mode) and JSON access logs on, `CLINIC_OBSERVABILITY=off`, and a second server with "
            f"them off (the control). {obs['rounds']} windows of 5 s; in each, every server's CPU seconds (its "
            "gunicorn workers', from /proc) per request served; medians. Goal: CPU per request off ÷ on ≥ 0.95. "
            "The control column is off ÷ off: what two identical servers differ by.",
            "",
            "| endpoint | CPU µs per request on | off | control | off ÷ on | off ÷ control "
            "| req/s on | off | p95 ms on | off |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for row in obs["endpoints"]:
            cpu, rps, p95 = row["cpu_us"], row["rps"], row["p95_ms"]
            lines.append(
                f"| {row['name']} | {cpu['on']} | {cpu['off']} | {cpu['control']} | {row['ratio']} "
                f"| {row['control_ratio']} | {rps['on']} | {rps['off']} | {p95['on']} | {p95['off']} |"
            )
        lines.append("")
    (BENCH / "results.md").write_text("\n".join(lines))
    chart(results)


def chart(results: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    profiles = results["profiles"]
    fig, axes = plt.subplots(1, len(profiles), figsize=(8 * len(profiles), 7), squeeze=False)
    for ax, prof in zip(axes[0], profiles, strict=True):
        rows = [r for r in prof["endpoints"] if "saturation" in r]
        names = [r["name"] for r in rows]
        ax.barh(names, [r["saturation"]["rps"] for r in rows], color="#2f6f8f", label="API / admin")
        ax.barh(names, [r["limit"]["rps"] if r.get("limit") else 0 for r in rows], color="#9fc5d6", alpha=0.6,
                label="limit: values() JSON")  # fmt: skip
        ax.scatter([r["naive"]["rps"] if r.get("naive") else None for r in rows], names, color="#c0392b",
                   marker="x", label="naive ModelSerializer", zorder=3)  # fmt: skip
        ax.invert_yaxis()
        ax.set_xlabel("requests / s")
        ax.set_title(f"{prof['profile']} appointments")
        ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(BENCH / "results.png", dpi=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profiles", default="10k,1m")
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--admin-connections", type=int, default=2)
    parser.add_argument("--growth-rounds", type=int, default=3, help="side-by-side runs per endpoint and size")
    parser.add_argument(
        "--observability-rounds",
        type=int,
        default=8,
        help="5 s windows per list endpoint with metrics and logs on and off",
    )
    parser.add_argument(
        "--only", default="", help="comma-separated parts of endpoint names: run those, print, write no report"
    )
    parser.add_argument(
        "--in-process-only",
        action="store_true",
        help="measure the in-process figures again (serialization costs, export memory) into the last results.json",
    )
    parser.add_argument(
        "--observability-only",
        action="store_true",
        help="measure metrics and logs on and off again (10k) into the last results.json",
    )
    args = parser.parse_args()
    if args.observability_only:
        results = json.loads((BENCH / "results.json").read_text())
        env = prepare_database("10k", PROFILES["10k"])
        PREPARED["10k"] = (env, fixtures(env))
        results["observability"] = observability(args)
        write_reports(results)
        return
    if args.in_process_only:
        results = json.loads((BENCH / "results.json").read_text())
        for prof in results["profiles"]:
            env = {**os.environ, "DATABASE_URL": f"{PG}/clinic_bench_{prof['profile']}",
                   "DJANGO_SETTINGS_MODULE": "config.settings.bench"}  # fmt: skip
            prof["row_costs_us"] = row_costs(env)
            prof["export_memory"] = export_memory(env)
        write_reports(results)
        return
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install wrk")
    results = {"machine": machine(), "args": vars(args), "profiles": []}
    for name in args.profiles.split(","):
        log(f"profile {name}")
        results["profiles"].append(run_profile(name, args))
    if {"10k", "1m"} <= PREPARED.keys() and args.growth_rounds:
        log("growth: both sizes side by side")
        results["growth"] = growth(args)
    if PREPARED and args.observability_rounds:
        log("observability: metrics and JSON logs on and off, side by side")
        results["observability"] = observability(args)
    if args.only:
        return
    write_reports(results)
    log("wrote bench/results.md, bench/results.json, bench/results.png")


if __name__ == "__main__":
    main()
