"""Who organizes what, and what an organizer may do in the admin.

An organizer of a challenge is a user listed in its ``organizers`` (or a superuser). To
use the admin they also need ``is_staff`` (which only lets them log in) and the model
permissions of the "Organizers" group; the admin then shows them their own challenges'
objects only (``evalserver.challenges.admin_scope``).
"""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission
from django.db.models import Q, QuerySet

from evalserver.challenges.models import Challenge

ORGANIZERS_GROUP = "Organizers"

# (app label, codename). No add/delete of challenges or submissions: a challenge is made by
# a superuser or import_challenge, and a submission is the team's record.
ORGANIZER_PERMISSIONS: tuple[tuple[str, str], ...] = (
    ("challenges", "view_challenge"),
    ("challenges", "change_challenge"),
    ("challenges", "view_phase"),
    ("challenges", "add_phase"),
    ("challenges", "change_phase"),
    ("teams", "view_team"),
    ("teams", "add_team"),
    ("teams", "change_team"),
    ("teams", "view_membership"),
    ("teams", "add_membership"),
    ("teams", "change_membership"),
    ("teams", "delete_membership"),
    ("submissions", "view_submission"),
    ("submissions", "change_submission"),
    ("submissions", "view_submissionevent"),
    ("leaderboard", "view_frozenleaderboard"),
)


def challenges_organized_by(*, user) -> QuerySet[Challenge]:
    """Every challenge for a superuser; the ones listing ``user`` for anybody else."""
    if not user.is_authenticated:
        return Challenge.objects.none()
    if user.is_superuser:
        return Challenge.objects.all()
    return Challenge.objects.filter(organizers=user)


def organizers_group_ensure() -> Group:
    """Create the Organizers group, or add the permissions it lacks; never removes any.

    Runs after every ``migrate`` (ChallengesConfig.ready), so a new deployment has the group
    and a permission added to the list above reaches existing ones. An administrator's own
    additions to the group are kept.
    """
    group, _ = Group.objects.get_or_create(name=ORGANIZERS_GROUP)
    wanted = Q()
    for app_label, codename in ORGANIZER_PERMISSIONS:
        wanted |= Q(content_type__app_label=app_label, codename=codename)
    group.permissions.add(*Permission.objects.filter(wanted))
    return group


def organizer_admin_problems(*, user) -> list[str]:
    """What keeps a listed organizer from using the admin (empty when nothing does)."""
    if user.is_superuser:
        return []
    problems = []
    if not user.is_active:
        problems.append("the account is inactive")
    if not user.is_staff:
        problems.append("it is not staff")
    if not user.groups.filter(name=ORGANIZERS_GROUP).exists():
        problems.append(f"it is not in the {ORGANIZERS_GROUP!r} group")
    return problems
