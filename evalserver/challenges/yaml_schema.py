"""Reading and checking a challenge definition (CONTRACT section 2).

``load_definition`` turns a YAML file into plain values for the models, or raises
``ChallengeDefinitionInvalid`` listing every problem it found, each naming the file,
the phase and the key at fault. It reads the files the YAML names (class map, label
files) but validates label contents only in the service, with the scoring library.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from evalserver.errors import ValidationFailed
from evalserver.scoring.classes import TINYVIRAT_V2_CLASSES, parse_class_map
from evalserver.scoring.errors import LabelsInvalid

_SLUG = re.compile(r"^[-a-zA-Z0-9_]+\Z")
TRACKS = ("classification", "detection")
LEADERBOARDS = ("public", "private")
# The scoring library's detection protocols (kept literal: no import of the track module).
DETECTION_PROTOCOLS = ("voc", "act")

CHALLENGE_REQUIRED = ("slug", "title", "phases")
CHALLENGE_OPTIONAL = ("description", "class_map", "max_team_size", "is_published", "downloads")
PHASE_REQUIRED = ("slug", "name", "track", "labels", "starts_at", "ends_at")
PHASE_OPTIONAL = (
    "description",
    "max_submissions_per_day",
    "max_submissions_total",
    "leaderboard",
    "is_open",
    "max_upload_bytes",
    "detection_protocol",
    "downloads",
)
DOWNLOAD_REQUIRED = ("name", "file")
DOWNLOAD_OPTIONAL = ("description", "audience")
AUDIENCES = ("everyone", "participants")
# A plain file name: it becomes the last part of the download's URL and the saved name.
_DOWNLOAD_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}\Z")


class ChallengeDefinitionInvalid(ValidationFailed):
    """A challenge YAML (or a file it names) is wrong; ``problems`` lists every problem."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True)
class DownloadSpec:
    """A public file the YAML declares (CONTRACT section 5), read and checked."""

    name: str
    description: str
    audience: str
    path: Path
    data: bytes


@dataclass(frozen=True)
class PhaseSpec:
    slug: str
    # Model field values for the keys the file gives; keys it leaves out keep what the
    # database has (an organizer's switch in the admin is not undone by a re-import).
    values: dict[str, Any]
    labels_path: Path
    labels_data: bytes
    downloads: list[DownloadSpec] = field(default_factory=list)


@dataclass(frozen=True)
class ChallengeDefinition:
    slug: str
    challenge: dict[str, Any]
    class_names: list[str]
    phases: list[PhaseSpec]
    downloads: list[DownloadSpec] = field(default_factory=list)


