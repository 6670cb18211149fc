"""The request id: taken from a sane incoming X-Request-ID or made, logged, sent back."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from evalserver.ops import logcontext


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        rid = logcontext.request_id_from(request.headers.get("X-Request-ID"))
        request.request_id = rid
        with logcontext.bound(request=rid):
            response = self.get_response(request)
        response["X-Request-ID"] = rid
        return response
