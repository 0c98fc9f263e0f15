"""Changelists of big tables never run a full COUNT(*) on PostgreSQL."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from clinic.pagination import EstimatedCountPaginator
from clinic.models import Patient
from tests import factories

pytestmark = pytest.mark.django_db


class SmallThreshold(EstimatedCountPaginator):
    exact_up_to = 5


def _count(queryset) -> tuple[int, list[str]]:
    with CaptureQueriesContext(connection) as captured:
        count = SmallThreshold(queryset, 50).count
    return count, [q["sql"] for q in captured.captured_queries]


def test_other_databases_and_small_tables_get_the_exact_count(db):
    factories.PatientFactory.create_batch(3)
    count, queries = _count(Patient.objects.all())
    assert count == 3
    assert any("COUNT(*)" in sql for sql in queries)


@pytest.mark.postgres
def test_an_unfiltered_big_table_is_counted_from_the_planner_statistics(db):
    factories.PatientFactory.create_batch(8)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE clinic_patient")
    count, queries = _count(Patient.objects.all())
    assert count == 8
    assert queries == [
        "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass('clinic_patient')",
    ]


@pytest.mark.postgres
def test_a_filtered_list_counts_at_most_a_bounded_number_of_rows(db):
    factories.PatientFactory.create_batch(4, phone="+1 555 1111")
    factories.PatientFactory.create_batch(8, phone="+1 555 2222")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE clinic_patient")

    few, queries = _count(Patient.objects.filter(phone="+1 555 1111"))
    assert few == 4
    assert len(queries) == 1 and "LIMIT 6" in queries[0]

    many, queries = _count(Patient.objects.filter(phone="+1 555 2222"))
    assert many >= 6  # bounded count reached: the planner's estimate, never below what was counted
    assert any(sql.startswith("EXPLAIN") for sql in queries)
    assert not any("COUNT(*)" in sql and "LIMIT" not in sql for sql in queries)
