"""Public files of a challenge and its phases (CONTRACT section 5, ``downloads:``).

Organizers declare them in the challenge YAML; the import stores their bytes on the labels
storage (which has no URL) under content-addressed names, and the download view serves
them after checking the audience. A hidden label file can never be one: the YAML check
refuses it by path and by content, the import refuses a copy of any phase's stored labels,
and serving refuses a file whose digest matches any phase's labels.
"""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass

from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.db.models import Q
from django.urls import reverse

from evalserver.challenges.models import Challenge, Download, Phase
from evalserver.challenges.yaml_schema import ChallengeDefinitionInvalid, DownloadSpec
from evalserver.errors import DomainError, NotFound, PermissionDenied


class LoginRequired(DomainError):
    """A participants-only file asked for without signing in (401, not 403)."""

    status_code = 401
    code = "not_authenticated"


@dataclass(frozen=True)
class DownloadChange:
    created: list[str]
    updated: list[str]
    removed: list[str]


def _storage():
    return storages["labels"]


def _stored_name(*, challenge: Challenge, phase: Phase | None, name: str, sha256: str) -> str:
    where = f"challenge-{challenge.pk}" if phase is None else f"phase-{phase.pk}"
    return f"downloads/{where}/{sha256[:16]}-{name}"


def downloads_refuse_labels(*, specs: list[DownloadSpec]) -> None:
    """Refuse a download whose bytes are any phase's stored hidden labels (any challenge)."""
    digests = {hashlib.sha256(spec.data).hexdigest(): spec for spec in specs}
    hits = Phase.objects.filter(labels_sha256__in=list(digests)).values_list(
        "labels_sha256", flat=True
    )
    problems = [
        f"download {digests[sha].name!r}: {digests[sha].path.name} is a hidden label file "
        "of a phase; it can never be a download"
        for sha in sorted(set(hits))
    ]
    if problems:
        raise ChallengeDefinitionInvalid(problems)


def downloads_store(
    *,
    challenge: Challenge,
    phase: Phase | None,
    specs: list[DownloadSpec],
    written: list[str],
    stale: list[str],
) -> DownloadChange:
    """Make the stored downloads of ``challenge`` (or of ``phase``) exactly ``specs``.

    Runs inside the import's transaction: new files go to ``written`` (deleted if it
    fails), replaced ones to ``stale`` (deleted once it commits). Declarations the file no
    longer has are removed: a download exists only while the YAML declares it.
    """
    existing = {d.name: d for d in Download.objects.filter(challenge=challenge, phase=phase)}
    change = DownloadChange(created=[], updated=[], removed=[])
    storage = _storage()
    for order, spec in enumerate(specs):
        sha256 = hashlib.sha256(spec.data).hexdigest()
        row = existing.pop(spec.name, None)
        values = {
            "description": spec.description,
            "audience": spec.audience,
            "size": len(spec.data),
            "sha256": sha256,
            "order": order,
        }
        if row is not None and all(getattr(row, k) == v for k, v in values.items()):
            continue
        target = _stored_name(challenge=challenge, phase=phase, name=spec.name, sha256=sha256)
        if row is None or row.sha256 != sha256 or not row.file.name:
            saved = storage.save(target, ContentFile(spec.data))
            written.append(saved)
            if row is not None and row.file.name:
                stale.append(row.file.name)
        else:
            saved = row.file.name
        if row is None:
            row = Download(challenge=challenge, phase=phase, name=spec.name)
            change.created.append(spec.name)
        else:
            change.updated.append(spec.name)
        for key, value in values.items():
            setattr(row, key, value)
        row.file.name = saved
        row.save()
    for name, row in existing.items():
        if row.file.name:
            stale.append(row.file.name)
        row.delete()
        change.removed.append(name)
    return change


def delete_quietly(names: list[str]) -> None:
    storage = _storage()
    for name in names:
        # A leftover file wastes space but harms nobody; the row is what counts.
        with contextlib.suppress(OSError):
            storage.delete(name)


# --- Reads ----------------------------------------------------------------------------------


def download_url(download: Download) -> str:
    if download.phase_id is None:
        return reverse("api-v1-challenge-download", args=[download.challenge.slug, download.name])
    return reverse("api-v1-phase-download", args=[download.phase_id, download.name])


def download_audience_allows(*, download: Download, user) -> bool:
    if download.audience == Download.Audience.EVERYONE:
        return True
    if not user.is_authenticated:
        return False
    from evalserver.teams.models import Membership

    if Membership.objects.filter(user=user, challenge_id=download.challenge_id).exists():
        return True
    return download.challenge.is_organizer(user)


def download_get(
    *, user, name: str, challenge_slug: str | None = None, phase_id: int | None = None
) -> Download:
    """The declared download ``name`` the user may fetch; NotFound, LoginRequired or
    PermissionDenied otherwise."""
    rows = Download.objects.select_related("challenge", "phase")
    if phase_id is not None:
        rows = rows.filter(phase_id=phase_id)
    else:
        rows = rows.filter(challenge__slug=challenge_slug, phase__isnull=True)
    download = rows.filter(name=name).first()
    if download is None or not (
        download.challenge.is_published or download.challenge.is_organizer(user)
    ):
        raise NotFound(f"No download {name!r} here.")
    # Belt and braces: whatever the YAML check missed, hidden labels never leave.
    if Phase.objects.filter(labels_sha256=download.sha256).exists():
        raise NotFound(f"No download {name!r} here.")
    if not download_audience_allows(download=download, user=user):
        if not user.is_authenticated:
            raise LoginRequired(f"{name} is for participants: sign in first.")
        raise PermissionDenied(
            f"{name} is for participants of {download.challenge.title}: join or create a "
            "team first."
        )
    return download


def download_open(*, download: Download):
    try:
        return _storage().open(download.file.name, "rb")
    except FileNotFoundError:
        raise NotFound(f"{download.name} is no longer stored; tell the organizers.") from None


def _listed(download: Download, user) -> dict:
    return {
        "download": download,
        "url": download_url(download),
        "allowed": download_audience_allows(download=download, user=user),
    }


def downloads_for_page(*, challenge: Challenge, phase: Phase | None, user) -> list[dict]:
    """What a page lists: each download with its URL and whether this viewer may fetch it."""
    rows = Download.objects.filter(challenge=challenge, phase=phase).select_related("challenge")
    return [_listed(d, user) for d in rows]


def downloads_for_phase_page(*, phase: Phase, user) -> tuple[list[dict], list[dict]]:
    """The challenge's downloads and the phase's, as :func:`downloads_for_page` lists each,
    in one query: the phase page, reloaded by a whole crowd at a deadline, shows both."""
    rows = (
        Download.objects.filter(Q(phase__isnull=True) | Q(phase=phase), challenge=phase.challenge)
        .select_related("challenge")
        # The model's ordering within one (challenge, phase), without its join to the phase.
        .order_by("order", "id")
    )
    listed = [(d.phase_id, _listed(d, user)) for d in rows]
    return (
        [row for phase_id, row in listed if phase_id is None],
        [row for phase_id, row in listed if phase_id is not None],
    )
