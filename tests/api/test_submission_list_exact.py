"""The API's submission list without SubmissionSerializer (issue 12): plain rows in two
queries and msgspec must answer the very bytes that the generic ListAPIView, the
serializer and DRF's JSONRenderer answer, 404s included."""

import datetime as dt
import math

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from rest_framework.generics import ListAPIView
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.test import APIRequestFactory, force_authenticate

from evalserver.api import CompactJSON, CompactJSONRenderer
from submissions.api import PhaseSubmissionsView
from submissions.models import Submission
from tests.factories import SubmissionFactory, UserFactory

pytestmark = pytest.mark.django_db


class _ReferenceView(PhaseSubmissionsView):
    """The list as it was: get_queryset, SubmissionSerializer, DRF's pagination."""

    renderer_classes = [JSONRenderer, BrowsableAPIRenderer]

    def list(self, request, *args, **kwargs):
        return ListAPIView.list(self, request, *args, **kwargs)


def _answers(user, phase_id, query=""):
    """(status, body) of the list and of the reference, for the same request."""
    factory = APIRequestFactory()
    out = []
    for view in (PhaseSubmissionsView, _ReferenceView):
        request = factory.get(f"/api/v1/phases/{phase_id}/submissions/{query}")
        force_authenticate(request, user=user)
        response = view.as_view()(request, phase_id=phase_id)
        response.render()
        out.append((response.status_code, response.content))
    return out


# Floats either side of where msgspec and repr() part ways, and the strings that look alike.
ODD_SCORES = {
    "track": "classification",
    "primary_metric": "macro_f1",
    "macro_f1": 0.30000000000000004,
    "tiny": [1e-05, 9.99e-05, 1e-4, math.nextafter(1e-4, 0), 1e-7, 5e-324, -2.5e-06],
    "huge": [1e16, math.nextafter(1e16, 0), 1.5e17, 1.7976931348623157e308, -1e22],
    "zeros": [0.0, -0.0, 0],
    "ints": [2**70, -(2**65), 6097],
    "per_class": [{"name": "Opening\u2028door", "f1": 0.5, "note": 'say "e1" \\ 0.0000'}],
    # (PostgreSQL refuses \u0000 in JSON.)
    "text": "\x01\x1f\x7f é 😀 \u2029",
}
PLAIN_SCORES = {
    "track": "classification",
    "primary_metric": "macro_f1",
    "macro_f1": 0.6666666666666666,
    "per_class": [{"class_id": i, "f1": i / 7, "support": 100} for i in range(26)],
}


@pytest.fixture
def varied(alice_team, alice, bob, phase):
    start = dt.datetime(2021, 3, 1, 12, 0, tzinfo=dt.UTC)
    rows = [
        {"status": Submission.Status.QUEUED},
        # A rescore in progress keeps the old numbers in the row: they must not show.
        {"status": Submission.Status.RUNNING, "scores": PLAIN_SCORES, "primary_score": 0.5},
        {
            "status": Submission.Status.FINISHED,
            "scores": PLAIN_SCORES,
            "primary_score": 0.6666666666666666,
            "ci_low": 0.61,
            "ci_high": 0.7,
            "selected": True,
            "started_at": start,
            "finished_at": start + dt.timedelta(seconds=3, microseconds=250),
        },
        {
            "status": Submission.Status.FINISHED,
            "scores": ODD_SCORES,
            "primary_score": 1e-05,
            "ci_low": 1e-07,
            "ci_high": 1e16,
            "method_name": "tab\there \u2028 «quoted»",
            "description": 'line\nbreak "e-5" 1e5',
            "is_baseline": True,
        },
        {
            "status": Submission.Status.FAILED,
            "errors": ["line 17: expected 26 values, found 25", 3, None],
            "scores": PLAIN_SCORES,
        },
        {"status": Submission.Status.CANCELLED, "submitted_by": None},
    ]
    made = []
    for n, fields in enumerate(rows):
        fields.setdefault("submitted_by", alice if n % 2 else bob)
        made.append(
            SubmissionFactory(
                team=alice_team,
                phase=phase,
                created_at=start + dt.timedelta(minutes=n),
                original_filename=f"answer-{n}.txt",
                file_size=1000 + n,
                **fields,
            )
        )
    return made


