"""Detection phases through ``import_challenge`` and the admin's label replacement."""

from __future__ import annotations

import copy
import json
import random
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from evalserver import scoring
from evalserver.challenges import demo
from evalserver.challenges.models import Challenge, Phase
from evalserver.challenges.selectors import phase_labels
from evalserver.challenges.services import phase_set_labels
from evalserver.scoring.classes import TINYVIRAT_V2_CLASSES
from evalserver.scoring.errors import LabelsInvalid

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]

YAML = """\
slug: tinyactions-2022
title: TinyActions Challenge 2022
phases:
  - slug: det
    name: Detection
    track: detection
    labels: det.json
    starts_at: 2022-03-01T00:00:00Z
    ends_at: 2099-01-01T00:00:00Z
"""


@pytest.fixture
def records() -> list[dict]:
    return demo.detection_records(random.Random(5), [f"{i:05d}" for i in range(30)])


def _folder(tmp_path: Path, records: list[dict]) -> Path:
    (tmp_path / "challenge.yaml").write_text(YAML)
    (tmp_path / "det.json").write_text(json.dumps(records, indent=1))
    return tmp_path / "challenge.yaml"


def _import(path: Path) -> str:
    out = StringIO()
    call_command("import_challenge", str(path), stdout=out)
    return out.getvalue()


def _problems(path: Path) -> list[str]:
    with pytest.raises(CommandError) as excinfo:
        _import(path)
    assert not Challenge.objects.exists()
    return str(excinfo.value).splitlines()[1:]


def test_a_detection_phase_is_imported_with_its_tubes(tmp_path, records):
    out = _import(_folder(tmp_path, records))

    phase = Phase.objects.get(slug="det")
    assert "phase det: created" in out
    assert (phase.track, phase.n_items, phase.primary_metric) == ("detection", 30, "video_map")
    stored = phase_labels(phase=phase)
    direct = scoring.load_labels(
        "detection", json.dumps(records).encode(), list(TINYVIRAT_V2_CLASSES)
    )
    assert stored.clip_ids.tolist() == direct.clip_ids.tolist()
    assert stored.boxes.tolist() == direct.boxes.tolist()
    assert len(stored.tube_class) == sum(len(r["tubes"]) for r in records)
    # Importing the same file again changes nothing.
    assert "phase det: unchanged" in _import(tmp_path / "challenge.yaml")


def _tube(records: list[dict], index: int) -> tuple[dict, dict]:
    record = records[index]
    return record, record["tubes"][0]


def test_a_box_outside_the_frame_is_named(tmp_path, records):
    record, tube = _tube(records, 3)
    _frames, width, height = record["dim"]
    tube["boxes"][1] = [0, 0, width + 5, height]

    problems = _problems(_folder(tmp_path, records))

    assert problems == [
        f"  det.json (phase det): record 4 (id '{record['id']}') tube 1 "
        f"frame {tube['start'] + 1}: box [0, 0, {width + 5}, {height}] lies outside "
        f"the {width}x{height} frame"
    ]


def test_a_wrong_number_of_boxes_is_named(tmp_path, records):
    record, tube = _tube(records, 7)
    tube["boxes"].pop()
    n_frames = tube["end"] - tube["start"] + 1

    problems = _problems(_folder(tmp_path, records))

    assert problems == [
        f"  det.json (phase det): record 8 (id '{record['id']}') tube 1: has "
        f"{n_frames - 1} boxes but start..end spans {n_frames} frames "
        "(one box per frame is required)"
    ]


def test_an_unknown_label_is_named(tmp_path, records):
    record, tube = _tube(records, 11)
    tube["label"] = "activity_dancing"

    problems = _problems(_folder(tmp_path, records))

    assert problems == [
        f"  det.json (phase det): record 12 (id '{record['id']}') tube 1: "
        "unknown label 'activity_dancing'"
    ]


def test_every_bad_tube_is_listed_together(tmp_path, records):
    records[2]["tubes"][0]["label"] = "Dancing"
    records[5]["tubes"][0]["boxes"].append([0, 0, 1, 1])
    frames = records[9]["dim"][0]
    records[9]["tubes"][0]["end"] = frames

    problems = _problems(_folder(tmp_path, records))

    assert [p.split(":")[1].strip() for p in problems] == [
        "record 3 (id '00002') tube 1",
        "record 6 (id '00005') tube 1",
        "record 10 (id '00009') tube 1",
    ]


