"""The ``--phase <challenge-slug>/<phase-slug>`` argument of the leaderboard commands."""

from django.core.management.base import CommandError

from evalserver.challenges.models import Phase


def phase_from_spec(spec: str) -> Phase:
    challenge_slug, sep, phase_slug = spec.partition("/")
    if not sep or not challenge_slug or not phase_slug or "/" in phase_slug:
        raise CommandError(f"--phase must be <challenge-slug>/<phase-slug>, not {spec!r}")
    phase = (
        Phase.objects.select_related("challenge", "frozen_leaderboard")
        .filter(challenge__slug=challenge_slug, slug=phase_slug)
        .first()
    )
    if phase is None:
        raise CommandError(f"No phase {phase_slug!r} in a challenge {challenge_slug!r}.")
    return phase
