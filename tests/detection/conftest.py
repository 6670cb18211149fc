"""Detection phases with real hidden labels, and submission files of known quality.

Ground truth and predictions come from the demo generator (``evalserver.challenges.demo``),
the same code that writes the demo challenge, at a smaller size.
"""

from __future__ import annotations

import gzip
import io
import json
import random
import zipfile
from dataclasses import dataclass

import pytest

from evalserver import scoring
from evalserver.challenges import demo
from evalserver.challenges.services import phase_set_labels
from evalserver.scoring.classes import TINYVIRAT_V2_CLASSES
from tests.factories import PhaseFactory

HEADER = "video_id,tube_id,frame,class,score,x1,y1,x2,y2"
N_CLIPS = 60


def detection_labels_json(records: list[dict]) -> bytes:
    return json.dumps(records).encode()


def gzipped(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def zipped(data: bytes, name: str = "dets.csv") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(name, data)
    return buf.getvalue()


def frame_by_frame_csv(records: list[dict]) -> bytes:
    """Every true box exactly, but each as a tube of its own: perfect frame AP, poor video AP."""
    rows = []
    for record in records:
        tube_id = 0
        for tube in record["tubes"]:
            for i, box in enumerate(tube["boxes"]):
                frame = tube["start"] + i
                coords = ",".join(map(str, box))
                rows.append(f"{record['id']},{tube_id},{frame},{tube['label']},0.9,{coords}")
                tube_id += 1
    return ("\n".join([HEADER, *rows]) + "\n").encode()


@dataclass
class DetectionCase:
    """A detection phase's hidden labels and ways to make submissions for it."""

    phase: object
    records: list[dict]
    labels: object  # the library's DetectionLabels, for scoring the same file directly

    def noisy_csv(self, seed: int = 1) -> bytes:
        rows = demo.detection_submission_rows(random.Random(seed), self.records)
        return demo.detection_csv(rows).encode()

    def expected(self, data: bytes) -> dict:
        return scoring.score("detection", self.labels, data)


def make_detection_case(challenge, *, slug: str = "det", n_clips: int = N_CLIPS, seed: int = 8):
    records = demo.detection_records(random.Random(seed), [f"{i:05d}" for i in range(n_clips)])
    data = detection_labels_json(records)
    phase = PhaseFactory(
        challenge=challenge,
        slug=slug,
        name="Detection",
        track="detection",
        max_submissions_per_day=10,
    )
    phase_set_labels(phase=phase, data=data, filename="det.json")
    phase.refresh_from_db()
    labels = scoring.load_labels("detection", data, TINYVIRAT_V2_CLASSES)
    return DetectionCase(phase=phase, records=records, labels=labels)


@pytest.fixture
def detection(challenge) -> DetectionCase:
    return make_detection_case(challenge)
