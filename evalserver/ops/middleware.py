"""The request id: taken from a sane incoming X-Request-ID or made, logged, sent back."""

from __future__ import annotations

from collections.abc import Callable

from django.core.signals import request_finished
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse

from evalserver.ops import logcontext


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        rid = logcontext.request_id_from(request.headers.get("X-Request-ID"))
        request.request_id = rid
        # Not reset on the way out: Django logs 4xx/5xx responses after the middleware has
        # returned; request_finished clears it once the response is sent.
        logcontext.request_id.set(rid)
        response = self.get_response(request)
        response["X-Request-ID"] = rid
        return response


@receiver(request_finished)
def _forget_request_id(**kwargs) -> None:
    logcontext.request_id.set(None)
