"""Teams: create, join by invite code, leave, remove a member, new invite code.

Two rules must hold even when requests race: a user is in at most one team per
challenge, and a team never grows past its challenge's ``max_team_size``. Joins lock
the team row, then count and insert; the unique constraint on Membership(user,
challenge) is the last line and its IntegrityError becomes a Conflict.
"""

from __future__ import annotations

import secrets
import unicodedata

from django.db import IntegrityError, transaction
from django.utils import timezone

from evalserver.accounts.models import User
from evalserver.challenges.models import Challenge, is_banned
from evalserver.challenges.registration import check_may_take_part
from evalserver.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from evalserver.teams.models import Membership, Team, new_invite_code

TEAM_NAME_MAX_LENGTH = Team._meta.get_field("name").max_length

_NO_TEAM = "No such team."
BANNED_MESSAGE = "The organizers of this challenge have banned you from taking part in it."


def _refuse_banned(*, user: User, challenge_id: int) -> None:
    if is_banned(challenge_id=challenge_id, user=user):
        raise PermissionDenied(BANNED_MESSAGE)


_JOINERS = frozenset("\u200c\u200d")


def _is_invisible(char: str) -> bool:
    return unicodedata.category(char) in ("Cc", "Cf") and char not in _JOINERS


def _clean_team_name(name: str) -> str:
    # Collapse inner runs of whitespace so "A  Team" and "A Team" are one name.
    cleaned = " ".join((name or "").split())
    if not cleaned:
        raise ValidationFailed("A team name is required.")
    # Invisible characters would put a blank name on the leaderboard, or a second "Alpha"
    # that the case-insensitive uniqueness cannot tell from the first. The joiners stay:
    # emoji sequences and some scripts (Persian, Indic) need them.
    if any(_is_invisible(char) for char in cleaned):
        raise ValidationFailed(
            "A team name cannot contain control or invisible characters (such as zero-width "
            "spaces)."
        )
    if len(cleaned) > TEAM_NAME_MAX_LENGTH:
        raise ValidationFailed(f"A team name has at most {TEAM_NAME_MAX_LENGTH} characters.")
    return cleaned


def _already_in_a_team(challenge: Challenge) -> Conflict:
    return Conflict(
        f"You are already in a team for {challenge.title}; leave it before joining or "
        "creating another."
    )


def _lock_team(team: Team) -> Team:
    try:
        return Team.objects.select_for_update().select_related("challenge").get(pk=team.pk)
    except Team.DoesNotExist:
        raise NotFound(_NO_TEAM) from None


def _membership_or_none(*, team: Team, user: User) -> Membership | None:
    return Membership.objects.filter(team=team, user=user).first()


def team_create(*, user: User, challenge: Challenge, name: str) -> Team:
    """Create a team with ``user`` as its owner and first member."""
    name = _clean_team_name(name)
    if not challenge.is_published:
        raise NotFound("No such challenge.")
    _refuse_banned(user=user, challenge_id=challenge.pk)
    check_may_take_part(challenge=challenge, user=user)
    if Membership.objects.filter(user=user, challenge=challenge).exists():
        raise _already_in_a_team(challenge)
    if Team.objects.filter(challenge=challenge, name__iexact=name).exists():
        raise Conflict(f"A team named {name!r} already exists in this challenge.")
    try:
        with transaction.atomic():
            # Approved at once unless the organizers approve teams themselves.
            approved = challenge.registration != Challenge.Registration.APPROVAL
            team = Team.objects.create(
                challenge=challenge,
                name=name,
                created_by=user,
                approved_at=timezone.now() if approved else None,
            )
            Membership.objects.create(
                team=team, user=user, challenge=challenge, role=Membership.Role.OWNER
            )
    except IntegrityError as exc:
        # A concurrent request took the name or put the user in a team first.
        if "one_team_per_user_per_challenge" in str(exc):
            raise _already_in_a_team(challenge) from None
        raise Conflict(f"A team named {name!r} already exists in this challenge.") from None
    return team


def team_join(*, user: User, team: Team, invite_code: str) -> Membership:
    """Join ``team`` with its invite code."""
    _refuse_banned(user=user, challenge_id=team.challenge_id)
    check_may_take_part(challenge=team.challenge, user=user)
    with transaction.atomic():
        team = _lock_team(team)
        code = (invite_code or "").strip()
        if not code or not secrets.compare_digest(code.encode(), team.invite_code.encode()):
            raise PermissionDenied("The invite code is not valid for this team.")
        existing = Membership.objects.filter(user=user, challenge=team.challenge_id).first()
        if existing is not None:
            if existing.team_id == team.pk:
                raise Conflict("You are already a member of this team.")
            raise _already_in_a_team(team.challenge)
        size = Membership.objects.filter(team=team).count()
        if size >= team.challenge.max_team_size:
            raise Conflict(
                f"This team is full: a team has at most {team.challenge.max_team_size} members."
            )
        try:
            with transaction.atomic():
                return Membership.objects.create(
                    team=team, user=user, challenge=team.challenge, role=Membership.Role.MEMBER
                )
        except IntegrityError:
            # The user joined another team of this challenge in a parallel request.
            raise _already_in_a_team(team.challenge) from None


def team_leave(*, user: User, team: Team) -> None:
    """Leave ``team``.

    An owner who leaves hands the team to the member who joined first. The last member
    to leave deletes the team if it never submitted; a team with submissions stays, with
    no members, so its entries remain on the leaderboard.
    """
    with transaction.atomic():
        team = _lock_team(team)
        membership = _membership_or_none(team=team, user=user)
        if membership is None:
            raise NotFound(_NO_TEAM)
        membership.delete()
        successor = Membership.objects.filter(team=team).order_by("joined_at", "id").first()
        if successor is None:
            if not team.submissions.exists():
                team.delete()
            return
        if membership.role == Membership.Role.OWNER:
            successor.role = Membership.Role.OWNER
            successor.save(update_fields=["role"])


def _require_owner(*, actor: User, team: Team) -> None:
    membership = _membership_or_none(team=team, user=actor)
    if membership is None:
        # Other teams' objects are not ours to confirm.
        raise NotFound(_NO_TEAM)
    if membership.role != Membership.Role.OWNER:
        raise PermissionDenied("Only the team owner can do this.")


def team_remove_member(*, actor: User, team: Team, user: User) -> None:
    """The owner removes another member from the team."""
    with transaction.atomic():
        team = _lock_team(team)
        _require_owner(actor=actor, team=team)
        if actor.pk == user.pk:
            raise ValidationFailed("You cannot remove yourself; leave the team instead.")
        deleted, _ = Membership.objects.filter(team=team, user=user).delete()
        if not deleted:
            # Not the username: this would turn any user id into a name for any team owner.
            raise NotFound("That user is not a member of this team.")


def team_regenerate_invite(*, actor: User, team: Team) -> str:
    """Give the team a new invite code; the old one stops working at once."""
    with transaction.atomic():
        team = _lock_team(team)
        _require_owner(actor=actor, team=team)
        team.invite_code = new_invite_code()
        team.save(update_fields=["invite_code"])
        return team.invite_code
