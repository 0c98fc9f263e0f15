"""Changelists of big tables never run a full COUNT(*) on PostgreSQL."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from clinic.models import Patient
from clinic.pagination import EstimatedCountPaginator
from tests import factories

pytestmark = pytest.mark.django_db


class SmallThreshold(EstimatedCountPaginator):
    exact_up_to = 3
    table_exact_up_to = 5


def _count(queryset) -> tuple[int, list[str]]:
    with CaptureQueriesContext(connection) as captured:
        count = SmallThreshold(queryset, 50).count
    return count, [q["sql"] for q in captured.captured_queries]


def test_other_databases_and_small_tables_get_the_exact_count(db):
    factories.PatientFactory.create_batch(3)
    count, queries = _count(Patient.objects.all())
    assert count == 3
    assert any("COUNT(*)" in sql for sql in queries)


def test_a_big_unfiltered_table_is_estimated_on_postgresql_and_counted_elsewhere(db, is_postgres):
    factories.PatientFactory.create_batch(8)
    if is_postgres:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE clinic_patient")
    count, queries = _count(Patient.objects.all())
    assert count == 8
    if is_postgres:
        # one query: the table's row count from the planner statistics, the bounded count not run
        assert len(queries) == 1
        assert "reltuples" in queries[0] and "LIMIT 6" in queries[0]
    else:
        # a count bounded at table_exact_up_to + 1 rows, which the table exceeds; then the exact COUNT(*)
        assert len(queries) == 2
        assert "LIMIT 6" in queries[0]
        assert "COUNT(*)" in queries[1] and "LIMIT" not in queries[1]


def test_a_small_table_is_counted_exactly_in_one_bounded_query(db, is_postgres):
    factories.PatientFactory.create_batch(5)
    if is_postgres:  # statistics as fresh as the rows: other tests' commits may have left them stale
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE clinic_patient")
    count, queries = _count(Patient.objects.all())
    assert count == 5
    assert len(queries) == 1 and "LIMIT 6" in queries[0]


def test_a_filtered_list_is_counted_exactly_up_to_its_smaller_bound(db):
    factories.PatientFactory.create_batch(3, user__last_name="Hopper")
    factories.PatientFactory.create_batch(4, user__last_name="Knuth")
    count, queries = _count(Patient.objects.filter(user__last_name="Hopper"))
    assert count == 3
    assert len(queries) == 1 and "LIMIT 4" in queries[0] and "reltuples" not in queries[0]


def test_a_filtered_list_past_its_bound_is_estimated_on_postgresql_and_counted_elsewhere(db, is_postgres):
    factories.PatientFactory.create_batch(5, user__last_name="Knuth")
    factories.PatientFactory(user__last_name="Hopper")
    count, queries = _count(Patient.objects.filter(user__last_name="Knuth"))
    assert "LIMIT 4" in queries[0]
    assert len(queries) == 2
    if is_postgres:
        # the bounded count (4 rows: more than 3) and the planner's estimate, never a full count
        assert queries[1].startswith("EXPLAIN")
        assert count >= 4
    else:
        assert "COUNT(*)" in queries[1] and "LIMIT" not in queries[1]
        assert count == 5
