"""The limits the server enforces, stated in the OpenAPI schema (/api/schema/).

Request fields whose rules go beyond their serializer's type are typed with the fields
here, so the schema says what the services check: a client, or schemathesis
(tests/api/test_schema.py), can tell a well-formed request from one that will be refused.
Rules that depend on the database (a name taken) or on a list (common passwords) cannot
be a schema; their refusals are documented responses.

The patterns are written so that Python's ``re`` (which hypothesis generates from) and
ECMA-262 (which JSON Schema validators use) agree on them where the server does.
"""

from __future__ import annotations

import sys
import unicodedata

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

# Django's UnicodeUsernameValidator: letters, digits and @ . + - _ (after NFKC).
USERNAME_PATTERN = r"^[\w.@+-]+$"
USERNAME_MAX_LENGTH = 150
# Django's password validators that a pattern can state: 8 characters at least
# (MinimumLengthValidator), not only digits (NumericPasswordValidator); DRF refuses NUL.
PASSWORD_MIN_LENGTH = 8
PASSWORD_PATTERN = r"^[^\x00]*[^\x00\d][^\x00]*$"  # noqa: S105 (a rule, not a password)
PASSWORD_MAX_LENGTH = 4096
# Any text without NUL that is not blank (DRF trims the username, not the password).
NOT_BLANK_PATTERN = r"^[^\x00]*[^\x00\s][^\x00]*$"
NO_NUL_PATTERN = r"^[^\x00]*$"


def _invisible_ranges() -> list[tuple[int, int]]:
    """What a team name may not contain: control and format characters (Unicode Cc, Cf),
    except the zero-width joiners that emoji sequences and some scripts need
    (evalserver.teams.services._is_invisible)."""
    joiners = {0x200C, 0x200D}
    ranges: list[tuple[int, int]] = []
    for code in range(sys.maxunicode + 1):
        if code in joiners or unicodedata.category(chr(code)) not in ("Cc", "Cf"):
            continue
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1] = (ranges[-1][0], code)
        else:
            ranges.append((code, code))
    return ranges


def _class(ranges: list[tuple[int, int]], char) -> str:
    return "".join(
        char(start) if start == end else f"{char(start)}-{char(end)}" for start, end in ranges
    )


_RANGES = _invisible_ranges()
# Within the Basic Multilingual Plane as \u escapes, which both dialects read. The few
# beyond it go in a `not` of their own, as literal characters: schemathesis rewrites a
# pattern that has a maxLength and writes \U escapes, which ECMA-262 cannot read.
_INVISIBLE_BMP = _class([r for r in _RANGES if r[1] <= 0xFFFF], lambda code: f"\\u{code:04x}")
_INVISIBLE_ASTRAL = _class([r for r in _RANGES if r[0] > 0xFFFF], chr)
TEAM_NAME_PATTERN = f"^[^{_INVISIBLE_BMP}]*[^{_INVISIBLE_BMP}\\s][^{_INVISIBLE_BMP}]*$"
TEAM_NAME_FORBIDDEN_PATTERN = f"[{_INVISIBLE_ASTRAL}]"
TEAM_NAME_MAX_LENGTH = 100


@extend_schema_field(
    {
        "type": "string",
        "maxLength": USERNAME_MAX_LENGTH,
        "pattern": USERNAME_PATTERN,
        "description": "Letters, digits and @ . + - _ (at most 150). Must not be taken, "
        "whatever its case.",
    }
)
class NewUsernameField(serializers.CharField):
    pass


@extend_schema_field(
    {
        # In an allOf: drf-spectacular writes its own minLength (1) over the field's.
        "allOf": [
            {
                "type": "string",
                "minLength": PASSWORD_MIN_LENGTH,
                "maxLength": PASSWORD_MAX_LENGTH,
                "pattern": PASSWORD_PATTERN,
            }
        ],
        "description": "At least 8 characters, not only digits, not a common password and "
        "not too like the username or email address.",
    }
)
class NewPasswordField(serializers.CharField):
    pass


@extend_schema_field(
    {"type": "string", "maxLength": USERNAME_MAX_LENGTH, "pattern": NOT_BLANK_PATTERN}
)
class LoginUsernameField(serializers.CharField):
    pass


@extend_schema_field(
    {
        "type": "string",
        "minLength": 1,
        "maxLength": PASSWORD_MAX_LENGTH,
        "pattern": NO_NUL_PATTERN,
    }
)
class LoginPasswordField(serializers.CharField):
    pass


@extend_schema_field(
    {
        "type": "string",
        "maxLength": TEAM_NAME_MAX_LENGTH,
        "pattern": TEAM_NAME_PATTERN,
        "not": {"pattern": TEAM_NAME_FORBIDDEN_PATTERN},
        "description": "At most 100 characters, not blank, without control or invisible "
        "characters (zero-width joiners are allowed); runs of spaces count as one. Must "
        "not be taken in the challenge, whatever its case.",
    }
)
class TeamNameField(serializers.CharField):
    pass


@extend_schema_field(
    {
        "type": "string",
        "format": "binary",
        "minLength": 1,
    }
)
class PredictionFileField(serializers.FileField):
    pass


def _error(description: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def limits_hook(result, generator, request, public):
    """drf-spectacular post-processing: the limits every operation shares.

    - A paginated list answers 404 for a page number past its last page, or below 1.
    - Every request body may be refused before a view reads it: 411 without a
      Content-Length (chunked), 413 over EVALSERVER_MAX_UPLOAD_BYTES
      (evalserver.middleware.RequestBodyLimitMiddleware).
    - A text field of a request refuses the NUL character (DRF's CharField).
    """
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            page = next(
                (
                    p
                    for p in operation.get("parameters", [])
                    if p.get("in") == "query" and p.get("name") == "page"
                ),
                None,
            )
            if page is not None:
                page.setdefault("schema", {"type": "integer"})["minimum"] = 1
                responses.setdefault(
                    "404", _error("No such page: page numbers run from 1 to the last page.")
                )
            if "requestBody" in operation:
                responses.setdefault(
                    "411", _error("A body of unknown length (chunked): send a Content-Length.")
                )
                responses.setdefault(
                    "413", _error("The request is larger than the server accepts.")
                )
    for name, component in result.get("components", {}).get("schemas", {}).items():
        if not name.endswith("Request"):
            continue
        for field in component.get("properties", {}).values():
            if field.get("type") == "string" and not {"format", "pattern", "enum"} & set(field):
                field["pattern"] = NO_NUL_PATTERN
    return result