def test_a_recognition_file_on_a_detection_phase_is_named_once(tmp_path, records):
    recognition = [{k: v for k, v in r.items() if k != "tubes"} for r in records]

    problems = _problems(_folder(tmp_path, recognition))

    assert problems == [
        "  det.json (phase det): this looks like a recognition label file: no record has "
        "'tubes'; detection phases need a 'tubes' list in every record, one tube per actor "
        "and action ({'label', 'start', 'end', 'boxes'}; empty for a clip with no action)"
    ]


def test_a_record_missing_its_tubes_in_a_detection_file_is_named(tmp_path, records):
    del records[4]["tubes"]

    problems = _problems(_folder(tmp_path, records))

    assert problems == [
        "  det.json (phase det): record 5 (id '00004'): 'tubes' must be a list "
        "(empty for a clip with no action)"
    ]


def _classification_folder(tmp_path: Path, records: list[dict]) -> Path:
    (tmp_path / "challenge.yaml").write_text(
        YAML.replace("track: detection", "track: classification")
    )
    (tmp_path / "det.json").write_text(json.dumps(records, indent=1))
    return tmp_path / "challenge.yaml"


def test_a_detection_file_with_labels_on_a_classification_phase_is_its_recognition_labels(
    tmp_path, records
):
    # SPEC: detection records are the recognition records plus tubes, so a file that
    # carries both is valid ground truth for recognition; the tubes are ignored.
    _import(_classification_folder(tmp_path, records))

    phase = Phase.objects.get(slug="det")
    assert (phase.track, phase.n_items, phase.primary_metric) == ("classification", 30, "macro_f1")
    stored = phase_labels(phase=phase)
    assert stored.ids.tolist() == [r["id"] for r in records]
    for row, record in zip(stored.Y, records, strict=True):
        assert {TINYVIRAT_V2_CLASSES[c] for c in row.nonzero()[0]} == set(record["label"])


def test_a_tubes_only_file_on_a_classification_phase_is_named_once(tmp_path, records):
    tubes_only = [{k: v for k, v in r.items() if k != "label"} for r in records]

    problems = _problems(_classification_folder(tmp_path, tubes_only))

    assert problems == [
        "  det.json (phase det): this looks like a detection label file: records have "
        "'tubes' but none has 'label'; classification phases need a non-empty 'label' "
        "list of class names in every record"
    ]


def test_the_command_exits_non_zero_with_the_problem_on_stderr(tmp_path, records):
    records[0]["tubes"][0]["boxes"][0] = [5, 5, 5, 9]
    path = _folder(tmp_path, records)

    result = subprocess.run(
        [sys.executable, "manage.py", "import_challenge", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**_env(), "EVALSERVER_DATA_DIR": str(tmp_path / "data")},
    )

    assert result.returncode == 1
    assert result.stdout == ""
    assert "nothing imported; 1 problem" in result.stderr
    assert "record 1 (id '00000') tube 1 frame" in result.stderr
    assert "is degenerate (needs x2 > x1 and y2 > y1)" in result.stderr


def _env() -> dict[str, str]:
    import os

    # The embedded default (SQLite in the data folder): the command needs no server.
    return {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL",)}


def test_replacing_labels_from_the_admin_checks_them_the_same_way(detection, records):
    phase = detection.phase
    before = (phase.labels_sha256, phase.labels_compact_file.name)
    bad = copy.deepcopy(records)
    bad[4]["tubes"][0]["boxes"][0] = [-3, 0, 10, 10]

    with pytest.raises(LabelsInvalid) as excinfo:
        phase_set_labels(phase=phase, data=json.dumps(bad).encode(), filename="det.json")

    assert excinfo.value.errors[0].startswith("record 5 (id '00004') tube 1 frame")
    assert "lies outside the" in excinfo.value.errors[0]
    phase.refresh_from_db()
    assert (phase.labels_sha256, phase.labels_compact_file.name) == before