def test_the_list_answers_the_serializers_bytes(alice, varied, phase):
    (status, body), (ref_status, ref_body) = _answers(alice, phase.pk)
    assert status == ref_status == 200
    assert body == ref_body


def test_plain_pages_are_compact_json_and_the_same_bytes(alice, alice_team, bob, phase, alice_api):
    for n in range(60):
        SubmissionFactory(
            team=alice_team,
            phase=phase,
            submitted_by=alice if n % 3 else None,
            status=Submission.Status.FINISHED,
            scores=PLAIN_SCORES,
            primary_score=n / 60,
            created_at=dt.datetime(2021, 3, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=n // 2),
        )
    for query in ("", "?page=1", "?page=2", "?page=2&other=x%20y"):
        (status, body), (_, ref_body) = _answers(alice, phase.pk, query)
        assert status == 200
        assert body == ref_body, query
    response = alice_api.get(f"/api/v1/phases/{phase.pk}/submissions/?page=2")
    assert type(response.data) is CompactJSON
    assert response.json()["previous"].endswith(f"/api/v1/phases/{phase.pk}/submissions/")


def test_organizers_see_every_teams_rows_in_the_same_bytes(
    organizer, varied, charlie_team, charlie, phase
):
    for n in range(55):
        SubmissionFactory(team=charlie_team, phase=phase, submitted_by=charlie, file_size=n)
    for query in ("", "?page=2"):
        (status, body), (_, ref_body) = _answers(organizer, phase.pk, query)
        assert status == 200
        assert body == ref_body


@pytest.mark.parametrize(
    "query",
    ["?page=abc", "?page=", "?page=-1", "?page=0", "?page=2", "?page=99999999999999999999999"],
)
def test_the_same_404s(alice, varied, phase, query):
    (status, body), (ref_status, ref_body) = _answers(alice, phase.pk, query)
    assert status == ref_status == 404
    assert body == ref_body


def test_an_unknown_or_unpublished_phase_is_404_before_the_page(
    alice, organizer, varied, phase, challenge
):
    for phase_id in (999999, 2**63, 10**30):
        for query in ("", "?page=abc"):
            (status, body), (_, ref_body) = _answers(alice, phase_id, query)
            assert status == 404
            assert body == ref_body
    challenge.is_published = False
    challenge.save(update_fields=["is_published"])
    for user in (alice, organizer):
        (status, body), (_, ref_body) = _answers(user, phase.pk)
        assert status == 404
        assert body == ref_body


def test_a_user_without_a_team_sees_an_empty_first_page(varied, phase):
    dora = UserFactory(username="dora")
    (status, body), (_, ref_body) = _answers(dora, phase.pk)
    assert status == 200
    assert body == ref_body
    assert _answers(dora, phase.pk, "?page=2")[0][0] == 404


def test_another_teams_member_sees_only_its_own(charlie, charlie_team, varied, phase):
    SubmissionFactory(team=charlie_team, phase=phase, submitted_by=charlie)
    (status, body), (_, ref_body) = _answers(charlie, phase.pk)
    assert status == 200
    assert body == ref_body
    assert body.count(b'"id":') == 1


# --- The renderer alone ----------------------------------------------------------------

_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([1e-4, 9.99e-05, 1e16, 9999999999999998.0, 1e-07, -0.0, 5e-324])
    | st.text(),
    lambda children: st.lists(children, max_size=6) | st.dictionaries(st.text(), children),
    max_leaves=40,
)


@hypothesis_settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.text(), _json_values))
def test_the_compact_renderer_writes_what_the_json_renderer_writes(data):
    reference = JSONRenderer().render(data)
    assert CompactJSONRenderer().render(CompactJSON(data)) == reference
    indented = "application/json; indent=4"
    assert CompactJSONRenderer().render(CompactJSON(data), indented) == JSONRenderer().render(
        data, indented
    )
