"""Search parameters of the FHIR facade: parsing and the query each one makes.

Unknown parameters, malformed values and a `_count` outside 1..1000 are a 400 (strict handling).
Paging is page-based: `_page` (1-based) with `_count` rows a page, in a fixed order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework.exceptions import ValidationError

from clinic.api.filters import _local_midnight

DEFAULT_COUNT = 50
MAX_COUNT = 1000
MAX_PAGE = 10_000
COMMON = frozenset({"_count", "_page", "_format"})
PREFIXES = ("ge", "gt", "le", "lt", "eq")
ID_MAX = 2**63 - 1


def bad(text: str) -> ValidationError:
    return ValidationError({"detail": text})


@dataclass
class Query:
    """The parsed query string: `params` maps each name to its values (a name may repeat)."""

    params: dict[str, list[str]]
    count: int = DEFAULT_COUNT
    page: int = 1
    includes: list[str] = field(default_factory=list)


def parse(query_params, allowed: set[str] | frozenset[str], *, includes: frozenset[str] = frozenset()) -> Query:
    params: dict[str, list[str]] = {}
    for key in query_params:
        values = query_params.getlist(key)
        if key == "_include" and includes:
            for value in values:
                if value not in includes:
                    raise bad(f"_include={value} is not supported; use one of {', '.join(sorted(includes))}.")
            continue
        if key not in allowed and key not in COMMON:
            raise bad(f"Unknown search parameter: {key}.")
        params[key] = values
    query = Query(params=params, includes=query_params.getlist("_include") if includes else [])
    query.count = _whole(params, "_count", DEFAULT_COUNT, 1, MAX_COUNT)
    query.page = _whole(params, "_page", 1, 1, MAX_PAGE)
    return query


def _whole(params: dict, name: str, default: int, low: int, high: int) -> int:
    values = params.pop(name, None)
    if not values:
        return default
    if len(values) > 1:
        raise bad(f"{name} may be given once.")
    try:
        number = int(values[0])
    except ValueError:
        raise bad(f"{name} must be a whole number.") from None
    if not low <= number <= high:
        raise bad(f"{name} must be between {low} and {high}.")
    return number


def ids(value: str, kind: str | None = None) -> list[int]:
    """Comma-separated ids, or references `Kind/id` when `kind` names the resource type."""
    found = []
    for part in value.split(","):
        part = part.strip()
        if kind and "/" in part:
            prefix, _, part = part.rpartition("/")
            if prefix.rsplit("/", 1)[-1] != kind:
                raise bad(f"Expected a reference to {kind}, got {prefix}/{part}.")
        if not re.fullmatch(r"[0-9]{1,19}", part) or not 0 < int(part) <= ID_MAX:
            raise bad(f"Not an id: {part!r}.")
        found.append(int(part))
    return found


def one(params: dict, name: str) -> str:
    values = params[name]
    if len(values) > 1:
        raise bad(f"{name} may be given once.")
    if not values[0]:
        raise bad(f"{name} is empty.")
    return values[0]


def string_q(value: str, *fields: str) -> Q:
    """FHIR string search: case-insensitive, from the start, any of `fields`, values OR-ed by commas."""
    q = Q()
    for part in value.split(","):
        for name in fields:
            q |= Q(**{f"{name}__istartswith": part})
    return q


_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def date_range(value: str) -> tuple[str, datetime, datetime]:
    """(prefix, first instant, instant after) of a FHIR date/dateTime with an optional prefix.

    A day (YYYY-MM-DD) is its clinic-local day; a dateTime without an offset is clinic-local."""
    prefix = value[:2] if value[:2] in PREFIXES else "eq"
    text = value[2:] if value[:2] in PREFIXES else value
    if _DAY.fullmatch(text):
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise bad(f"Not a date: {value!r}.") from None
        return prefix, _local_midnight(day), _local_midnight(day, days_later=1)
    try:
        moment = parse_datetime(text)
    except ValueError:
        moment = None
    if moment is None:
        raise bad(f"Not a date or dateTime (YYYY-MM-DD or YYYY-MM-DDThh:mm:ss+zz:zz): {value!r}.")
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, timezone.get_default_timezone())
    moment = moment.astimezone(UTC)
    return prefix, moment, moment + timedelta(seconds=1)


def date_q(values: list[str], field_name: str) -> Q:
    """Each value narrows the range (AND): ge/gt/le/lt/eq as FHIR defines them on a period."""
    q = Q()
    for value in values:
        for part in value.split(","):
            if "," in value:
                raise bad("Date parameters take one value each; repeat the parameter instead.")
            prefix, start, after = date_range(part)
            if prefix == "ge":
                q &= Q(**{f"{field_name}__gte": start})
            elif prefix == "gt":
                q &= Q(**{f"{field_name}__gte": after})
            elif prefix == "le":
                q &= Q(**{f"{field_name}__lt": after})
            elif prefix == "lt":
                q &= Q(**{f"{field_name}__lt": start})
            else:
                q &= Q(**{f"{field_name}__gte": start, f"{field_name}__lt": after})
    return q
