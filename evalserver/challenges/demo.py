"""A synthetic TinyActions 2021 challenge for demos and tests.

The files follow the TinyVIRAT-v2 formats exactly (SPEC.md): a class map, recognition
ground truth for a validation phase (3,308 clips, ids with gaps) and a test phase (6,097
clips, ids 00000..06096), and the public test list without labels. Labels are drawn
with a fixed seed, so the files are byte-identical on every run and importing them
twice changes nothing. The class frequencies are skewed like the real data set: a few
person and vehicle activities dominate, and the rarest classes appear a handful of
times.

A third phase is on the detection track (the 2022 rules): 480 clips whose records also
carry ``tubes``, and a sample submission CSV (noisy boxes around the truth, missed
tubes, wrong classes and false tubes) for trying the upload by hand.
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
DETECTION_FILE = "tiny_det_v2_private.json"
DETECTION_SAMPLE_FILE = "detection_sample.csv"
VALIDATION_PUBLIC_FILE = "tiny_val_v2_public.json"
# Sample answers (a weak baseline: every clip gets the most frequent class), one per
# recognition phase, in per-phase folders since each is called answer.txt.
SAMPLE_ANSWER = "answer.txt"
STARTING_KIT_FILE = "make_answer.py"
STARTING_KIT_SOURCE = Path(__file__).with_name("starting_kit") / STARTING_KIT_FILE
# The ended phase: its own clips and seed, so an organizer can try freeze and reveal on a
# finished private board. Hook for split labels (public/private records, CONTRACT section 5):
# mark the records in ``final_records`` and nothing else changes.
FINAL_PRIVATE_FILE = "tiny_final_v2_private.json"
FINAL_PUBLIC_FILE = "tiny_final_v2_public.json"
FINAL_SEED = 2023
N_FINAL = 1200

# Its own seed, so the detection files never shift the recognition files' draws.
DETECTION_SEED = 2022
# Small enough to keep seed_demo well under a second; large enough for a realistic spread.
N_DETECTION = 480
# Actors per clip: mostly one, sometimes a second or third (possibly the same action).
TUBE_COUNT_WEIGHTS = {1: 0.72, 2: 0.22, 3: 0.06}

# Both phases are open from their start until far ahead, so the demo accepts uploads
# whenever it is run; the test phase starts later, as it did in 2021.
CHALLENGE_YAML = f"""\
slug: {CHALLENGE_SLUG}
title: TinyActions Challenge 2021 (demo)
description: >-
  Recognize tiny actions in low-resolution surveillance video (TinyVIRAT-v2).
  Demo data: the clips and labels are synthetic, drawn with a fixed seed.
class_map: {CLASS_MAP_FILE}
downloads:
  - name: {TEST_PUBLIC_FILE}
    file: {TEST_PUBLIC_FILE}
    description: >-
      The test clips (ids, video, size), without labels: answer.txt has one line for each.
  - name: {CLASS_MAP_FILE}
    file: {CLASS_MAP_FILE}
    description: Class names and their ids; column k of answer.txt is class id k-1.
  - name: {STARTING_KIT_FILE}
    file: {STARTING_KIT_FILE}
    description: >-
      Starting kit: turns your model's per-clip probabilities into a valid answer.txt,
      one line for every clip of the list (Python 3, standard library only).
    audience: participants
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
    downloads:
      - name: {VALIDATION_PUBLIC_FILE}
        file: {VALIDATION_PUBLIC_FILE}
        description: The validation clips (ids, video, size), without labels.
      - name: {SAMPLE_ANSWER}
        file: dev/{SAMPLE_ANSWER}
        description: >-
          A valid sample answer for this phase (a weak baseline: every clip gets the most
          frequent class). Upload it to see a first score.
  - slug: test
    name: Test
    track: classification
    labels: {TEST_PRIVATE_FILE}
    starts_at: 2021-06-13T00:00:00Z
    ends_at: 2099-12-31T23:59:59Z
    max_submissions_per_day: 3
    max_submissions_total: 30
    leaderboard: public
    downloads:
      - name: {SAMPLE_ANSWER}
        file: test/{SAMPLE_ANSWER}
        description: A valid sample answer for the test clips (the same weak baseline).
  - slug: detection
    name: Detection
    description: >-
      Localise each action in space and time: one tube of boxes per actor and action.
      Ranked by video-mAP@0.5. Try it with {DETECTION_SAMPLE_FILE} from the downloads below.
    track: detection
    labels: {DETECTION_FILE}
    starts_at: 2021-03-01T00:00:00Z
    ends_at: 2099-12-31T23:59:59Z
    max_submissions_per_day: 5
    max_submissions_total: 100
    leaderboard: public
    downloads:
      - name: {DETECTION_SAMPLE_FILE}
        file: {DETECTION_SAMPLE_FILE}
        description: A valid sample submission (a noisy detector) in the CSV format below.
  - slug: final-2021
    name: Final test (ended)
    description: >-
      The 2021 final round, over since July 2021. Its board is private until the
      organizers reveal it: sign in as the demo organizer to try freeze and reveal.
    track: classification
    labels: {FINAL_PRIVATE_FILE}
    starts_at: 2021-06-20T00:00:00Z
    ends_at: 2021-07-01T00:00:00Z
    max_submissions_per_day: 3
    max_submissions_total: 30
    leaderboard: private
    downloads:
      - name: {FINAL_PUBLIC_FILE}
        file: {FINAL_PUBLIC_FILE}
        description: The final round's clips, without labels.
