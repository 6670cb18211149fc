"""Refusing request bodies larger than EVALSERVER_MAX_UPLOAD_BYTES before they are read.

Phases have their own, smaller caps, but those are checked by the submission service once
the whole upload has been received: without this, a client could make every web worker
read (and spool to disk) bodies of any size. Two lines of defence:

- ``RequestBodyLimitMiddleware`` answers 413 from the Content-Length header alone, before
  anything reads the body (the CSRF check reads a form body, so it must come first), and
  411 to a body of unknown length (``Transfer-Encoding: chunked``): Django parses no body
  without a Content-Length, so such an upload would otherwise arrive looking empty.
- ``CappedUploadHandler``, first in FILE_UPLOAD_HANDLERS, stops a multipart parse that
  receives more file bytes than the cap whatever the headers said, for servers or parsers
  that read a body past its declared length.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed, RequestDataTooBig
from django.core.files.uploadhandler import FileUploadHandler
from django.http import HttpRequest, HttpResponse, JsonResponse

# Set on the request by the upload handler; the middleware answers 413 on the way out,
# whichever layer (CSRF check, DRF parser, form view) was parsing when the cap was hit.
_HIT_CAP = "_evalserver_body_over_cap"


class RequestBodyTooLarge(RequestDataTooBig):
    """Raised by the upload handler. A RequestDataTooBig, so even without the middleware
    Django answers 400 instead of a server error."""


def _size(n_bytes: int) -> str:
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n_bytes >= scale:
            value = n_bytes / scale
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{n_bytes} bytes"


def _too_large_message() -> str:
    cap = _size(settings.EVALSERVER_MAX_UPLOAD_BYTES)
    return f"The request is larger than the server accepts ({cap})."


LENGTH_REQUIRED_MESSAGE = (
    "Send the request with a Content-Length header; bodies of unknown length "
    "(chunked transfer encoding) are not accepted."
)


def _refusal(request: HttpRequest, status: int, code: str, message: str) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": message, "code": code}, status=status)
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")


class RequestBodyLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        declared = request.META.get("CONTENT_LENGTH")
        if declared:
            try:
                length = int(declared)
            except ValueError:
                length = 0  # Django reads no body for it either.
            if length > settings.EVALSERVER_MAX_UPLOAD_BYTES:
                return _refusal(request, 413, "request_too_large", _too_large_message())
        elif "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
            return _refusal(request, 411, "length_required", LENGTH_REQUIRED_MESSAGE)

        response = self.get_response(request)
        if getattr(request, _HIT_CAP, False):
            return _refusal(request, 413, "request_too_large", _too_large_message())
        return response


class CappedUploadHandler(FileUploadHandler):
    """Counts the file bytes of a request across all its files; raises past the cap."""

    def __init__(self, request=None):
        super().__init__(request)
        self.received = 0

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > settings.EVALSERVER_MAX_UPLOAD_BYTES:
            if self.request is not None:
                setattr(self.request, _HIT_CAP, True)
            raise RequestBodyTooLarge(_too_large_message())
        return raw_data

    def file_complete(self, file_size):
        # The handlers after this one build the file.
        return None


class InProcessSweeperMiddleware:
    """Starts the in-process sweeper (submissions.queue) with the first request.

    Without a broker nothing else re-queues what a restart of the web process stranded.
    Started by a request, not at import or app loading, so management commands (`score`,
    `migrate`) and a gunicorn master that preloads the app before forking never run it.
    With a broker it drops out of the stack.
    """

    def __init__(self, get_response):
        if not settings.EVALSERVER_INPROCESS_TASKS:
            raise MiddlewareNotUsed
        self.get_response = get_response
        self.started = False

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # EVALSERVER_INPROCESS_SWEEP is read here, not at start-up: tests switch it per test.
        if not self.started and settings.EVALSERVER_INPROCESS_SWEEP:
            from submissions import queue

            queue.start_in_process_sweeper()
            self.started = True
        return self.get_response(request)
