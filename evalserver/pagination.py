"""Pagination of the API lists: `?page=N` with N from 1 to the last page, else 404.

DRF's PageNumberPagination also reads an empty `page` as page 1 and `page=last` as the
last page; the schema states an integer of at least 1 (evalserver.schema_limits), so the
server keeps to what it states.
"""

import re
from collections.abc import Sequence

from django.core.paginator import InvalidPage, Page
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

    def requested_page(self, request) -> int:
        """The page number asked for, from 1; NotFound as paginate_queryset answers."""
        number = int(self.get_page_number(request, None))
        if number < 1:
            raise NotFound(self.invalid_page_message)
        return number

    def paginate_counted(self, rows: Sequence, request, *, count: int | None, number: int):
        """paginate_queryset for a page fetched already (with its total ``count``, None
        when the page is past the last one): the same page, links and 404 without
        another COUNT(*). Returns the rows; get_paginated_response answers as usual."""
        self.request = request
        if count is None:
            raise NotFound(self.invalid_page_message)
        paginator = self.django_paginator_class(range(count), self.get_page_size(request))
        try:
            paginator.validate_number(number)
        except InvalidPage:
            raise NotFound(self.invalid_page_message) from None
        self.page = Page(rows, number, paginator)
        if paginator.num_pages > 1 and self.template is not None:
            self.display_page_controls = True
        return rows
