"""Writes for challenges and phases: hidden labels and challenge definitions.

Hidden label files live on the "labels" storage, which has no URL. Stored files are
looked up through ``storages["labels"]`` at call time rather than through the model
field's storage, which Django binds once at import (tests and deployments that change
STORAGES would otherwise read and write the wrong place).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.db import transaction

from evalserver import scoring
from evalserver.challenges import downloads
from evalserver.challenges.models import Challenge, Phase
from evalserver.challenges.yaml_schema import ChallengeDefinitionInvalid, load_definition
from evalserver.scoring.errors import LabelsInvalid

LABELS_STORAGE = "labels"


def _labels_storage():
    return storages[LABELS_STORAGE]


@dataclass(frozen=True)
class _PreparedLabels:
    """A validated label file and the names it would be stored under."""

    data: bytes
    compact: bytes
    sha256: str
    n_items: int
    raw_suffix: str
    compact_key: str

    def raw_name(self, phase: Phase) -> str:
        return f"phase-{phase.pk}/labels-{self.sha256[:12]}{self.raw_suffix}"

    def compact_name(self, phase: Phase) -> str:
        return f"phase-{phase.pk}/labels-{self.compact_key[:12]}.npz"


def _suffix(filename: str) -> str:
    suffix = Path(filename).suffix.lower()
    return suffix if suffix in {".json", ".gz"} else ".json"


def _n_items(labels: Any) -> int:
    for attr in ("n_items", "ids"):
        value = getattr(labels, attr, None)
        if isinstance(value, int):
            return value
        if value is not None:
            return len(value)
    return len(labels)


def _prepare_labels(
    *, track: str, data: bytes, class_names: list[str], filename: str
) -> _PreparedLabels:
    """Validate a label file with the scoring library; raises ``LabelsInvalid``."""
    labels = scoring.load_labels(track, data, list(class_names))
    compact = labels.to_bytes()
    sha256 = hashlib.sha256(data).hexdigest()
    # The compact form depends on the class order as well as on the file: a new class map
    # must produce a new compact file (and a new cache key) even when the file is unchanged.
    compact_key = hashlib.sha256(
        sha256.encode() + b"\0" + json.dumps(list(class_names)).encode() + b"\0" + track.encode()
    ).hexdigest()
    return _PreparedLabels(
        data=data,
        compact=compact,
        sha256=sha256,
        n_items=_n_items(labels),
        raw_suffix=_suffix(filename),
        compact_key=compact_key,
    )


def _labels_unchanged(phase: Phase, prepared: _PreparedLabels) -> bool:
    return (
        phase.labels_sha256 == prepared.sha256
        and phase.labels_compact_file.name == prepared.compact_name(phase)
        and phase.n_items == prepared.n_items
    )


def _store_labels(*, phase: Phase, prepared: _PreparedLabels, written: list[str]) -> bool:
    """Write the files and point the phase at them; returns False when nothing changed.

    ``written`` receives the names of the new files so a caller whose transaction fails
    can delete them. The old files are deleted only once the new row is committed, so
    the database never points at a missing file.
    """
    if _labels_unchanged(phase, prepared):
        return False
    storage = _labels_storage()
    old_names = [n for n in (phase.labels_file.name, phase.labels_compact_file.name) if n]
    raw_name = storage.save(prepared.raw_name(phase), ContentFile(prepared.data))
    written.append(raw_name)
    compact_name = storage.save(prepared.compact_name(phase), ContentFile(prepared.compact))
    written.append(compact_name)
    phase.labels_file.name = raw_name
    phase.labels_compact_file.name = compact_name
    phase.labels_sha256 = prepared.sha256
    phase.n_items = prepared.n_items
    phase.save(
        update_fields=[
            "labels_file",
            "labels_compact_file",
            "labels_sha256",
            "n_items",
            "updated_at",
        ]
    )
    stale = [n for n in old_names if n not in (raw_name, compact_name)]
    if stale:
        transaction.on_commit(lambda: _delete_quietly(stale))
    return True


def _delete_quietly(names: list[str]) -> None:
    storage = _labels_storage()
    for name in names:
        # A leftover file wastes space but harms nobody; the row is what counts.
        with contextlib.suppress(OSError):
            storage.delete(name)


def _cleanup_on_failure(work: Callable[[list[str]], Any]) -> Any:
    """Run ``work(written)`` in a transaction; delete the files it wrote if that fails."""
    written: list[str] = []
    try:
        with transaction.atomic():
            return work(written)
    except BaseException:
        _delete_quietly(written)
        raise


def phase_set_labels(*, phase: Phase, data: bytes, filename: str = "labels.json") -> None:
    """Replace a phase's hidden labels after validating them against its class map.

    Raises ``evalserver.scoring.errors.LabelsInvalid`` listing what is wrong; nothing is
    stored then. Setting the same file again is a no-op.
    """
    prepared = _prepare_labels(
        track=phase.track,
        data=data,
        class_names=phase.challenge.class_names,
        filename=filename,
    )
    _cleanup_on_failure(
        lambda written: _store_labels(phase=phase, prepared=prepared, written=written)
    )


# --- Challenge definitions (import_challenge) ---------------------------------------------


@dataclass
class ImportReport:
    challenge: str
    challenge_created: bool = False
    challenge_updated: bool = False
    phases_created: list[str] = field(default_factory=list)
    phases_updated: list[str] = field(default_factory=list)
    phases_unchanged: list[str] = field(default_factory=list)
    labels_replaced: list[str] = field(default_factory=list)
    # Phases in the database that the file does not mention: never deleted by an import.
    phases_not_in_file: list[str] = field(default_factory=list)
    # "where: name", where is the challenge slug or the phase slug.
    downloads_created: list[str] = field(default_factory=list)
    downloads_updated: list[str] = field(default_factory=list)
    downloads_removed: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(
            self.challenge_created
            or self.challenge_updated
            or self.phases_created
            or self.phases_updated
            or self.labels_replaced
            or self.downloads_created
            or self.downloads_updated
            or self.downloads_removed
        )

    def lines(self) -> list[str]:
        if self.challenge_created:
            out = [f"challenge {self.challenge}: created"]
        elif self.challenge_updated:
            out = [f"challenge {self.challenge}: updated"]
        else:
            out = [f"challenge {self.challenge}: unchanged"]
        out += [f"phase {s}: created" for s in self.phases_created]
        out += [f"phase {s}: updated" for s in self.phases_updated]
        out += [f"phase {s}: unchanged" for s in self.phases_unchanged]
        out += [f"phase {s}: labels replaced" for s in self.labels_replaced]
        out += [
            f"phase {s}: in the database but not in the file; left as it is"
            for s in self.phases_not_in_file
        ]
        out += [f"download {s}: created" for s in self.downloads_created]
        out += [f"download {s}: updated" for s in self.downloads_updated]
        out += [f"download {s}: removed (no longer declared)" for s in self.downloads_removed]
        return out

    def add_downloads(self, where: str, change: downloads.DownloadChange) -> None:
        self.downloads_created += [f"{where}: {n}" for n in change.created]
        self.downloads_updated += [f"{where}: {n}" for n in change.updated]
        self.downloads_removed += [f"{where}: {n}" for n in change.removed]


_CHALLENGE_FIELDS = ("title", "description", "class_names", "max_team_size", "is_published")
# The settings of a phase its organizers choose: a challenge YAML sets them and the admin's
# phase form edits them, so a new one is added here for both.
PHASE_SETTINGS = (
    "name",
    "description",
    "track",
    "starts_at",
    "ends_at",
    "is_open",
    "max_submissions_per_day",
    "max_submissions_total",
    "max_upload_bytes",
    "leaderboard_visibility",
    "order",
    "detection_protocol",
)


def protocol_change_refused(*, phase: Phase, new: str) -> str:
    """Why a phase with submissions keeps its detection protocol.

    Its scores were computed under the old one: a board mixing both would rank
    submissions by different rules.
    """
    old = Phase.objects.filter(pk=phase.pk).values_list("detection_protocol", flat=True).first()
    return (
        f"phase {phase.slug}: detection_protocol cannot change from {old} to {new} once the "
        "phase has submissions (their scores were computed under the old protocol)"
    )


def _apply(obj, values: dict[str, Any], names: tuple[str, ...]) -> list[str]:
    changed = []
    for name in names:
        if name in values and getattr(obj, name) != values[name]:
            setattr(obj, name, values[name])
            changed.append(name)
    return changed


def challenge_import(*, path: Path) -> ImportReport:
    """Create or update the challenge a YAML file defines, with its phases and labels.

    Everything is validated first (the YAML, the class map and every label file) and
    all problems are reported together as ``ChallengeDefinitionInvalid``; only then are
    rows and files written, in one transaction.
    """
    definition = load_definition(path)
    problems: list[str] = []
    prepared: dict[str, _PreparedLabels] = {}
    for spec in definition.phases:
        try:
            prepared[spec.slug] = _prepare_labels(
                track=spec.values["track"],
                data=spec.labels_data,
                class_names=definition.class_names,
                filename=spec.labels_path.name,
            )
        except LabelsInvalid as exc:
            problems += [
                f"{spec.labels_path.name} (phase {spec.slug}): {err}" for err in exc.errors
            ]
    if problems:
        raise ChallengeDefinitionInvalid(problems)
    downloads.downloads_refuse_labels(
        specs=[*definition.downloads, *(d for p in definition.phases for d in p.downloads)]
    )
    stale_downloads: list[str] = []

    def work(written: list[str]) -> ImportReport:
        report = ImportReport(challenge=definition.slug)
        challenge = Challenge.objects.select_for_update().filter(slug=definition.slug).first()
        if challenge is None:
            challenge = Challenge.objects.create(slug=definition.slug, **definition.challenge)
            report.challenge_created = True
        else:
            changed = _apply(challenge, definition.challenge, _CHALLENGE_FIELDS)
            if "class_names" in changed and _has_submissions(challenge):
                raise ChallengeDefinitionInvalid(
                    [
                        f"class_map: challenge {challenge.slug} already has submissions; "
                        "changing its classes would change what their columns mean"
                    ]
                )
            if changed:
                challenge.save(update_fields=[*changed, "updated_at"])
                report.challenge_updated = True
        report.add_downloads(
            challenge.slug,
            downloads.downloads_store(
                challenge=challenge,
                phase=None,
                specs=definition.downloads,
                written=written,
                stale=stale_downloads,
            ),
        )

        existing = {
            p.slug: p for p in Phase.objects.select_for_update().filter(challenge=challenge)
        }
        for spec in definition.phases:
            phase = existing.pop(spec.slug, None)
            if phase is None:
                phase = Phase.objects.create(challenge=challenge, slug=spec.slug, **spec.values)
                report.phases_created.append(spec.slug)
            else:
                changed = _apply(phase, spec.values, PHASE_SETTINGS)
                if "track" in changed and phase.submissions.exists():
                    raise ChallengeDefinitionInvalid(
                        [
                            f"phase {spec.slug}: track cannot change from "
                            f"{Phase.objects.get(pk=phase.pk).track} to {phase.track} "
                            "once the phase has submissions"
                        ]
                    )
                if "detection_protocol" in changed and phase.submissions.exists():
                    raise ChallengeDefinitionInvalid(
                        [protocol_change_refused(phase=phase, new=phase.detection_protocol)]
                    )
                if changed:
                    phase.save(update_fields=[*changed, "updated_at"])
                    report.phases_updated.append(spec.slug)
            phase.challenge = challenge
            labels_changed = _store_labels(
                phase=phase, prepared=prepared[spec.slug], written=written
            )
            if labels_changed and spec.slug not in report.phases_created:
                report.labels_replaced.append(spec.slug)
            report.add_downloads(
                f"{challenge.slug}/{spec.slug}",
                downloads.downloads_store(
                    challenge=challenge,
                    phase=phase,
                    specs=spec.downloads,
                    written=written,
                    stale=stale_downloads,
                ),
            )
            if (
                spec.slug not in report.phases_created + report.phases_updated
                and not labels_changed
            ):
                report.phases_unchanged.append(spec.slug)
        report.phases_not_in_file = sorted(existing)
        if stale_downloads:
            stale = list(stale_downloads)
            transaction.on_commit(lambda: downloads.delete_quietly(stale))
        return report

    return _cleanup_on_failure(work)


def _has_submissions(challenge: Challenge) -> bool:
    from submissions.models import Submission

    return Submission.objects.filter(phase__challenge=challenge).exists()
