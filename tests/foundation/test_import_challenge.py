"""``manage.py import_challenge``: good files, re-imports and every kind of bad file."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from evalserver.challenges.models import Challenge, Phase
from evalserver.scoring.classes import TINYVIRAT_V2_CLASSES
from tests.factories import SubmissionFactory

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]

VALIDATION = [
    {"id": "00001", "video_id": "v1", "path": "v1/00001.mp4", "dim": [64, 40, 50],
     "label": ["activity_walking"]},
    {"id": "00004", "video_id": "v1", "path": "v1/00004.mp4", "dim": [80, 30, 70],
     "label": ["activity_standing", "Talking"]},
    {"id": "00007", "video_id": "v2", "path": "v2/00007.mp4", "dim": [32, 20, 22],
     "label": ["vehicle_moving"], "clip_id": 17},
]  # fmt: skip
TEST = [
    {"id": f"{i:05d}", "video_id": "v9", "path": f"v9/{i:05d}.mp4", "dim": [50, 50, 50],
     "label": ["activity_carrying"] if i % 2 else ["Opening", "Closing"]}
    for i in range(5)
]  # fmt: skip
DETECTION = [
    {"id": "00007", "dim": [96, 120, 120],
     "tubes": [{"label": "activity_walking", "start": 4, "end": 6,
                "boxes": [[10, 12, 30, 60], [11, 12, 31, 60], [12, 13, 32, 61]]}]},
]  # fmt: skip

CHALLENGE_YAML = """\
slug: tinyactions-2021
title: TinyActions Challenge 2021
description: Recognize tiny actions in low-resolution surveillance video.
phases:
  - slug: dev
    name: Validation
    track: classification
    labels: tiny_val_v2.json
    starts_at: 2021-03-01T00:00:00Z
    ends_at: 2021-06-12T23:59:59Z
    max_submissions_per_day: 5
    max_submissions_total: 100
    leaderboard: public
  - slug: test
    name: Test
    track: classification
    labels: private/tiny_test_v2_private.json
    starts_at: "2021-06-13T00:00:00+02:00"
    ends_at: 2021-07-01T00:00:00Z
    leaderboard: private
