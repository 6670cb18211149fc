"""Where domain errors become HTTP responses, for every API view."""

from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from evalserver.errors import DomainError


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        return Response({"detail": exc.message, "code": exc.code}, status=exc.status_code)
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(response.data, dict) and "detail" not in response.data:
        # Field errors keep their per-field shape and gain one readable sentence, so every
        # refusal carries a JSON ``detail``.
        response.data = {"detail": _summarise(response.data), "errors": response.data}
    elif response is not None and isinstance(response.data, list):
        response.data = {"detail": " ".join(str(item) for item in response.data)}
    if response is None:
        return None
    if response.status_code == status.HTTP_405_METHOD_NOT_ALLOWED:
        response.data.setdefault("detail", "Method not allowed.")
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
