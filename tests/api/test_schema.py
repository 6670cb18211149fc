"""The OpenAPI 3 schema at /api/schema/: valid, complete, and true of the live app."""

import pytest
import schemathesis
from django.urls import URLPattern, URLResolver, get_resolver
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from openapi_spec_validator import validate
from rest_framework.throttling import SimpleRateThrottle
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.generation import GenerationMode

from evalserver.accounts.services import token_get_or_create
from evalserver.teams.models import Membership
from tests.factories import (
    ChallengeFactory,
    MembershipFactory,
    PhaseFactory,
    SubmissionFactory,
    TeamFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def _schema(api) -> dict:
    response = api.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def _api_routes() -> set[str]:
    """Every /api/v1/ route the URLconf serves, in OpenAPI's {name} form."""
    routes = set()

    def walk(patterns, prefix):
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern) and route.startswith("api/v1/"):
                for converter in ("int", "slug", "str"):
                    route = route.replace(f"<{converter}:", "{")
                routes.add("/" + route.replace(">", "}"))

    walk(get_resolver().url_patterns, "")
    return routes


def test_the_schema_is_valid_openapi_3(api):
    schema = _schema(api)
    assert schema["openapi"].startswith("3.")
    validate(schema)


def test_every_api_route_is_in_the_schema(api):
    assert _api_routes() == set(_schema(api)["paths"])


def test_the_contract_paths_are_documented(api):
    paths = _schema(api)["paths"]
    contract = {
        ("post", "/api/v1/auth/register/"): "201",
        ("post", "/api/v1/auth/token/"): "200",
        ("get", "/api/v1/challenges/"): "200",
        ("post", "/api/v1/challenges/{slug}/teams/"): "201",
        ("post", "/api/v1/teams/{team_id}/join/"): "200",
        ("post", "/api/v1/phases/{phase_id}/submissions/"): "201",
        ("get", "/api/v1/phases/{phase_id}/submissions/"): "200",
        ("get", "/api/v1/submissions/{submission_id}/"): "200",
        ("get", "/api/v1/phases/{phase_id}/leaderboard/"): "200",
    }
    for (method, path), success in contract.items():
        assert success in paths[path][method]["responses"], (method, path)


def test_every_operation_has_a_summary_and_documents_its_refusals(api):
    for path, operations in _schema(api)["paths"].items():
        for method, operation in operations.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            assert operation.get("summary") or operation.get("description"), (method, path)
            refusals = [code for code in operation["responses"] if code.startswith("4")]
            assert refusals, f"{method} {path} documents no 4xx answer"


def test_the_docs_page_is_served(api):
    response = api.get("/api/docs/")
    assert response.status_code == 200
    # Swagger UI's settings, with the schema's URL, come as a script of their own.
    script = api.get("/api/docs/", {"script": ""})
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert b'"/api/schema/"' in script.content


# Schemathesis' expectations where the schema cannot be the whole truth, each with why.
SCHEMATHESIS_CONFIG = """
[checks]
# 411: a chunked body (schemathesis sends some) is refused before any data is read,
# whatever the data (documented on every operation with a body).
positive_data_acceptance.expected-statuses = ["2xx", "3xx", 401, 403, 404, 409, 411, 429, "5xx"]
negative_data_rejection.expected-statuses = [
    400, 401, 403, 404, 405, 406, 409, 411, 415, 422, 428, 429, "5xx",
]

# Well-formed credentials that are wrong: 400 (no schema knows the passwords).
[[operations]]
include-path = "/api/v1/auth/token/"
checks.positive_data_acceptance.expected-statuses = ["2xx", 400, 411, 429]

# A taken username or address, a common password or one too like the username: 400,
# rules of the database and of Django's password list that no schema can state.
[[operations]]
include-path = "/api/v1/auth/register/"
checks.positive_data_acceptance.expected-statuses = ["2xx", 400, 411, 429]

# Removing yourself (the generated ids may be the caller's own) is 400: leave instead.
[[operations]]
include-path-regex = "^/api/v1/teams/.+/members/.+/$"
checks.positive_data_acceptance.expected-statuses = ["2xx", 400, 401, 403, 404, 411, 429]

# Marking a submission final is 400 on a phase without a private split (or one that counts
# every submission): a property of the phase's labels, which no schema of the body states.
[[operations]]
include-path-regex = "^/api/v1/submissions/[^/]+/$"
include-method = "PATCH"
checks.positive_data_acceptance.expected-statuses = ["2xx", 400, 401, 403, 404, 409, 411, 429]
"""


@pytest.mark.django_db(transaction=True)
def test_generated_requests_find_no_mismatch_with_the_schema(live_server, monkeypatch):
    """Schemathesis against the running app with all its checks: positive and negative
    requests to every operation, as a participant with a team, a phase and submissions.
    Every mismatch is collected, so one run names them all."""
    # Generated traffic is far above the protective rates; the throttles are tested apart.
    monkeypatch.setattr(
        SimpleRateThrottle,
        "THROTTLE_RATES",
        dict.fromkeys(SimpleRateThrottle.THROTTLE_RATES, "100000/min"),
    )
    challenge = ChallengeFactory(slug="fuzz")
    phase = PhaseFactory(challenge=challenge)
    user = UserFactory(username="fuzzer")
    team = TeamFactory(challenge=challenge, name="Fuzz")
    MembershipFactory(team=team, user=user, role=Membership.Role.OWNER)
    other = UserFactory(username="teammate")
    MembershipFactory(team=team, user=other)
    submission = SubmissionFactory(team=team, phase=phase, submitted_by=user)
    headers = {"Authorization": f"Token {token_get_or_create(user=user).key}"}

    load_all_checks()
    all_checks = CHECKS.get_all()
    assert len(all_checks) >= 14
    schema = schemathesis.openapi.from_url(
        f"{live_server.url}/api/schema/?format=json",
        config=SchemathesisConfig.from_str(SCHEMATHESIS_CONFIG),
    )
    # Calls that end the fuzzer's token or membership go last, so the rest run signed in.
    destructive = ("/members/", "/leave/", "/rotate/", "/logout/")
    operations = sorted(
        (result.ok() for result in schema.get_all_operations()),
        key=lambda op: [marker in op.path for marker in reversed(destructive)],
    )
    assert len(operations) >= 15
    # Real ids, so generated requests also get past the 404s into the views.
    real = {
        "phase_id": phase.pk,
        "team_id": team.pk,
        "submission_id": submission.pk,
        "slug": challenge.slug,
        "user_id": other.pk,
    }
    mismatches: dict[str, str] = {}

    for operation in operations:
        known = {k: v for k, v in real.items() if "{" + k + "}" in operation.path}
        strategies = [
            operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
            operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
        ]
        if known:
            strategies.append(
                operation.as_strategy(
                    generation_mode=GenerationMode.POSITIVE, path_parameters=known
                )
            )
        for number, strategy in enumerate(strategies):

            @given(case=strategy)
            @settings(
                max_examples=6,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def check(case):
                response = case.call(base_url=live_server.url, headers=headers)
                try:
                    case.validate_response(response, checks=all_checks, headers=headers)
                except (Failure, FailureGroup) as found:
                    group = found.exceptions if isinstance(found, FailureGroup) else [found]
                    for failure in group:
                        mismatches.setdefault(
                            f"{case.operation.label}: {failure.title}",
                            f"{case.method} {response.request.url} -> {response.status_code} "
                            f"{response.text[:300]}",
                        )

            try:
                check()
            except Unsatisfiable:
                # Nothing in the operation can be made invalid (no parameters, no body).
                if number != 1:
                    raise

    assert mismatches == {}
