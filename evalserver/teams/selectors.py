"""Reads about teams, for the pages and the API."""

from __future__ import annotations

from django.db.models import OuterRef, QuerySet, Subquery

from evalserver.accounts.models import User
from evalserver.challenges.models import Challenge
from evalserver.errors import NotFound
from evalserver.teams.models import Membership, Team


def membership_for_user(*, user: User, challenge: Challenge) -> Membership | None:
    if not user.is_authenticated:
        return None
    return Membership.objects.select_related("team").filter(user=user, challenge=challenge).first()


def team_for_user(*, user: User, challenge: Challenge) -> Team | None:
    """The user's team in ``challenge``, or None."""
    membership = membership_for_user(user=user, challenge=challenge)
    return membership.team if membership else None


def team_get(*, team_id: int) -> Team:
    """Any team by id (for joining with an invite code, which is the secret)."""
    try:
        return Team.objects.select_related("challenge").get(
            pk=team_id, challenge__is_published=True
        )
    except (Team.DoesNotExist, ValueError, TypeError):
        raise NotFound("No such team.") from None


def team_get_for_member(*, user: User, team_id: int) -> Team:
    """A team the user belongs to; other teams answer NotFound."""
    if not user.is_authenticated:
        raise NotFound("No such team.")
    try:
        return Team.objects.select_related("challenge").get(pk=team_id, memberships__user=user)
    except (Team.DoesNotExist, ValueError, TypeError):
        raise NotFound("No such team.") from None


def team_members(*, team: Team) -> QuerySet[Membership]:
    """Members, owner first, then in the order they joined."""
    return (
        Membership.objects.select_related("user")
        .filter(team=team)
        .order_by("-role", "joined_at", "id")
    )


def team_list_for_user(*, user: User) -> QuerySet[Team]:
    """Every team the user is in, across challenges, with the user's ``role`` in it."""
    role = Membership.objects.filter(team=OuterRef("pk"), user=user).values("role")[:1]
    return (
        Team.objects.select_related("challenge")
        .filter(memberships__user=user)
        .annotate(role=Subquery(role))
        .order_by("challenge__slug", "name")
    )


def is_team_owner(*, user: User, team: Team) -> bool:
    return Membership.objects.filter(team=team, user=user, role=Membership.Role.OWNER).exists()
