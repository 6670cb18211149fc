"""Reads for challenges and phases, including the hidden labels the scorer needs."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from django.core.files.storage import storages
from django.db.models import Prefetch, QuerySet

from evalserver import scoring
from evalserver.challenges.models import Challenge, Download, Phase
from evalserver.errors import Conflict, NotFound

# A worker scores many submissions of one phase in a row; a few phases' labels in memory
# (a few MB each at most) saves re-reading and unpacking them for every submission.
LABELS_CACHE_SIZE = 8

_cache: OrderedDict[tuple[int, str, str], Any] = OrderedDict()
_cache_lock = threading.Lock()


class PhaseHasNoLabels(Conflict):
    code = "phase_has_no_labels"


def _with_downloads(challenges: QuerySet[Challenge]) -> QuerySet[Challenge]:
    """Phases and downloads in three queries whatever the number of challenges."""
    return challenges.prefetch_related(
        Prefetch(
            "downloads",
            queryset=Download.objects.filter(phase__isnull=True),
            to_attr="challenge_downloads",
        ),
        "phases__downloads",
    )


def challenge_list_published() -> QuerySet[Challenge]:
    return _with_downloads(Challenge.objects.filter(is_published=True))


def challenge_get_published(*, slug: str) -> Challenge:
    """One published challenge with its phases and downloads (the API's detail)."""
    challenge = _with_downloads(Challenge.objects.filter(is_published=True, slug=slug)).first()
    if challenge is None:
        raise NotFound(f"No challenge {slug!r}.")
    return challenge


def challenge_get(*, slug: str) -> Challenge:
    try:
        return Challenge.objects.get(slug=slug, is_published=True)
    except Challenge.DoesNotExist:
        raise NotFound(f"No challenge {slug!r}.") from None


def phase_get(*, phase_id: int) -> Phase:
    try:
        return Phase.objects.select_related("challenge").get(
            pk=phase_id, challenge__is_published=True
        )
    except (Phase.DoesNotExist, ValueError, TypeError):
        raise NotFound(f"No phase {phase_id!r}.") from None


def phase_has_labels(*, phase: Phase) -> bool:
    """Whether the scorer has hidden labels to read for ``phase``."""
    return bool(phase.labels_sha256 and phase.labels_compact_file.name)


def phase_labels(*, phase: Phase):
    """The phase's hidden labels in the scoring library's compact form.

    Cached per process by (phase, labels sha, compact file): replacing the labels changes
    the key, so a cached entry is never served after a fix.
    """
    name = phase.labels_compact_file.name
    if not phase_has_labels(phase=phase):
        raise PhaseHasNoLabels(
            f"Phase {phase} has no hidden labels yet; an organizer must import them."
        )
    key = (phase.pk, phase.labels_sha256, name)
    with _cache_lock:
        labels = _cache.get(key)
        if labels is not None:
            _cache.move_to_end(key)
            return labels
    with storages["labels"].open(name, "rb") as fh:
        blob = fh.read()
    labels = scoring.labels_from_bytes(phase.track, blob)
    with _cache_lock:
        _cache[key] = labels
        _cache.move_to_end(key)
        while len(_cache) > LABELS_CACHE_SIZE:
            _cache.popitem(last=False)
    return labels


def phase_labels_cache_clear() -> None:
    with _cache_lock:
        _cache.clear()
