"""Where domain errors become HTTP responses, for every API view.

Every refusal carries a JSON ``detail`` (one readable sentence) and a machine ``code``;
refusals about fields also carry ``errors``, the problems per field.
"""

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.template import TemplateDoesNotExist
from django.template.loader import render_to_string
from django.views import defaults
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers, status
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
