"""The OpenAPI schema states the limits the server enforces (issue 11 item 5): the patterns
agree with the services on both regex dialects (Python's, which schemathesis generates
from, and ECMA-262's, which JSON Schema validators use), and the status codes are there."""

import re

import jsonschema_rs
import pytest
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError as DjangoValidationError

from evalserver.accounts.models import User
from evalserver.errors import ValidationFailed
from evalserver.teams.services import _clean_team_name

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(api):
    return api.get("/api/schema/", {"format": "json"}).json()


def _field(schema, component, name):
    return schema["components"]["schemas"][component]["properties"][name]


def _both_dialects(field_schema, value) -> bool:
    """Whether ``value`` is valid for ``field_schema``, asserting the dialects agree."""
    ecma = jsonschema_rs.Draft202012Validator(field_schema).is_valid(value)
    python = True
    for part in [field_schema, *field_schema.get("allOf", [])]:
        if "pattern" in part and not re.search(part["pattern"], value):
            python = False
        if "minLength" in part and len(value) < part["minLength"]:
            python = False
        if "maxLength" in part and len(value) > part["maxLength"]:
            python = False
        if "not" in part and re.search(part["not"]["pattern"], value):
            python = False
    assert ecma == python, (field_schema, value)
    return ecma


TEAM_NAMES = [
    "Tiny Transformers",
    "A  Team",
    "Ünïcödé ✓",
    "👩\u200d💻 coders",  # an emoji sequence with a zero-width joiner
    "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",  # Persian with a non-joiner
    "   ",
    "",
    "Alpha\u200b",  # zero-width space
    "\ufeffAlpha",  # byte-order mark
    "Al\x07pha",
    "Flag \U000e0067\U000e0062",  # tag characters, beyond the BMP
    "x" * 100,
    "x" * 101,
]


@pytest.mark.parametrize("name", TEAM_NAMES, ids=range(len(TEAM_NAMES)))
def test_the_team_name_schema_accepts_exactly_what_the_service_does(schema, name):
    try:
        _clean_team_name(name)
        accepted = True
    except ValidationFailed:
        accepted = False
    field = _field(schema, "TeamCreateRequest", "name")
    assert _both_dialects(field, name) == accepted


PASSWORDS = ["a sturdy pw 91", "1234567", "12345678", "abcdefg", "abc\x00defgh", "1234567x"]


@pytest.mark.parametrize("password", PASSWORDS)
def test_the_password_rules_the_schema_states_hold_in_the_service(schema, password):
    field = _field(schema, "RegisterRequest", "password")
    try:
        # The validators that depend on no list or other field; DRF refuses NUL itself.
        password_validation.validate_password(
            password,
            password_validators=password_validation.get_password_validators(
                [
                    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
                    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
                ]
            ),
        )
        accepted = "\x00" not in password
    except DjangoValidationError:
        accepted = False
    assert _both_dialects(field, password) == accepted


@pytest.mark.parametrize("username", ["alice", "a.b@c+d-e_f", "a b", "al/ce", "", "x" * 151])
def test_the_username_schema_states_djangos_rule(schema, username):
    field = _field(schema, "RegisterRequest", "username")
    try:
        User.username_validator(username)
        accepted = 0 < len(username) <= 150
    except DjangoValidationError:
        accepted = False
    assert _both_dialects(field, username) == accepted


@pytest.mark.parametrize("page", ["0", "2", "", "last", "abc", "-1", " 1"])
def test_a_page_that_is_no_page_number_of_the_list_is_a_404(alice_api, challenge, page):
    response = alice_api.get("/api/v1/challenges/", {"page": page})
    assert response.status_code == 404
    assert response.json()["detail"]
    assert alice_api.get("/api/v1/challenges/", {"page": "1"}).status_code == 200


def test_the_schema_documents_the_shared_refusals(schema):
    paths = schema["paths"]
    for path, operations in paths.items():
        for method, operation in operations.items():
            page = [p for p in operation.get("parameters", []) if p["name"] == "page"]
            if page:
                assert page[0]["schema"]["minimum"] == 1
                assert "404" in operation["responses"], (method, path)
            if "requestBody" in operation:
                assert {"411", "413"} <= set(operation["responses"]), (method, path)
    upload = schema["components"]["schemas"]["SubmissionCreateRequest"]["properties"]
    assert upload["file"]["minLength"] == 1
    assert upload["method_name"]["pattern"] == "^[^\\x00]*$"


def test_nul_in_a_text_field_and_an_empty_file_are_refused_as_stated(alice_api, phase, alice_team):
    from django.core.files.uploadedfile import SimpleUploadedFile

    url = f"/api/v1/phases/{phase.pk}/submissions/"
    empty = alice_api.post(url, {"file": SimpleUploadedFile("a.txt", b"")}, format="multipart")
    assert empty.status_code == 400
    assert "empty" in empty.json()["detail"]
    nul = alice_api.post(
        url,
        {"file": SimpleUploadedFile("a.txt", b"x"), "method_name": "a\x00b"},
        format="multipart",
    )
    assert nul.status_code == 400
    assert "method_name" in nul.json()["errors"]
