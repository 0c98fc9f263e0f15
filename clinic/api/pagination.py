"""Page-number pagination: `?page=` and `?page_size=` (default 50, at most 200).

`count` is exact up to 1,000 rows of a filtered list and 10,000 of a whole table; past
that, on PostgreSQL, it is the planner's estimate, so a list of a million appointments
never runs a full COUNT(*).
"""

from __future__ import annotations

from rest_framework.pagination import PageNumberPagination

from clinic.pagination import EstimatedCountPaginator


class ClinicPagination(PageNumberPagination):
    django_paginator_class = EstimatedCountPaginator
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