class _StrictLoader(yaml.SafeLoader):
    """A safe loader that refuses a key given twice instead of keeping the last one."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False):
    seen: list[Any] = []
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        # A list, not a set: YAML allows unhashable keys and they must not crash the check.
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} is given twice", key_node.start_mark
            )
        seen.append(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,  # type: ignore[arg-type]
)


class _Checker:
    def __init__(self, path: Path):
        self.path = path
        self.base = path.parent
        self.problems: list[str] = []

    def problem(self, where: str, message: str) -> None:
        self.problems.append(f"{self.path.name}: {where}{message}")

    def keys(self, obj: dict, where: str, required: tuple, optional: tuple) -> None:
        for key in obj:
            if key not in required and key not in optional:
                known = ", ".join((*required, *optional))
                self.problem(where, f"unknown key {key!r} (known keys: {known})")
        for key in required:
            if key not in obj:
                self.problem(where, f"missing key {key!r}")

    def string(self, obj: dict, key: str, where: str, *, max_length: int | None = None):
        value = obj.get(key)
        if not isinstance(value, str) or not value.strip():
            self.problem(where, f"{key} must be a non-empty string, not {value!r}")
            return None
        if max_length is not None and len(value) > max_length:
            self.problem(where, f"{key} is longer than {max_length} characters")
            return None
        return value

    def slug(self, obj: dict, where: str) -> str | None:
        value = self.string(obj, "slug", where, max_length=80)
        if value is not None and not _SLUG.match(value):
            self.problem(where, f"slug {value!r} may hold only letters, digits, '-' and '_'")
            return None
        return value

    def integer(self, obj: dict, key: str, where: str, *, nullable: bool = False):
        value = obj[key]
        if value is None and nullable:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            allowed = "a whole number of at least 1" + (" or null (no limit)" if nullable else "")
            self.problem(where, f"{key} must be {allowed}, not {value!r}")
            return _INVALID
        return value

    def boolean(self, obj: dict, key: str, where: str):
        value = obj[key]
        if not isinstance(value, bool):
            self.problem(where, f"{key} must be true or false, not {value!r}")
            return _INVALID
        return value

    def choice(self, obj: dict, key: str, where: str, choices: tuple[str, ...]):
        value = obj[key]
        if value not in choices:
            self.problem(where, f"{key} must be one of {', '.join(choices)}, not {value!r}")
            return _INVALID
        return value

    def moment(self, obj: dict, key: str, where: str) -> dt.datetime | None:
        value = obj.get(key)
        if isinstance(value, str):
            try:
                value = dt.datetime.fromisoformat(value.strip())
            except ValueError:
                self.problem(
                    where, f"{key} {value!r} is not an ISO 8601 time such as 2021-03-01T00:00:00Z"
                )
                return None
        if isinstance(value, dt.datetime):
            if value.tzinfo is None or value.utcoffset() is None:
                self.problem(
                    where,
                    f"{key} {value.isoformat()} has no time zone; "
                    "add one, e.g. Z for UTC or +02:00",
                )
                return None
            return value.astimezone(dt.UTC)
        if isinstance(value, dt.date):
            self.problem(
                where,
                f"{key} {value.isoformat()} is a date without a time and zone; "
                "write e.g. 2021-03-01T00:00:00Z",
            )
            return None
        self.problem(where, f"{key} must be an ISO 8601 time with a zone, not {value!r}")
        return None

    def downloads(self, obj: dict, where: str) -> list[DownloadSpec]:
        """The ``downloads:`` list of a challenge or phase; every problem is recorded."""
        raw = obj.get("downloads")
        if raw is None:
            return []
        if not isinstance(raw, list):
            self.problem(where, "downloads must be a list of {name, file, description}")
            return []
        out: list[DownloadSpec] = []
        seen: set[str] = set()
        for index, item in enumerate(raw):
            at = f"{where}downloads[{index}]: "
            if not isinstance(item, dict):
                self.problem(at, f"must be a mapping with name and file, not {item!r}")
                continue
            self.keys(item, at, DOWNLOAD_REQUIRED, DOWNLOAD_OPTIONAL)
            name = self.string(item, "name", at) if "name" in item else None
            if name is not None and not _DOWNLOAD_NAME.match(name):
                self.problem(
                    at,
                    f"name {name!r} must be a plain file name of at most 100 letters, "
                    "digits, '.', '_' and '-' (no folders, not starting with '.')",
                )
                name = None
            if name is not None:
                if name in seen:
                    self.problem(at, f"name {name!r} is used twice")
                seen.add(name)
            description = item.get("description") or ""
            if not isinstance(description, str):
                self.problem(at, f"description must be a string, not {description!r}")
            audience = item.get("audience", "everyone")
            if audience not in AUDIENCES:
                self.problem(
                    at, f"audience must be one of {', '.join(AUDIENCES)}, not {audience!r}"
                )
            rel = self.string(item, "file", at) if "file" in item else None
            found = self.relative_file(rel, at, "file") if rel else None
            if found is not None and name is not None:
                out.append(
                    DownloadSpec(
                        name=name,
                        description=description if isinstance(description, str) else "",
                        audience=audience,
                        path=found[0],
                        data=found[1],
                    )
                )
        return out

    def relative_file(self, rel: str, where: str, key: str) -> tuple[Path, bytes] | None:
        """A file inside the YAML's folder: no absolute path, no '..', no link out of it."""
        parts = Path(rel).parts
        if Path(rel).is_absolute() or rel.startswith(("/", "\\")) or ".." in parts:
            self.problem(
                where, f"{key} {rel!r} must be a path relative to the YAML file, without '..'"
            )
            return None
        base = self.base.resolve()
        target = (base / rel).resolve()
        if not target.is_relative_to(base):
            self.problem(where, f"{key} {rel!r} leads outside the YAML file's folder")
            return None
        return self.read_file(rel, where, key)

    def read_file(self, rel: str, where: str, key: str) -> tuple[Path, bytes] | None:
        file_path = (self.base / rel).resolve()
        try:
            return file_path, file_path.read_bytes()
        except FileNotFoundError:
            self.problem(where, f"{key} file {rel!r} not found (looked for {file_path})")
        except IsADirectoryError:
            self.problem(where, f"{key} {rel!r} is a folder, not a file")
        except OSError as exc:
            self.problem(where, f"{key} file {rel!r} cannot be read: {exc.strerror}")
        return None


# Marks a value already reported as wrong, distinct from a legitimate None (no limit).
_INVALID = object()


