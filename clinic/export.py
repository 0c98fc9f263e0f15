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

#: Rows fetched from the database cursor at a time.
CHUNK_SIZE = 2000

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
    return "" if value is None else timezone.localtime(value, zone).isoformat()


def _name(first: str, last: str, username: str) -> str:
    return " ".join(part for part in (first, last) if part) or username


def _cells(row: tuple, zone) -> list[str]:
    (pk, start, end, status, doctor_id, d_first, d_last, d_user, patient_id, p_first, p_last, p_user) = row[:12]
    type_name, reason, created, arrived, started, completed, series_id = row[12:]
    cells = [
        str(pk),
        _when(start, zone),
        _when(end, zone),
        status,
        str(doctor_id),
        _name(d_first, d_last, d_user),
        str(patient_id),
        _name(p_first, p_last, p_user),
        type_name or "",
        reason,
        _when(created, zone),
        _when(arrived, zone),
        _when(started, zone),
        _when(completed, zone),
        "" if series_id is None else str(series_id),
    ]
    return [neutralise(cell) for cell in cells]


class _Line:
    """A file-like `write` that hands back what it is given: csv.writer formats one line at a time."""

    def write(self, value: str) -> str:
        return value


def appointments_csv_lines(queryset: QuerySet) -> Iterator[str]:
    """The header, then one CSV line per appointment of `queryset` (its filters and order kept)."""
    zone = timezone.get_default_timezone()
    writer = csv.writer(_Line())
    yield writer.writerow(HEADER)
    rows: Iterable[tuple] = queryset.values_list(*_FIELDS).iterator(chunk_size=CHUNK_SIZE)
    for row in rows:
        yield writer.writerow(_cells(row, zone))


def export_filename() -> str:
    return f"appointments-{timezone.localdate().isoformat()}.csv"


def appointments_csv_response(queryset: QuerySet) -> StreamingHttpResponse:
    """A streamed `text/csv` download of `queryset`, named with today's clinic-local date."""
    response = StreamingHttpResponse(appointments_csv_lines(queryset), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{export_filename()}"'
    return response