"""


def _json(obj) -> bytes:
    return json.dumps(obj, indent=2).encode()


@pytest.fixture
def folder(tmp_path) -> Path:
    """A challenge definition the way an organizer ships it, labels in a subfolder too."""
    folder = tmp_path / "definition"
    (folder / "private").mkdir(parents=True)
    (folder / "challenge.yaml").write_text(CHALLENGE_YAML)
    (folder / "tiny_val_v2.json").write_bytes(_json(VALIDATION))
    (folder / "private" / "tiny_test_v2_private.json").write_bytes(_json(TEST))
    return folder


def _import(folder: Path) -> str:
    from io import StringIO

    out = StringIO()
    call_command("import_challenge", str(folder / "challenge.yaml"), stdout=out)
    return out.getvalue()


def _problems(folder: Path) -> str:
    with pytest.raises(CommandError) as excinfo:
        _import(folder)
    return str(excinfo.value)


def _edit(folder: Path, old: str, new: str) -> None:
    path = folder / "challenge.yaml"
    text = path.read_text()
    assert old in text, f"{old!r} is not in the YAML"
    path.write_text(text.replace(old, new, 1))


def _stored_files() -> set[str]:
    root = Path(settings.LABELS_ROOT)
    if not root.exists():
        return set()
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


# --- A good file ---------------------------------------------------------------------------


def test_a_good_file_creates_the_challenge_its_phases_and_their_labels(folder):
    out = _import(folder)

    challenge = Challenge.objects.get(slug="tinyactions-2021")
    assert challenge.title == "TinyActions Challenge 2021"
    assert challenge.class_names == list(TINYVIRAT_V2_CLASSES)
    dev, test = challenge.phases.order_by("order")
    assert (dev.slug, dev.name, dev.track) == ("dev", "Validation", "classification")
    assert dev.starts_at.isoformat() == "2021-03-01T00:00:00+00:00"
    assert dev.ends_at.isoformat() == "2021-06-12T23:59:59+00:00"
    assert (dev.max_submissions_per_day, dev.max_submissions_total) == (5, 100)
    assert dev.leaderboard_visibility == Phase.Visibility.PUBLIC
    assert test.starts_at.isoformat() == "2021-06-12T22:00:00+00:00"
    assert test.leaderboard_visibility == Phase.Visibility.PRIVATE
    assert (dev.n_items, test.n_items) == (3, 5)

    raw = (folder / "tiny_val_v2.json").read_bytes()
    assert dev.labels_sha256 == hashlib.sha256(raw).hexdigest()
    assert dev.labels_file.name == f"phase-{dev.pk}/labels-{dev.labels_sha256[:12]}.json"
    assert dev.labels_compact_file.name.endswith(".npz")
    assert (Path(settings.LABELS_ROOT) / dev.labels_file.name).read_bytes() == raw
    assert _stored_files() == {
        dev.labels_file.name,
        dev.labels_compact_file.name,
        test.labels_file.name,
        test.labels_compact_file.name,
    }
    assert "challenge tinyactions-2021: created" in out
    assert "phase dev: created" in out
    assert "phase test: created" in out


def test_reimporting_the_same_file_changes_nothing(folder):
    _import(folder)
    before = {p.slug: (p.updated_at, p.labels_file.name) for p in Phase.objects.all()}
    files = _stored_files()

    out = _import(folder)

    assert {p.slug: (p.updated_at, p.labels_file.name) for p in Phase.objects.all()} == before
    assert _stored_files() == files
    assert Challenge.objects.count() == 1
    assert Phase.objects.count() == 2
    assert "challenge tinyactions-2021: unchanged" in out
    assert "phase dev: unchanged" in out


def test_reimporting_with_changed_dates_updates_the_phase(folder):
    _import(folder)
    _edit(folder, "ends_at: 2021-06-12T23:59:59Z", "ends_at: 2021-06-20T12:00:00Z")

    out = _import(folder)

    dev = Phase.objects.get(slug="dev")
    assert dev.ends_at.isoformat() == "2021-06-20T12:00:00+00:00"
    assert "phase dev: updated" in out
    assert "phase test: unchanged" in out


def test_reimporting_changed_labels_replaces_the_stored_file_and_sha(
    folder, django_capture_on_commit_callbacks
):
    _import(folder)
    old = Phase.objects.get(slug="dev")
    fixed = [*VALIDATION, {"id": "00009", "label": ["Riding"]}]
    (folder / "tiny_val_v2.json").write_bytes(_json(fixed))

    with django_capture_on_commit_callbacks(execute=True):
        out = _import(folder)

    dev = Phase.objects.get(slug="dev")
    assert dev.labels_sha256 == hashlib.sha256(_json(fixed)).hexdigest()
    assert dev.labels_sha256 != old.labels_sha256
    assert dev.n_items == 4
    assert (Path(settings.LABELS_ROOT) / dev.labels_file.name).read_bytes() == _json(fixed)
    # The replaced files are removed once the new ones are committed.
    assert old.labels_file.name not in _stored_files()
    assert old.labels_compact_file.name not in _stored_files()
    assert dev.labels_file.name in _stored_files()
    assert "phase dev: labels replaced" in out


def test_keys_the_file_leaves_out_keep_what_organizers_set_in_the_admin(folder):
    _import(folder)
    Phase.objects.filter(slug="dev").update(is_open=False, max_upload_bytes=12345)

    _import(folder)

    dev = Phase.objects.get(slug="dev")
    assert dev.is_open is False
    assert dev.max_upload_bytes == 12345


def test_phases_missing_from_the_file_are_left_alone(folder):
    _import(folder)
    text = (folder / "challenge.yaml").read_text()
    (folder / "challenge.yaml").write_text(text[: text.index("  - slug: test")])

    out = _import(folder)

    assert Phase.objects.filter(slug="test").exists()
    assert "phase test: in the database but not in the file" in out


def test_optional_keys_and_a_null_limit(folder):
    _edit(folder, "    max_submissions_per_day: 5\n", "    max_submissions_per_day: null\n")
    _edit(folder, "    leaderboard: public\n", "    leaderboard: public\n    is_open: false\n")
    _import(folder)
    dev = Phase.objects.get(slug="dev")
    assert dev.max_submissions_per_day is None
    assert dev.is_open is False


def test_a_class_map_replaces_the_default_classes(folder):
    (folder / "classes.json").write_bytes(_json({"walk": 0, "stand": 1, "talk": 2}))
    _edit(folder, "phases:", "class_map: classes.json\nphases:")
    (folder / "tiny_val_v2.json").write_bytes(
        _json([{"id": "00001", "label": ["walk"]}, {"id": "00002", "label": ["stand", "talk"]}])
    )
    (folder / "private" / "tiny_test_v2_private.json").write_bytes(
        _json([{"id": "00000", "label": ["talk"]}])
    )

    _import(folder)

    assert Challenge.objects.get().class_names == ["walk", "stand", "talk"]


def test_a_detection_phase_takes_tube_labels(folder):
    (folder / "det.json").write_bytes(_json(DETECTION))
    _edit(
        folder,
        "    track: classification\n    labels: private/tiny_test_v2_private.json",
        "    track: detection\n    labels: det.json",
    )
    _import(folder)
    test = Phase.objects.get(slug="test")
    assert (test.track, test.n_items) == ("detection", 1)


# --- Bad files: nothing is imported, and the message names the problem --------------------


def _assert_nothing_imported():
    assert not Challenge.objects.exists()
    assert not Phase.objects.exists()
    assert _stored_files() == set()


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("title: TinyActions", "title: [TinyActions", "challenge.yaml: not valid YAML"),
        ("title:", "tilte:", "unknown key 'tilte'"),
        ("title: TinyActions Challenge 2021\n", "", "challenge.yaml: missing key 'title'"),
        ("    name: Validation\n", "", "phase dev: missing key 'name'"),
        ("    leaderboard: public\n", "    leaderboard: public\n    color: red\n",
         "phase dev: unknown key 'color'"),
        ("starts_at: 2021-03-01T00:00:00Z", "starts_at: 2021-03-01T00:00:00",
         "phase dev: starts_at 2021-03-01T00:00:00 has no time zone"),
        ('starts_at: "2021-06-13T00:00:00+02:00"', 'starts_at: "2021-06-13T00:00:00"',
         "phase test: starts_at 2021-06-13T00:00:00 has no time zone"),
        ("starts_at: 2021-03-01T00:00:00Z", "starts_at: 2021-03-01",
         "phase dev: starts_at 2021-03-01 is a date without a time and zone"),
        ("starts_at: 2021-03-01T00:00:00Z", "starts_at: next monday",
         "phase dev: starts_at 'next monday' is not an ISO 8601 time"),
        ("ends_at: 2021-06-12T23:59:59Z", "ends_at: 2021-02-01T00:00:00Z",
         "phase dev: ends_at (2021-02-01T00:00:00+00:00) must be after starts_at"),
        ("ends_at: 2021-06-12T23:59:59Z", "ends_at: 2021-03-01T00:00:00Z",
         "phase dev: ends_at (2021-03-01T00:00:00+00:00) must be after starts_at"),
        ("track: classification", "track: recognition",
         "phase dev: track must be one of classification, detection, not 'recognition'"),
        ("leaderboard: public", "leaderboard: secret",
         "phase dev: leaderboard must be one of public, private, not 'secret'"),
        ("max_submissions_per_day: 5", "max_submissions_per_day: five",
         "phase dev: max_submissions_per_day must be a whole number of at least 1"),
        ("max_submissions_total: 100", "max_submissions_total: 0",
         "phase dev: max_submissions_total must be a whole number of at least 1"),
        ("max_submissions_total: 100", "max_submissions_total: true",
         "phase dev: max_submissions_total must be a whole number"),
        ("  - slug: test", "  - slug: dev", "phase dev: slug is used twice (phases[0] and [1])"),
        ("  - slug: test", "  - slug: te st", "slug 'te st' may hold only letters"),
        ("title: TinyActions Challenge 2021", "title: A\ntitle: B", "key 'title' is given twice"),
        ("    labels: tiny_val_v2.json", "    labels: nowhere.json",
         "phase dev: labels file 'nowhere.json' not found"),
        ("    labels: tiny_val_v2.json", "    labels: private",
         "phase dev: labels 'private' is a folder, not a file"),
        ("phases:\n", "phases: []\nignored:\n", "phases must be a non-empty list"),
    ],
)  # fmt: skip
def test_a_bad_definition_is_refused_naming_the_problem(folder, old, new, expected):
    _edit(folder, old, new)
    assert expected in _problems(folder)
    _assert_nothing_imported()


def test_a_file_that_is_not_a_mapping_is_refused(folder):
    (folder / "challenge.yaml").write_text("- just\n- a list\n")
    assert "challenge.yaml: must be a mapping" in _problems(folder)


def test_a_missing_definition_file_is_refused(tmp_path):
    with pytest.raises(CommandError, match="cannot be read"):
        call_command("import_challenge", str(tmp_path / "nope.yaml"))


def test_every_problem_is_reported_at_once(folder):
    _edit(folder, "track: classification", "track: recognition")
    _edit(folder, "leaderboard: private", "leaderboard: secret")
    message = _problems(folder)
    assert "nothing imported; 2 problems" in message
    assert "phase dev: track" in message
    assert "phase test: leaderboard" in message


@pytest.mark.parametrize(
    ("records", "expected"),
    [
        ([{"id": "00001", "label": ["Nope"]}],
         "tiny_val_v2.json (phase dev): record 1 (id '00001'): unknown class 'Nope'"),
        ([{"video_id": "v1", "label": ["Pull"]}],
         "tiny_val_v2.json (phase dev): record 1: has no 'id'"),
        ([{"id": "00001", "label": ["Pull"]}, {"id": "00001", "label": ["Push"]}],
         "tiny_val_v2.json (phase dev): record 2 (id '00001'): duplicate id"),
        ({"not": "a list"}, "tiny_val_v2.json (phase dev): the labels file must be a JSON list"),
    ],
)  # fmt: skip
def test_a_bad_label_file_is_refused_naming_file_phase_and_record(folder, records, expected):
    (folder / "tiny_val_v2.json").write_bytes(_json(records))
    assert expected in _problems(folder)
    _assert_nothing_imported()


def test_a_label_file_that_is_not_json_is_refused(folder):
    (folder / "private" / "tiny_test_v2_private.json").write_bytes(b"[{")
    assert "tiny_test_v2_private.json (phase test): the labels file is not valid JSON" in (
        _problems(folder)
    )
    _assert_nothing_imported()


@pytest.mark.parametrize(
    ("class_map", "expected"),
    [
        (b"{not json", "classes.json: class map is not valid JSON"),
        (_json({"walk": 0, "stand": 2}), "classes.json: class ids must run 0..1"),
        (_json({"walk": 0, "stand": 0}), "classes.json: class 'stand': id 0 is already used"),
        (_json(["walk", "stand"]), "classes.json: class map must be a non-empty JSON object"),
    ],
)
def test_a_bad_class_map_is_refused(folder, class_map, expected):
    (folder / "classes.json").write_bytes(class_map)
    _edit(folder, "phases:", "class_map: classes.json\nphases:")
    assert expected in _problems(folder)
    _assert_nothing_imported()


def test_labels_are_checked_against_the_class_map(folder):
    (folder / "classes.json").write_bytes(_json({"walk": 0, "stand": 1}))
    _edit(folder, "phases:", "class_map: classes.json\nphases:")
    message = _problems(folder)
    assert "tiny_val_v2.json (phase dev): record 1 (id '00001'): unknown class" in message


def test_a_missing_class_map_is_refused(folder):
    _edit(folder, "phases:", "class_map: classes.json\nphases:")
    assert "class_map file 'classes.json' not found" in _problems(folder)


def test_a_failed_reimport_leaves_the_previous_import_in_place(folder):
    _import(folder)
    before = {p.slug: (p.ends_at, p.labels_sha256) for p in Phase.objects.all()}
    files = _stored_files()
    (folder / "tiny_val_v2.json").write_bytes(_json([*VALIDATION, {"id": "00099"}]))
    _edit(folder, "ends_at: 2021-06-12T23:59:59Z", "ends_at: 2021-06-30T00:00:00Z")

    assert "record 4 (id '00099')" in _problems(folder)

    assert {p.slug: (p.ends_at, p.labels_sha256) for p in Phase.objects.all()} == before
    assert _stored_files() == files


def test_files_written_before_a_failing_transaction_are_removed(folder):
    _import(folder)
    test = Phase.objects.get(slug="test")
    SubmissionFactory(phase=test)
    files = _stored_files()
    sha_before = Phase.objects.get(slug="dev").labels_sha256
    # dev's labels change (new files written first), then test's track change is refused
    # inside the same transaction because the phase already has submissions.
    (folder / "tiny_val_v2.json").write_bytes(_json(VALIDATION[:2]))
    (folder / "det.json").write_bytes(_json(DETECTION))
    _edit(
        folder,
        "    track: classification\n    labels: private/tiny_test_v2_private.json",
        "    track: detection\n    labels: det.json",
    )

    message = _problems(folder)

    assert "phase test: track cannot change from classification to detection" in message
    assert _stored_files() == files
    assert Phase.objects.get(slug="dev").labels_sha256 == sha_before


def test_classes_cannot_change_once_there_are_submissions(folder):
    _import(folder)
    SubmissionFactory(phase=Phase.objects.get(slug="dev"))
    names = {name: i for i, name in enumerate(reversed(TINYVIRAT_V2_CLASSES))}
    (folder / "classes.json").write_bytes(_json(names))
    _edit(folder, "phases:", "class_map: classes.json\nphases:")

    assert "changing its classes would change what their columns mean" in _problems(folder)
    assert Challenge.objects.get().class_names == list(TINYVIRAT_V2_CLASSES)


def test_the_command_exits_non_zero_with_the_problems_on_stderr(folder, tmp_path):
    _edit(folder, "track: classification", "track: recognition")
    result = subprocess.run(
        [sys.executable, "manage.py", "import_challenge", str(folder / "challenge.yaml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={
            **{k: v for k, v in os.environ.items() if k != "DATABASE_URL"},
            "EVALSERVER_DATA_DIR": str(tmp_path / "data"),
        },
    )
    assert result.returncode != 0
    assert result.stdout == ""
    assert "phase dev: track must be one of classification, detection" in result.stderr
