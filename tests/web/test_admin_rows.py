"""The admin's crowded lists write their rows without Django's per-cell machinery
(evalserver.adminlists): the same HTML as Django's items_for_result, byte for byte, on
every page, filter and ordering; and Django's own rows where a column is of a kind the
quick path does not know."""

import datetime as dt

import pytest
from django.contrib import admin
from django.contrib.admin.templatetags.admin_list import results
from django.contrib.auth.models import Group
from django.test import Client, RequestFactory
from django.urls import resolve, reverse

from evalserver.adminlists.rows import quick_results
from evalserver.challenges.organizers import ORGANIZERS_GROUP
from submissions.models import Submission, SubmissionEvent
from tests.factories import SubmissionFactory, TeamFactory

pytestmark = pytest.mark.django_db

START = dt.datetime(2021, 3, 2, 9, 30, tzinfo=dt.UTC)


@pytest.fixture
def staff_organizer(organizer):
    organizer.is_staff = True
    organizer.save(update_fields=["is_staff"])
    organizer.groups.add(Group.objects.get(name=ORGANIZERS_GROUP))
    return organizer


@pytest.fixture
def varied(labelled_phase, alice_team, staff_organizer):
    """Submissions of every status, with and without a score, flags set and not, a team
    whose name needs escaping; events with and without an actor, details with markup."""
    odd = TeamFactory(challenge=labelled_phase.challenge, name='<b>"Tom" & Jerry</b>')
    statuses = list(Submission.Status)
    made = []
    for k in range(60):
        made.append(
            SubmissionFactory(
                phase=labelled_phase,
                team=odd if k % 3 else alice_team,
                created_at=START + dt.timedelta(hours=k, minutes=k),
                status=statuses[k % len(statuses)],
                primary_score=None if k % 4 == 0 else k / 61,
                attempts=k % 5,
                is_hidden=k % 5 == 1,
                is_disqualified=k % 7 == 2,
                is_baseline=k % 11 == 3,
            )
        )
    for k, submission in enumerate(made):
        SubmissionEvent.objects.create(
            submission=submission,
            actor=staff_organizer if k % 2 else None,
            action="flags <set>" if k % 3 else "created",
            detail={"note": "<i>a & b</i>"} if k % 4 else {},
            created_at=START + dt.timedelta(minutes=k),
        )
    return made


def _changelist(model, user, query: dict):
    """The ChangeList the admin's view makes for ``query`` (its filters then kept in
    every row's link, as on the page)."""
    model_admin = admin.site._registry[model]
    path = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    request = RequestFactory().get(path, query)
    request.resolver_match = resolve(path)
    request.user = user
    cl = model_admin.get_changelist_instance(request)
    cl.formset = None  # as changelist_view sets it for a list with nothing editable
    return cl


@pytest.mark.parametrize("model", [Submission, SubmissionEvent])
@pytest.mark.parametrize(
    "query",
    [
        {},
        {"p": "2"},
        {"o": "-1"},
        {"o": "5.-2", "p": "2"},
        {"status__exact": "finished"},
        {"q": "Tom"},
        {"action": "created"},
    ],
    ids=["first", "page-2", "by-id", "two-orders", "filtered", "searched", "by-action"],
)
def test_the_quick_rows_are_djangos_rows(varied, staff_organizer, model, query):
    if ("action" in query) != (model is SubmissionEvent):
        query = {k: v for k, v in query.items() if k not in ("action", "status__exact")}
    cl = _changelist(model, staff_organizer, query)
    django_rows = ["".join(row) for row in results(cl)]
    quick_rows = ["".join(row) for row in quick_results(cl)]
    assert django_rows  # the page has rows to compare
    if query:
        assert "?_changelist_filters=" in django_rows[0]
    assert quick_rows == django_rows


def test_the_page_shows_djangos_rows_with_the_filters_kept_in_each_link(
    varied, staff_organizer, labelled_phase
):
    """Through the admin view: every row as Django writes it, its change link carrying
    the list's filters (add_preserved_filters, worked out once for the page)."""
    client = Client()
    client.force_login(staff_organizer, backend="django.contrib.auth.backends.ModelBackend")
    query = {"phase__id__exact": str(labelled_phase.pk), "is_hidden__exact": "0", "p": "1"}
    url = reverse("admin:submissions_submission_changelist")
    html = client.get(url, query).content.decode()
    cl = _changelist(Submission, staff_organizer, query)
    rows = ["".join(row) for row in results(cl)]
    assert len(rows) > 10
    for row in rows:
        assert f"<tr>{row}</tr>" in html
    assert "?_changelist_filters=" in rows[0]
    assert "is_hidden__exact%3D0" in rows[0]


def test_a_column_of_another_kind_gets_djangos_rows(varied, staff_organizer):
    """A callable or a model attribute as a column, a popup: the quick path steps
    aside, and Django's rows (its own ResultList objects) are what the page gets."""
    registered = admin.site._registry[Submission]
    for columns in (
        ["id", lambda obj: f"#{obj.pk}"],
        ["id", "primary_score", "__str__"],
        ["id", "file_sha256", "get_status_display"],
    ):
        model_admin = type(registered)(Submission, admin.site)
        model_admin.list_display = columns
        request = RequestFactory().get("/")
        request.user = staff_organizer
        cl = model_admin.get_changelist_instance(request)
        cl.formset = None
        quick = quick_results(cl)
        django_rows = list(results(cl))
        assert [list(row) for row in quick] == [list(row) for row in django_rows]
        if callable(columns[-1]) or columns[-1] in ("__str__", "get_status_display"):
            assert all(len(row) == len(cl.list_display) for row in quick)
    popup = _changelist(Submission, staff_organizer, {"_popup": "1"})
    assert all(len(row) == len(popup.list_display) for row in quick_results(popup))
