"""The appointments CSV export, shared by the API (`GET /appointments/export/`) and the admin action.

The caller passes a queryset it got from `clinic.access` (and filtered); this module reads only the
columns below, in one query over a server-side cursor (`.iterator()`), and streams the CSV row by
row, so memory stays flat however many appointments there are. No medical-record text is read.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from datetime import datetime

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone

#: Rows fetched from the database cursor at a time, and CSV lines sent to the client at a time.
CHUNK_SIZE = 2000
LINES_PER_WRITE = 500

#: Characters a spreadsheet may read as the start of a formula (OWASP "CSV Injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

HEADER = (
    "id",
    "start",
    "end",
    "status",
    "doctor_id",
    "doctor",
    "patient_id",
    "patient",
    "appointment_type",
    "reason",
    "created_at",
    "arrived_at",
    "started_at",
    "completed_at",
    "series_id",
)

# The columns read, in order; names are joined from first and last name (or the username).
_FIELDS = (
    "id",
    "appointment_time",
    "ends_at",
    "status",
    "doctor_id",
    "doctor__user__first_name",
    "doctor__user__last_name",
    "doctor__user__username",
    "patient_id",
    "patient__user__first_name",
    "patient__user__last_name",
    "patient__user__username",
    "appointment_type__name",
    "reason",
    "created_at",
    "arrived_at",
    "started_at",
    "completed_at",
    "series_id",
)


def neutralise(value: str) -> str:
    """A cell a spreadsheet shows as text: one starting like a formula gets a leading quote."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def _when(value: datetime | None, zone) -> str:
    return "" if value is None else value.astimezone(zone).isoformat()


def _name(first: str, last: str, username: str) -> str:
    return " ".join(part for part in (first, last) if part) or username


def _cells(row: tuple, zone) -> tuple[str, ...]:
    # Ids and ISO times start with a digit; only the text cells can start like a formula.
    (pk, start, end, status, doctor_id, d_first, d_last, d_user, patient_id, p_first, p_last, p_user) = row[:12]
    type_name, reason, created, arrived, started, completed, series_id = row[12:]
    return (
        pk,
        _when(start, zone),
        _when(end, zone),
        neutralise(status),
        doctor_id,
        neutralise(_name(d_first, d_last, d_user)),
        patient_id,
        neutralise(_name(p_first, p_last, p_user)),
        neutralise(type_name or ""),
        neutralise(reason),
        _when(created, zone),
        _when(arrived, zone),
        _when(started, zone),
        _when(completed, zone),
        "" if series_id is None else series_id,
    )


class _Lines:
    """The file csv.writer writes to: it keeps the lines until `take()` hands them over."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, value: str) -> None:
        self.lines.append(value)

    def take(self) -> str:
        text, self.lines = "".join(self.lines), []
        return text


def appointments_csv_lines(queryset: QuerySet) -> Iterator[str]:
    """The header, then a CSV line per appointment of `queryset` (its filters and order kept),
    handed out `LINES_PER_WRITE` lines at a time: fewer, larger writes to the client."""
    zone = timezone.get_default_timezone()
    buffer = _Lines()
    writer = csv.writer(buffer)
    writer.writerow(HEADER)
    rows: Iterable[tuple] = queryset.values_list(*_FIELDS).iterator(chunk_size=CHUNK_SIZE)
    for count, row in enumerate(rows, start=1):
        writer.writerow(_cells(row, zone))
        if count % LINES_PER_WRITE == 0:
            yield buffer.take()
    yield buffer.take()


def export_filename() -> str:
    return f"appointments-{timezone.localdate().isoformat()}.csv"


def appointments_csv_response(queryset: QuerySet) -> StreamingHttpResponse:
    """A streamed `text/csv` download of `queryset`, named with today's clinic-local date."""
    response = StreamingHttpResponse(appointments_csv_lines(queryset), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{export_filename()}"'
    return response
