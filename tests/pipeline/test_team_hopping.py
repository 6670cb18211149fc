"""Issue 11 item 5: hopping teams buys no fresh quota.

A person's submissions count towards the team they are in now, whichever team they made
them in (README "Submission quotas"), checked while the team's row is locked.
"""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
import time_machine
from django.db import connection, connections, transaction

from evalserver.errors import NotInTeam, QuotaExceeded
from evalserver.teams.services import team_create, team_join, team_leave
from submissions.models import Submission
from submissions.services import submission_create, submission_quota
from tests.factories import SubmissionFactory, UserFactory

pytestmark = pytest.mark.django_db

Status = Submission.Status
NOON = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def noon(labelled_phase):
    phase = labelled_phase.phase
    phase.starts_at = NOON - dt.timedelta(days=10)
    phase.ends_at = NOON + dt.timedelta(days=10)
    phase.save(update_fields=["starts_at", "ends_at"])
    with time_machine.travel(NOON, tick=False):
        yield


def _used_up_today(*, team, phase, user, n=5):
    SubmissionFactory.create_batch(
        n, team=team, phase=phase, submitted_by=user, status=Status.FINISHED, created_at=NOON
    )


def test_leaving_a_team_that_used_todays_quota_and_founding_another_gives_none(
    noon, labelled_phase, challenge, alice, bob, alice_team
):
    phase = labelled_phase.phase
    _used_up_today(team=alice_team, phase=phase, user=alice)
    team_leave(user=alice, team=alice_team)
    hoppers = team_create(user=alice, challenge=challenge, name="Hoppers")

    quota = submission_quota(team=hoppers, phase=phase)
    assert (quota["used_today"], quota["remaining_today"]) == (5, 0)
    with pytest.raises(QuotaExceeded, match="Daily limit of 5 reached"):
        submission_create(user=alice, phase=phase, upload=labelled_phase.upload()[0])
    # A newcomer in the new team shares its quota; the old team keeps counting its own.
    dave = UserFactory(username="dave")
    team_join(user=dave, team=hoppers, invite_code=hoppers.invite_code)
    with pytest.raises(QuotaExceeded):
        submission_create(user=dave, phase=phase, upload=labelled_phase.upload()[0])
    with pytest.raises(QuotaExceeded):
        submission_create(user=bob, phase=phase, upload=labelled_phase.upload()[0])

    # The next UTC day, everyone's quota is fresh.
    with time_machine.travel(NOON + dt.timedelta(days=1), tick=False):
        assert submission_create(user=alice, phase=phase, upload=labelled_phase.upload()[0])


def test_joining_another_team_brings_todays_submissions_along(
    noon, labelled_phase, alice, alice_team, charlie, charlie_team
):
    phase = labelled_phase.phase
    _used_up_today(team=alice_team, phase=phase, user=alice, n=3)
    _used_up_today(team=charlie_team, phase=phase, user=charlie, n=1)
    team_leave(user=alice, team=alice_team)
    team_join(user=alice, team=charlie_team, invite_code=charlie_team.invite_code)

    assert submission_quota(team=charlie_team, phase=phase)["used_today"] == 4
    assert submission_create(user=charlie, phase=phase, upload=labelled_phase.upload()[0])
    with pytest.raises(QuotaExceeded):
        submission_create(user=alice, phase=phase, upload=labelled_phase.upload()[0])


def test_the_total_limit_follows_the_member_too(noon, labelled_phase, challenge, alice, alice_team):
    phase = labelled_phase.phase
    phase.max_submissions_total = 3
    phase.max_submissions_per_day = None
    phase.save(update_fields=["max_submissions_total", "max_submissions_per_day"])
    SubmissionFactory.create_batch(
        3,
        team=alice_team,
        phase=phase,
        submitted_by=alice,
        status=Status.FINISHED,
        created_at=NOON - dt.timedelta(days=3),
    )
    team_leave(user=alice, team=alice_team)
    hoppers = team_create(user=alice, challenge=challenge, name="Hoppers")
    assert submission_quota(team=hoppers, phase=phase)["remaining_total"] == 0
    with pytest.raises(QuotaExceeded, match="Total limit of 3"):
        submission_create(user=alice, phase=phase, upload=labelled_phase.upload()[0])


def _waiting_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0


@pytest.mark.django_db(transaction=True)
def test_an_upload_started_before_leaving_cannot_land_after_it(
    inprocess_sync, labelled_phase, alice, bob, alice_team
):
    """The upload resolves alice's team, then waits on the team's row while she leaves; when
    the leave commits, the upload finds her gone and is refused (it would otherwise count
    towards a team she no longer is in, unseen by the team she goes to next)."""
    phase = labelled_phase.phase
    left = threading.Event()
    release = threading.Event()
    outcome: dict[str, object] = {}

    def leave():
        try:
            with transaction.atomic():
                team_leave(user=alice, team=alice_team)
                left.set()
                release.wait(timeout=20)
        finally:
            connections.close_all()

    def upload():
        try:
            outcome["upload"] = submission_create(
                user=alice, phase=phase, upload=labelled_phase.upload()[0]
            )
        except Exception as exc:
            outcome["upload"] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=leave), threading.Thread(target=upload)]
    threads[0].start()
    assert left.wait(timeout=20)
    # The upload's first checks still see alice in the team (the leave is uncommitted).
    threads[1].start()
    deadline = time.monotonic() + 20
    while not _waiting_on_a_lock():
        assert time.monotonic() < deadline, "the upload never waited on the team's row"
        time.sleep(0.02)
    release.set()
    for thread in threads:
        thread.join(timeout=30)

    assert isinstance(outcome["upload"], NotInTeam), outcome
    assert "no longer in this team" in outcome["upload"].message
    assert not Submission.objects.filter(phase=phase).exists()
