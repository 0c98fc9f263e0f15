"""Page-number pagination: `?page=` and `?page_size=` (default 50, at most 200)."""

from __future__ import annotations

from rest_framework.pagination import PageNumberPagination


class ClinicPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
