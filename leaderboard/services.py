"""Organizer actions on a leaderboard: freeze the final ranking, reveal a private one.

``actor=None`` means the command line: whoever runs ``manage.py`` already holds the
database, so there is nobody to check.
"""

import logging
import uuid
from collections.abc import Iterable

from django.db import IntegrityError, transaction
from django.utils import timezone

from evalserver.challenges.models import Phase
from evalserver.errors import Conflict, PermissionDenied, ValidationFailed
from leaderboard.models import TEAM_CHANGES_KEPT, FrozenLeaderboard, LeaderboardVersion
from leaderboard.selectors import leaderboard_ranking

logger = logging.getLogger(__name__)


def leaderboard_changed(*, phase_ids: Iterable[int], team_id: int | None = None) -> None:
    """Record that the live ranking of these phases may have changed.

    ``team_id``: only that team's entries may have changed (one of its submissions finished,
    was re-run, hidden, flagged or deleted; the team was renamed). Every process then re-reads
    just that team and re-places it in its cached board (leaderboard.live) instead of ranking
    the whole phase again. Without it, anything on the board may have changed (label fixes,
    phase dates, bulk loads): the next request ranks the phase anew. One query, two per phase
    with a team.

    Call it in the transaction that makes the change, or after it commits, never before: a
    board built between a new token and the change itself would be cached under the new
    token. Every write to a submission or a team name that the ranking reads goes through
    here (the submission services, leaderboard.signals for plain saves and deletes). A bulk
    ``.update()`` of submissions or teams (a shell, a data migration) sends no signal: call
    this after it, or the API keeps serving the board from before it.
    """
    now = timezone.now()
    phase_ids = sorted(set(phase_ids))
    whole = list(phase_ids)
    if team_id is not None:
        whole = []
        # No savepoint inside the caller's transaction: nothing here is to be undone alone.
        with transaction.atomic(savepoint=False):
            for phase_id in phase_ids:
                # The row's lock queues concurrent changes of the phase (two workers finishing
                # two teams' submissions at once): each appends to the log as the other left
                # it, so no team's change is lost, and the log's order is the commit order.
                version = (
                    LeaderboardVersion.objects.select_for_update().filter(phase_id=phase_id).first()
                )
                if version is None:
                    whole.append(phase_id)  # the phase's first change: no board to patch yet
                    continue
                version.token = uuid.uuid4()
                version.changed_at = now
                version.team_changes = [
                    *version.team_changes[-(TEAM_CHANGES_KEPT - 1) :],
                    [version.token.hex, team_id],
                ]
                version.save(update_fields=["token", "changed_at", "team_changes"])
    tokens = [uuid.uuid4() for _ in whole]
    rows = [
        # The log starts afresh at this token: a board of it can be patched from there on.
        LeaderboardVersion(
            phase_id=phase_id, token=token, changed_at=now, team_changes=[[token.hex, None]]
        )
        for phase_id, token in zip(whole, tokens, strict=True)
    ]
    if rows:
        # An upsert: the row exists from the first change of the phase on.
        LeaderboardVersion.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["phase"],
            update_fields=["token", "changed_at", "team_changes"],
        )


def _require_organizer(*, phase: Phase, actor) -> None:
    if actor is not None and not phase.challenge.is_organizer(actor):
        raise PermissionDenied("Only the challenge's organizers may do this.")


def leaderboard_freeze(*, phase: Phase, actor) -> FrozenLeaderboard:
    """Keep the phase's ranking as it stands now as its final leaderboard.

    Only after the deadline: a board frozen earlier would silently drop the entries
    still to come. Later rescoring, hiding or disqualifying no longer changes what is served;
    to correct a frozen board, unfreeze it and freeze again.
    """
    _require_organizer(phase=phase, actor=actor)
    now = timezone.now()
    if now < phase.ends_at:
        raise ValidationFailed(
            f"The phase {phase} ends at {phase.ends_at.isoformat()}; "
            "its leaderboard can be frozen only after the deadline."
        )
    with transaction.atomic():
        # Lock the phase so two organizers freezing at once agree on one board.
        Phase.objects.select_for_update().filter(pk=phase.pk).first()
        if FrozenLeaderboard.objects.filter(phase=phase).exists():
            raise Conflict(f"The leaderboard of {phase} is already frozen.")
        entries = leaderboard_ranking(phase=phase)
        try:
            with transaction.atomic():
                frozen = FrozenLeaderboard.objects.create(
                    phase=phase,
                    entries=[entry.as_json() for entry in entries],
                    frozen_at=now,
                    frozen_by=actor,
                )
        except IntegrityError:
            raise Conflict(f"The leaderboard of {phase} is already frozen.") from None
    # The caller's phase object may have cached "not frozen".
    phase.frozen_leaderboard = frozen
    logger.info("leaderboard of %s frozen by %s with %d entries", phase, actor, len(entries))
    return frozen


def leaderboard_unfreeze(*, phase: Phase, actor) -> None:
    """Serve the live ranking again, e.g. to freeze anew after a late disqualification."""
    _require_organizer(phase=phase, actor=actor)
    deleted, _ = FrozenLeaderboard.objects.filter(phase=phase).delete()
    if not deleted:
        raise Conflict(f"The leaderboard of {phase} is not frozen.")
    logger.info("leaderboard of %s unfrozen by %s", phase, actor)


def leaderboard_reveal(*, phase: Phase, actor) -> Phase:
    """Show a private phase's ranking to everyone, from now on."""
    _require_organizer(phase=phase, actor=actor)
    if phase.leaderboard_visibility == Phase.Visibility.PUBLIC:
        raise Conflict(f"The leaderboard of {phase} is public already.")
    now = timezone.now()
    # Conditional, so two reveals at once leave the first moment and tell the second.
    updated = Phase.objects.filter(pk=phase.pk, leaderboard_revealed_at__isnull=True).update(
        leaderboard_revealed_at=now, updated_at=now
    )
    if not updated:
        raise Conflict(f"The leaderboard of {phase} has been revealed already.")
    phase.leaderboard_revealed_at = now
    phase.updated_at = now
    logger.info("leaderboard of %s revealed by %s", phase, actor)
    return phase


def final_board_publish(*, phase: Phase, actor) -> Phase:
    """Publish a split phase's final (private-split) board to everyone; after ``ends_at`` only.

    Until then no participant sees a private-split score by any route. Publishing twice is
    refused, so the first moment stays on record.
    """
    _require_organizer(phase=phase, actor=actor)
    if not phase.labels_split:
        raise ValidationFailed(
            f"The phase {phase} has no private split (its labels carry no 'split'); "
            "there is no final board to publish."
        )
    now = timezone.now()
    if now < phase.ends_at:
        raise ValidationFailed(
            f"The phase {phase} ends at {phase.ends_at.isoformat()}; its final board can be "
            "published only after the deadline, once selections are frozen."
        )
    updated = Phase.objects.filter(pk=phase.pk, final_board_published_at__isnull=True).update(
        final_board_published_at=now, updated_at=now
    )
    if not updated:
        raise Conflict(f"The final board of {phase} has been published already.")
    phase.final_board_published_at = now
    phase.updated_at = now
    logger.info("final board of %s published by %s", phase, actor)
    return phase
