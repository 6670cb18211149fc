"""Plain saves and deletes that change a live leaderboard: a new version for its phase.

The submission services move submissions with conditional UPDATEs, which send no signals,
and call ``leaderboard_changed`` themselves. These receivers catch the rest: ``save()`` of a
finished submission (flag changes, the admin, fixtures), deleting a submission (the admin,
or its team's deletion), and renaming a team in the admin. Each of these changes one team's
entries, and says which, so that the boards re-place just that team.
"""

from django.db.models import QuerySet
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from evalserver.challenges.models import Challenge, Phase
from evalserver.teams.models import Team
from leaderboard.services import leaderboard_changed
from submissions.models import Submission


@receiver(post_save, sender=Submission, dispatch_uid="leaderboard_submission_saved")
def _submission_saved(
    sender, instance: Submission, created: bool, update_fields=None, **kwargs
) -> None:
    # Only a finished submission is on a board; a queued, running, failed or cancelled one
    # left it (if ever it was there) through a service, which bumped the version then.
    if instance.status != Submission.Status.FINISHED:
        return
    moved = update_fields is None or {"team", "team_id", "phase", "phase_id"} & set(update_fields)
    if created or not moved:
        leaderboard_changed(phase_ids=[instance.phase_id], team_id=instance.team_id)
    else:
        # A whole save (the admin, fixtures) may have moved it from another team or phase,
        # which this receiver cannot tell: the whole board is read again.
        leaderboard_changed(phase_ids=[instance.phase_id])


@receiver(post_delete, sender=Submission, dispatch_uid="leaderboard_submission_deleted")
def _submission_deleted(sender, instance: Submission, origin=None, **kwargs) -> None:
    deleted = origin.model if isinstance(origin, QuerySet) else type(origin)
    if isinstance(deleted, type) and issubclass(deleted, Phase | Challenge):
        # The board goes with its phase: no version to keep, and one upsert per submission of
        # a whole phase would make the deletion crawl.
        return
    if instance.status == Submission.Status.FINISHED:
        leaderboard_changed(phase_ids=[instance.phase_id], team_id=instance.team_id)


@receiver(post_save, sender=Team, dispatch_uid="leaderboard_team_saved")
def _team_saved(sender, instance: Team, created: bool, update_fields=None, **kwargs) -> None:
    # A new team has no submissions yet, and the team services save other fields by name.
    if created or (update_fields is not None and "name" not in update_fields):
        return
    leaderboard_changed(
        phase_ids=Phase.objects.filter(challenge_id=instance.challenge_id).values_list(
            "pk", flat=True
        ),
        team_id=instance.pk,
    )
