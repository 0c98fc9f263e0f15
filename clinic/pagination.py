"""Pagination that stays cheap on large tables, shared by the admin and the API."""

from __future__ import annotations

import json

from django.core.paginator import Paginator
from django.db import connections
from django.db.models import QuerySet
from django.utils.functional import cached_property


class EstimatedCountPaginator(Paginator):
    """A paginator that never runs a full COUNT(*) over a large table on PostgreSQL.

    An unfiltered list uses the planner's row count of the table (pg_class.reltuples);
    a filtered one counts at most `exact_up_to` rows and, past that, takes the
    planner's estimate of the filtered query. Small tables and other databases
    get the exact count.
    """

    exact_up_to = 10_000

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not isinstance(queryset, QuerySet):
            return super().count
        connection = connections[queryset.db]
        if connection.vendor != "postgresql":
            return super().count
        if not queryset.query.where:
            estimate = self._table_estimate(queryset, connection)
            if estimate > self.exact_up_to:
                return estimate
            return super().count
        bounded = queryset.order_by()[: self.exact_up_to + 1].count()
        if bounded <= self.exact_up_to:
            return bounded
        return max(self._plan_estimate(queryset, connection), bounded)

    @staticmethod
    def _table_estimate(queryset: QuerySet, connection) -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)", [queryset.model._meta.db_table]
            )
            row = cursor.fetchone()
        return int(row[0]) if row and row[0] and row[0] > 0 else 0

    @staticmethod
    def _plan_estimate(queryset: QuerySet, connection) -> int:
        sql, params = queryset.order_by().query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
            plan = cursor.fetchone()[0]
        if isinstance(plan, str):
            plan = json.loads(plan)
        return int(plan[0]["Plan"]["Plan Rows"])