"""


@dataclass(frozen=True)
class DemoFiles:
    folder: Path
    challenge_yaml: Path
    validation: Path
    test_private: Path
    test_public: Path
    class_map: Path
    detection: Path
    detection_sample: Path
    validation_public: Path
    final_private: Path
    final_public: Path
    starting_kit: Path


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


# --- Detection -------------------------------------------------------------------------------


def _drifting_boxes(rng: random.Random, n: int, width: int, height: int) -> list[list[int]]:
    """One whole-pixel box per frame for an actor that wanders and changes size a little.

    TinyVIRAT clips are crops around the action, so the actor fills much of the frame.
    Every box stays inside the frame with x2 > x1 and y2 > y1.
    """
    w = rng.uniform(0.3, 0.8) * width
    h = rng.uniform(0.4, 0.9) * height
    x = rng.uniform(0, width - w)
    y = rng.uniform(0, height - h)
    vx, vy = rng.uniform(-0.6, 0.6), rng.uniform(-0.3, 0.3)
    boxes = []
    for _ in range(n):
        w = min(max(w * rng.uniform(0.98, 1.02), 4.0), float(width))
        h = min(max(h * rng.uniform(0.98, 1.02), 4.0), float(height))
        x = min(max(x + vx + rng.uniform(-0.8, 0.8), 0.0), width - w)
        y = min(max(y + vy + rng.uniform(-0.5, 0.5), 0.0), height - h)
        x1, y1 = int(x), int(y)
        boxes.append(
            [x1, y1, max(x1 + 1, min(int(x + w), width)), max(y1 + 1, min(int(y + h), height))]
        )
    return boxes


def detection_records(rng: random.Random, ids: list[str]) -> list[dict]:
    """Detection ground truth (SPEC "Detection"): recognition records plus ``tubes``.

    Each clip holds one to three tubes; a tube covers the whole clip half the time, else
    a stretch of it, with exactly one box per frame from ``start`` to ``end``. ``label``
    lists the tubes' classes, as the recognition files do.
    """
    videos = _video_ids(rng, max(1, len(ids) // 12))
    names = list(CLASS_WEIGHTS)
    weights = list(CLASS_WEIGHTS.values())
    counts = list(TUBE_COUNT_WEIGHTS)
    count_weights = list(TUBE_COUNT_WEIGHTS.values())
    records = []
    for cid in ids:
        video_id = rng.choice(videos)
        frames = rng.randrange(24, 97)
        width = rng.randrange(40, 180)
        height = rng.randrange(48, 200)
        tubes = []
        for _ in range(rng.choices(counts, count_weights)[0]):
            if rng.random() < 0.5:
                start, end = 0, frames - 1
            else:
                length = rng.randrange(12, frames + 1)
                start = rng.randrange(0, frames - length + 1)
                end = start + length - 1
            tubes.append(
                {
                    "label": rng.choices(names, weights)[0],
                    "start": start,
                    "end": end,
                    "boxes": _drifting_boxes(rng, end - start + 1, width, height),
                }
            )
        records.append(
            {
                "id": cid,
                "video_id": video_id,
                "path": f"{video_id}/{cid}.mp4",
                "dim": [frames, width, height],
                "label": list(dict.fromkeys(t["label"] for t in tubes)),
                "tubes": tubes,
            }
        )
    return records


def _noisy(box: list[int], offset: list[float], jitter: list[float]) -> list[float]:
    """``box`` moved by a per-tube ``offset`` plus a per-frame ``jitter`` (box-size units)."""
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    dx1, dy1, dx2, dy2 = (o + j for o, j in zip(offset, jitter, strict=True))
    nx1, ny1 = x1 + dx1 * w, y1 + dy1 * h
    nx2 = max(x2 + dx2 * w, nx1 + 1)
    ny2 = max(y2 + dy2 * h, ny1 + 1)
    return [round(v, 1) for v in (nx1, ny1, nx2, ny2)]


def detection_submission_rows(rng: random.Random, records: list[dict]) -> list[tuple]:
    """A plausible detector's output for ``records``, as CSV rows in the SPEC's columns.

    Most tubes are found, with jittered boxes, a shifted span and a score that grows
    with the detection's quality; some get the wrong class, some are missed, and
    about one clip in two gets a false tube with a low score.
    """
    names = list(CLASS_WEIGHTS)
    rows: list[tuple] = []
    for record in records:
        frames, width, height = record["dim"]
        predicted: list[tuple[str, int, list[list[float]], float]] = []
        for tube in record["tubes"]:
            if rng.random() < 0.12:
                continue  # missed
            label = tube["label"] if rng.random() < 0.88 else rng.choice(names)
            noise = rng.choice((0.03, 0.06, 0.1, 0.2))
            start = min(max(tube["start"] + rng.randint(-3, 3), 0), frames - 1)
            end = min(max(tube["end"] + rng.randint(-3, 3), start), frames - 1)
            # A detector is off by about the same amount from frame to frame.
            offset = [rng.gauss(0, noise) for _ in range(4)]
            boxes = []
            for frame in range(start, end + 1):
                k = min(max(frame - tube["start"], 0), len(tube["boxes"]) - 1)
                jitter = [rng.gauss(0, noise / 3) for _ in range(4)]
                boxes.append(_noisy(tube["boxes"][k], offset, jitter))
            score = min(max(0.95 - 2 * noise + rng.gauss(0, 0.08), 0.05), 1.0)
            predicted.append((label, start, boxes, score))
        while rng.random() < 0.45:
            length = rng.randrange(1, frames + 1)
            start = rng.randrange(0, frames - length + 1)
            boxes = [[float(v) for v in b] for b in _drifting_boxes(rng, length, width, height)]
            predicted.append((rng.choice(names), start, boxes, rng.uniform(0.05, 0.6)))
        for tube_id, (label, start, boxes, score) in enumerate(predicted):
            for i, box in enumerate(boxes):
                rows.append((record["id"], tube_id, start + i, label, round(score, 3), *box))
    return rows


def detection_csv(rows: list[tuple]) -> str:
    lines = ["video_id,tube_id,frame,class,score,x1,y1,x2,y2"]
    lines += [",".join(str(v) for v in row) for row in rows]
    return "\n".join(lines) + "\n"


def _records_json(records: list[dict]) -> str:
    # One record a line: indenting every box coordinate would make the file ten times longer.
    return "[\n" + ",\n".join(json.dumps(r) for r in records) + "\n]\n"


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
    public = _public(test)

    files = DemoFiles(
        folder=folder,
        challenge_yaml=folder / CHALLENGE_FILE,
        validation=folder / VALIDATION_FILE,
        test_private=folder / TEST_PRIVATE_FILE,
        test_public=folder / TEST_PUBLIC_FILE,
        class_map=folder / CLASS_MAP_FILE,
        detection=folder / DETECTION_FILE,
        detection_sample=folder / DETECTION_SAMPLE_FILE,
        validation_public=folder / VALIDATION_PUBLIC_FILE,
        final_private=folder / FINAL_PRIVATE_FILE,
        final_public=folder / FINAL_PUBLIC_FILE,
        starting_kit=folder / STARTING_KIT_FILE,
    )
    class_map = {name: i for i, name in enumerate(TINYVIRAT_V2_CLASSES)}
    _write(files.class_map, json.dumps(class_map, indent=4) + "\n")
    _write(files.validation, json.dumps(validation, indent=4) + "\n")
    _write(files.test_private, json.dumps(test, indent=4) + "\n")
    _write(files.test_public, json.dumps(public, indent=4) + "\n")
    det_rng = random.Random(DETECTION_SEED)
    detection = detection_records(det_rng, [f"{i:05d}" for i in range(N_DETECTION)])
    _write(files.detection, _records_json(detection))
    _write(files.detection_sample, detection_csv(detection_submission_rows(det_rng, detection)))
    final = final_records()
    _write(files.final_private, json.dumps(final, indent=4) + "\n")
    _write(files.validation_public, json.dumps(_public(validation), indent=4) + "\n")
    _write(files.final_public, json.dumps(_public(final), indent=4) + "\n")
    for phase, records in (("dev", validation), ("test", test)):
        (folder / phase).mkdir(exist_ok=True)
        _write(folder / phase / SAMPLE_ANSWER, baseline_answer([r["id"] for r in records]))
    _write(files.starting_kit, STARTING_KIT_SOURCE.read_text(encoding="utf-8"))
    _write(files.challenge_yaml, CHALLENGE_YAML)
    return files


def _public(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in rec.items() if k != "label"} for rec in records]


def final_records() -> list[dict]:
    """The ended phase's hidden labels: their own clips, drawn with their own seed."""
    rng = random.Random(FINAL_SEED)
    return _records(rng, [f"{i:05d}" for i in range(N_FINAL)])


def baseline_answer(ids: list[str]) -> str:
    """A weak but valid answer.txt: every clip gets the most frequent class, nothing else."""
    top = TINYVIRAT_V2_CLASSES.index(max(CLASS_WEIGHTS, key=CLASS_WEIGHTS.__getitem__))
    row = " ".join("1" if k == top else "0" for k in range(len(TINYVIRAT_V2_CLASSES)))
    return "".join(f"{cid} {row}\n" for cid in ids)
