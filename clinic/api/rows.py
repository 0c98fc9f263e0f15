"""The list endpoints' read path: rows straight from `.values()`, shaped by the read serializer.

A ModelSerializer list builds model instances (five per appointment with its joins)
and walks DRF's field machinery per cell; at page sizes of 50–200 that dominates a
request. Here the read serializer stays the single description of a resource's
shape: `ValuesReader` derives the columns from its fields' sources once, then
turns each `.values()` row into the same JSON the serializer would give, with a
fast path for the field types our read serializers use. Tests compare the two
outputs field for field.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from functools import cached_property
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from rest_framework import ISO_8601, fields, serializers
from rest_framework.response import Response
from rest_framework.settings import api_settings


def _iso_datetime(value: datetime | None, zone) -> str | None:
    """DRF's DateTimeField.to_representation with ISO 8601 output, without the per-call lookups."""
    if not value:
        return None
    text = value.astimezone(zone).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


class ValuesReader:
    """Columns and converters for one read serializer class."""

    def __init__(self, serializer_class: type[serializers.Serializer]) -> None:
        self.serializer_class = serializer_class

    @cached_property
    def _plan(self) -> list[tuple[str, str, Callable[[Any], Any] | None, bool]]:
        """(output name, values() column, converter or None for identity, is a datetime)."""
        plan = []
        for name, field in self.serializer_class().fields.items():
            if field.write_only:
                continue
            column = "__".join(field.source.split("."))
            if isinstance(field, fields.DateTimeField):
                output = getattr(field, "format", api_settings.DATETIME_FORMAT)
                if output is None or output.lower() != ISO_8601 or hasattr(field, "timezone"):
                    plan.append((name, column, field.to_representation, False))
                else:
                    plan.append((name, column, None, True))
            elif isinstance(field, (fields.IntegerField, fields.CharField, fields.ChoiceField)) and not isinstance(
                field, fields.MultipleChoiceField
            ):
                # Our columns already hold ints and strings: no conversion needed.
                plan.append((name, column, None, False))
            else:
                plan.append((name, column, field.to_representation, False))
        return plan

    @cached_property
    def columns(self) -> list[str]:
        return [column for _, column, _, _ in self._plan]

    def values(self, queryset: QuerySet) -> QuerySet:
        return queryset.values(*self.columns)

    def render(self, rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        zone = timezone.get_current_timezone()
        plan = self._plan
        out = []
        for row in rows:
            item = {}
            for name, column, convert, is_datetime in plan:
                value = row[column]
                if value is None:
                    item[name] = None
                elif is_datetime:
                    item[name] = _iso_datetime(value, zone)
                elif convert is None:
                    item[name] = value
                else:
                    item[name] = convert(value)
            out.append(item)
        return out


class ValuesListMixin:
    """A viewset's `list()` rendered from `.values()` in the shape of its `serializer_class`."""

    @classmethod
    def values_reader(cls) -> ValuesReader:
        reader = cls.__dict__.get("_values_reader")
        if reader is None:
            reader = cls._values_reader = ValuesReader(cls.serializer_class)
        return reader

    def list(self, request, *args, **kwargs):
        reader = self.values_reader()
        queryset = reader.values(self.filter_queryset(self.get_queryset()))
        page = self.paginate_queryset(queryset)
        if page is None:
            return Response(reader.render(queryset))
        return self.get_paginated_response(reader.render(page))
