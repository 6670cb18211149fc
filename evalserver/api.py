"""Where domain errors become HTTP responses, for every API view.

Every refusal carries a JSON ``detail`` (one readable sentence) and a machine ``code``;
refusals about fields also carry ``errors``, the problems per field.
"""

import re

import msgspec
from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.template import TemplateDoesNotExist
from django.template.loader import render_to_string
from django.views import defaults
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from evalserver.accounts.services import login_locked_message
from evalserver.errors import DomainError


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        data = {"detail": exc.message, "code": exc.code}
        field_errors = getattr(exc, "field_errors", None)
        if field_errors:
            data["errors"] = field_errors
        return Response(data, status=exc.status_code)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(response.data, dict) and "detail" not in response.data:
        # Field errors keep their per-field shape and gain one readable sentence, so every
        # refusal carries a JSON ``detail``.
        response.data = {
            "detail": _summarise(response.data),
            "code": "invalid",
            "errors": response.data,
        }
    elif isinstance(response.data, list):
        response.data = {"detail": " ".join(str(item) for item in response.data)}
    if response.status_code == status.HTTP_405_METHOD_NOT_ALLOWED:
        response.data.setdefault("detail", "Method not allowed.")
    if isinstance(response.data, dict) and "code" not in response.data:
        code = getattr(response.data.get("detail"), "code", None)
        response.data["code"] = code or getattr(exc, "default_code", "error")
    return response


class CompactJSON(dict):
    """A response body of plain JSON values (dict, list, str, int, float, bool, None)
    without NaN or infinities, which CompactJSONRenderer may write with msgspec. The view
    that builds the body vouches for it."""


_msgspec_encode = msgspec.json.Encoder().encode
# msgspec writes every string, integer, boolean and null as the json module does, and a
# float as repr() does when 1e-4 <= |x| < 1e16 or x is 0 (the same shortest digits);
# outside that range it lays the digits out otherwise: 0.00001 (1e-05), 1e16 (1e+16),
# 1e-7 (1e-07). Such floats show in its output as "0.0000" or an exponent after a digit;
# strings that look alike only send the body down the json module's path.
_EXPONENT = re.compile(rb"e[-+0-9]")


def _msgspec_writes_alike(encoded: bytes) -> bool:
    if b"0.0000" in encoded:
        return False
    return not any(encoded[m.start() - 1] in b"0123456789" for m in _EXPONENT.finditer(encoded))


class CompactJSONRenderer(JSONRenderer):
    """JSONRenderer that writes CompactJSON bodies with msgspec, the same bytes ~10x faster
    than the json module on a page of score JSON; anything else, any indent and any body
    with a float msgspec would lay out otherwise as JSONRenderer does."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        fast = type(data) is CompactJSON and self.compact and self.strict
        fast = fast and not self.ensure_ascii
        if fast and self.get_indent(accepted_media_type, renderer_context or {}) is None:
            encoded = _msgspec_encode(data)
            if _msgspec_writes_alike(encoded):
                # As JSONRenderer: U+2028 and U+2029 escaped (JSON a strict JavaScript subset).
                if b"\xe2\x80" in encoded:
                    encoded = encoded.replace(b"\xe2\x80\xa8", b"\\u2028")
                    encoded = encoded.replace(b"\xe2\x80\xa9", b"\\u2029")
                return encoded
        return super().render(data, accepted_media_type, renderer_context)


def _summarise(errors: dict) -> str:
    parts = []
    for field, messages in errors.items():
        if isinstance(messages, list | tuple):
            text = " ".join(str(message) for message in messages)
        else:
            text = str(messages)
        parts.append(text if field == "non_field_errors" else f"{field}: {text}")
    return " ".join(parts) or "Invalid request."


def axes_lockout_response(request, original_response=None, credentials=None):
    """What a refused login gets (``AXES_LOCKOUT_CALLABLE``): JSON 429 on the API, a page
    elsewhere. 429 rather than axes' 403: the client did nothing forbidden, it must wait.
    Retry-After is the wait the login protection computed, else the full cool-off."""
    retry_after = getattr(request, "login_retry_after", 0) or int(
        float(settings.AXES_COOLOFF_TIME) * 3600
    )
    message = login_locked_message(retry_after)
    if _is_api(request):
        response = JsonResponse({"detail": message, "code": "login_locked"}, status=429)
    else:
        try:
            body = render_to_string(
                "accounts/locked_out.html", {"message": message}, request=request
            )
            response = HttpResponse(body, status=429)
        except TemplateDoesNotExist:
            response = HttpResponse(message, status=429, content_type="text/plain")
    response["Retry-After"] = str(retry_after)
    return response


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def not_found(request, exception=None):
    """``handler404``: API clients get JSON with a ``detail`` for unknown paths too."""
    if _is_api(request):
        return JsonResponse(
            {"detail": f"No API endpoint at {request.path}.", "code": "not_found"}, status=404
        )
    return defaults.page_not_found(request, exception)


def server_error(request):
    """``handler500``: JSON on the API, the normal error page elsewhere."""
    if _is_api(request):
        return JsonResponse(
            {"detail": "The server failed to answer; organizers have been told.", "code": "error"},
            status=500,
        )
    return defaults.server_error(request)


# --- Schema helpers ---------------------------------------------------------------------


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="What went wrong, in one readable sentence.")
    code = serializers.CharField(help_text="A stable machine-readable code.")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Problems per field, when the request body was at fault.",
    )


_ERROR_DESCRIPTIONS = {
    400: "The request is invalid; `detail` says why, `errors` lists problems per field.",
    401: "No valid token or session.",
    403: "Not allowed (not in a team, phase closed, wrong invite code, not the owner).",
    404: "No such object, or it belongs to another team.",
    409: "Conflicts with the current state (already in a team, name taken, team full).",
    413: "The file is larger than the phase allows.",
    429: "Throttled: too many requests, failed logins or submissions.",
}


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    return {
        code: OpenApiResponse(response=ErrorSerializer, description=_ERROR_DESCRIPTIONS[code])
        for code in codes
    }
