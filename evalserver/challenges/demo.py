"""A synthetic TinyActions 2021 challenge for demos and tests.

The files follow the TinyVIRAT-v2 formats exactly (SPEC.md): a class map, recognition
ground truth for a validation phase (3,308 clips, ids with gaps) and a test phase (6,097
clips, ids 00000..06096), and the public test list without labels. Labels are drawn
with a fixed seed, so the files are byte-identical on every run and importing them
twice changes nothing. The class frequencies are skewed like the real data set: a few
person and vehicle activities dominate, and the rarest classes appear a handful of
times.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from evalserver.scoring.classes import TINYVIRAT_V2_CLASSES

SEED = 2021
N_VALIDATION = 3308
# Validation ids are drawn from this range, so about a quarter of the numbers are gaps.
VALIDATION_ID_RANGE = 4400
N_TEST = 6097
# Every class appears at least this often in each split, so no class has zero support.
MIN_SUPPORT = 3

# Relative frequencies, roughly the shape of TinyVIRAT-v2: walking, standing and moving
# vehicles are most of the data; the specialized_* and rare vehicle classes are scarce.
CLASS_WEIGHTS: dict[str, float] = {
    "activity_walking": 300,
    "activity_standing": 220,
    "vehicle_moving": 160,
    "activity_carrying": 90,
    "Talking": 45,
    "activity_gesturing": 30,
    "Riding": 25,
    "Entering": 22,
    "Exiting": 20,
    "vehicle_stopping": 18,
    "vehicle_starting": 16,
    "Closing": 14,
    "Opening": 14,
    "vehicle_turning_left": 12,
    "vehicle_turning_right": 12,
    "Loading": 9,
    "Pull": 8,
    "Interacts": 8,
    "activity_running": 7,
    "specialized_talking_phone": 6,
    "Push": 5,
    "Transport_HeavyCarry": 4,
    "specialized_texting_phone": 3,
    "specialized_using_tool": 2,
    "specialized_miscellaneous": 1.5,
    "Misc": 1,
}
# How many labels a clip carries: most have one, some two, a few three.
LABEL_COUNT_WEIGHTS = {1: 0.62, 2: 0.29, 3: 0.09}

CHALLENGE_SLUG = "tinyactions-2021"
VALIDATION_FILE = "tiny_val_v2.json"
TEST_PRIVATE_FILE = "tiny_test_v2_private.json"
TEST_PUBLIC_FILE = "tiny_test_v2_public.json"
CLASS_MAP_FILE = "class_map.json"
CHALLENGE_FILE = "challenge.yaml"

# Both phases are open from their start until far ahead, so the demo accepts uploads
# whenever it is run; the test phase starts later, as it did in 2021.
CHALLENGE_YAML = f"""\
slug: {CHALLENGE_SLUG}
title: TinyActions Challenge 2021 (demo)
description: >-
  Recognize tiny actions in low-resolution surveillance video (TinyVIRAT-v2).
  Demo data: the clips and labels are synthetic, drawn with a fixed seed.
class_map: {CLASS_MAP_FILE}
phases:
  - slug: dev
    name: Validation
    track: classification
    labels: {VALIDATION_FILE}
    starts_at: 2021-03-01T00:00:00Z
    ends_at: 2099-12-31T23:59:59Z
    max_submissions_per_day: 5
    max_submissions_total: 100
    leaderboard: public
  - slug: test
    name: Test
    track: classification
    labels: {TEST_PRIVATE_FILE}
    starts_at: 2021-06-13T00:00:00Z
    ends_at: 2099-12-31T23:59:59Z
    max_submissions_per_day: 3
    max_submissions_total: 30
    leaderboard: public
"""


@dataclass(frozen=True)
class DemoFiles:
    folder: Path
    challenge_yaml: Path
    validation: Path
    test_private: Path
    test_public: Path
    class_map: Path


def _video_ids(rng: random.Random, n: int) -> list[str]:
    """Names in the VIRAT style, e.g. VIRAT_S_040003_04_000758_001118."""
    names = []
    for _ in range(n):
        scene = rng.choice((0, 40000, 40100, 50000, 50200, 50300, 60000, 60100))
        site = scene + rng.randrange(0, 10)
        seq = rng.randrange(0, 9)
        start = rng.randrange(0, 20000)
        end = start + rng.randrange(200, 2000)
        names.append(f"VIRAT_S_{site:06d}_{seq:02d}_{start:06d}_{end:06d}")
    return names


def _labels(rng: random.Random, n: int) -> list[list[str]]:
    names = list(CLASS_WEIGHTS)
    weights = list(CLASS_WEIGHTS.values())
    counts = list(LABEL_COUNT_WEIGHTS)
    count_weights = list(LABEL_COUNT_WEIGHTS.values())
    out: list[list[str]] = []
    for _ in range(n):
        k = rng.choices(counts, count_weights)[0]
        chosen: list[str] = []
        while len(chosen) < k:
            name = rng.choices(names, weights)[0]
            if name not in chosen:
                chosen.append(name)
        out.append(chosen)
    # Top up classes the draw left too rare, on clips that still have room for a label.
    for name in names:
        have = sum(name in labels for labels in out)
        while have < MIN_SUPPORT:
            labels = out[rng.randrange(n)]
            if name not in labels and len(labels) < 3:
                labels.append(name)
                have += 1
    return out


def _records(rng: random.Random, ids: list[str]) -> list[dict]:
    videos = _video_ids(rng, max(1, len(ids) // 12))
    labels = _labels(rng, len(ids))
    records = []
    for cid, label in zip(ids, labels, strict=True):
        video_id = rng.choice(videos)
        frames = rng.randrange(16, 320)
        width = rng.randrange(16, 180)
        height = rng.randrange(20, 200)
        records.append(
            {
                "id": cid,
                "video_id": video_id,
                "path": f"{video_id}/{cid}.mp4",
                "dim": [frames, width, height],
                "label": label,
            }
        )
    return records


def _write(path: Path, text: str) -> None:
    # Rewriting identical bytes would only bump mtimes; skipping keeps re-runs quiet.
    data = text.encode("utf-8")
    if path.exists() and path.read_bytes() == data:
        return
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def generate_demo(folder: Path) -> DemoFiles:
    """Write the demo challenge's files into ``folder``; the same bytes on every run."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(SEED)
    validation_ids = sorted(rng.sample(range(VALIDATION_ID_RANGE), N_VALIDATION))
    validation = _records(rng, [f"{i:05d}" for i in validation_ids])
    test = _records(rng, [f"{i:05d}" for i in range(N_TEST)])
    public = [{k: v for k, v in rec.items() if k != "label"} for rec in test]

    files = DemoFiles(
        folder=folder,
        challenge_yaml=folder / CHALLENGE_FILE,
        validation=folder / VALIDATION_FILE,
        test_private=folder / TEST_PRIVATE_FILE,
        test_public=folder / TEST_PUBLIC_FILE,
        class_map=folder / CLASS_MAP_FILE,
    )
    class_map = {name: i for i, name in enumerate(TINYVIRAT_V2_CLASSES)}
    _write(files.class_map, json.dumps(class_map, indent=4) + "\n")
    _write(files.validation, json.dumps(validation, indent=4) + "\n")
    _write(files.test_private, json.dumps(test, indent=4) + "\n")
    _write(files.test_public, json.dumps(public, indent=4) + "\n")
    _write(files.challenge_yaml, CHALLENGE_YAML)
    return files