def load_definition(path: Path) -> ChallengeDefinition:
    path = Path(path)
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise ChallengeDefinitionInvalid([f"{path}: cannot be read: {exc.strerror}"]) from None
    try:
        doc = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ChallengeDefinitionInvalid([f"{path.name}: not valid YAML: {exc}"]) from None
    check = _Checker(path)
    if not isinstance(doc, dict):
        check.problem("", "must be a mapping with keys slug, title, phases, ...")
        raise ChallengeDefinitionInvalid(check.problems)

    check.keys(doc, "", CHALLENGE_REQUIRED, CHALLENGE_OPTIONAL)
    slug = check.slug(doc, "") if "slug" in doc else None
    challenge: dict[str, Any] = {}
    if "title" in doc:
        challenge["title"] = check.string(doc, "title", "", max_length=200)
    if "description" in doc:
        value = doc["description"]
        if value is None:
            value = ""
        if not isinstance(value, str):
            check.problem("", f"description must be a string, not {value!r}")
        challenge["description"] = value
    if "max_team_size" in doc:
        challenge["max_team_size"] = check.integer(doc, "max_team_size", "")
    if "is_published" in doc:
        challenge["is_published"] = check.boolean(doc, "is_published", "")

    class_names = list(TINYVIRAT_V2_CLASSES)
    if "class_map" in doc:
        rel = check.string(doc, "class_map", "")
        found = check.read_file(rel, "", "class_map") if rel else None
        if found is not None:
            try:
                class_names = parse_class_map(found[1])
            except LabelsInvalid as exc:
                check.problems += [f"{rel}: {err}" for err in exc.errors]
    challenge["class_names"] = class_names
    challenge_downloads = check.downloads(doc, "")

    phases: list[PhaseSpec] = []
    raw_phases = doc.get("phases")
    if "phases" in doc and (not isinstance(raw_phases, list) or not raw_phases):
        check.problem("", "phases must be a non-empty list of phases")
        raw_phases = []
    seen_slugs: dict[str, int] = {}
    labels_files: list[tuple[Path, bytes]] = []
    for index, raw in enumerate(raw_phases or []):
        where = f"phases[{index}]: "
        if not isinstance(raw, dict):
            check.problem(where, f"must be a mapping, not {raw!r}")
            continue
        phase_slug = check.slug(raw, where) if "slug" in raw else None
        if phase_slug is not None:
            where = f"phase {phase_slug}: "
            if phase_slug in seen_slugs:
                check.problem(
                    where, f"slug is used twice (phases[{seen_slugs[phase_slug]}] and [{index}])"
                )
            seen_slugs.setdefault(phase_slug, index)
        check.keys(raw, where, PHASE_REQUIRED, PHASE_OPTIONAL)
        values: dict[str, Any] = {"order": index}
        if "name" in raw:
            values["name"] = check.string(raw, "name", where, max_length=200)
        if "track" in raw:
            values["track"] = check.choice(raw, "track", where, TRACKS)
        starts_at = check.moment(raw, "starts_at", where) if "starts_at" in raw else None
        ends_at = check.moment(raw, "ends_at", where) if "ends_at" in raw else None
        if starts_at is not None and ends_at is not None and ends_at <= starts_at:
            check.problem(
                where,
                f"ends_at ({ends_at.isoformat()}) must be after starts_at "
                f"({starts_at.isoformat()})",
            )
        values["starts_at"], values["ends_at"] = starts_at, ends_at
        if "description" in raw:
            value = raw["description"] if raw["description"] is not None else ""
            if not isinstance(value, str):
                check.problem(where, f"description must be a string, not {value!r}")
            values["description"] = value
        for key in ("max_submissions_per_day", "max_submissions_total"):
            if key in raw:
                values[key] = check.integer(raw, key, where, nullable=True)
        if "max_upload_bytes" in raw:
            values["max_upload_bytes"] = check.integer(raw, "max_upload_bytes", where)
        if "leaderboard" in raw:
            values["leaderboard_visibility"] = check.choice(raw, "leaderboard", where, LEADERBOARDS)
        if "is_open" in raw:
            values["is_open"] = check.boolean(raw, "is_open", where)
        if "detection_protocol" in raw:
            protocol = check.choice(raw, "detection_protocol", where, DETECTION_PROTOCOLS)
            if protocol is not _INVALID and raw.get("track") != "detection":
                check.problem(
                    where,
                    "detection_protocol applies to detection phases only "
                    f"(this phase's track is {raw.get('track')!r})",
                )
            values["detection_protocol"] = protocol
        found = None
        if "labels" in raw:
            rel = check.string(raw, "labels", where)
            found = check.read_file(rel, where, "labels") if rel else None
        phase_downloads = check.downloads(raw, where)
        if found is not None:
            labels_files.append(found)
        if found is not None and phase_slug is not None:
            phases.append(
                PhaseSpec(
                    slug=phase_slug,
                    values=values,
                    labels_path=found[0],
                    labels_data=found[1],
                    downloads=phase_downloads,
                )
            )
    _refuse_label_downloads(
        check, [*challenge_downloads, *(d for p in phases for d in p.downloads)], labels_files
    )
    if check.problems:
        raise ChallengeDefinitionInvalid(check.problems)
    assert slug is not None
    return ChallengeDefinition(
        slug=slug,
        challenge=challenge,
        class_names=class_names,
        phases=phases,
        downloads=challenge_downloads,
    )


def _refuse_label_downloads(
    check: _Checker, downloads: list[DownloadSpec], labels_files: list[tuple[Path, bytes]]
) -> None:
    """A hidden label file is never a download: not by its path, nor by a copy of its bytes."""
    paths = {path for path, _ in labels_files}
    digests = {hashlib.sha256(data).digest() for _, data in labels_files}
    for download in downloads:
        if download.path in paths or hashlib.sha256(download.data).digest() in digests:
            check.problem(
                "",
                f"download {download.name!r}: {download.path.name} is a hidden label file "
                "of a phase; it can never be a download",
            )
