"""Pagination of the API lists: `?page=N` with N from 1 to the last page, else 404.

DRF's PageNumberPagination also reads an empty `page` as page 1 and `page=last` as the
last page; the schema states an integer of at least 1 (evalserver.schema_limits), so the
server keeps to what it states.
"""

import re

from rest_framework.exceptions import NotFound
from rest_framework.pagination import PageNumberPagination

_DIGITS = re.compile(r"[0-9]+")


class PageNumberOnlyPagination(PageNumberPagination):
    last_page_strings = ()

    def get_page_number(self, request, paginator):
        value = request.query_params.get(self.page_query_param)
        if value is None:
            return 1
        if not _DIGITS.fullmatch(value):
            raise NotFound(f"Invalid page {value!r}: pages are numbered from 1.")
        return value
