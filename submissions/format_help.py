"""What the phase page says about the file to upload, for every track.

The example lines use the phase's own clip ids, and each common mistake is shown with the
message the scorer really gives for it: the mistake is made on a valid file of the phase
and run through the same check as "Check only" and scoring. Only public facts of the
phase are used (clip ids, frame counts, class names), never its labels. Computed once per
phase and labels version.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from evalserver.challenges.downloads import downloads_for_phase_page
from evalserver.challenges.models import Phase
from evalserver.challenges.selectors import phase_has_labels, phase_labels
from evalserver.scoring.checking import check
from evalserver.scoring.detection import HEADER as DETECTION_HEADER

_CACHE_SIZE = 32
_cache: OrderedDict[tuple[int, str, str], dict] = OrderedDict()
_lock = threading.Lock()

CONTAINERS = {
    "classification": "answer.txt as plain text, gzipped (answer.txt.gz), or as the only "
    "file in a .zip",
    "detection": "the CSV as plain text (.csv), gzipped (.csv.gz), or as the only file in a .zip",
}


def _recognition_examples(phase: Phase, labels) -> dict:
    ids = [str(i) for i in labels.ids.tolist()]
    n = len(phase.challenge.class_names)

    def line(cid: str, on: int) -> str:
        return cid + " " + " ".join("1" if k == on else "0" for k in range(n))

    good = [line(cid, i % n) for i, cid in enumerate(ids)]
    body = "\n".join(good) + "\n"

    def with_first(replacement: str) -> str:
        return "\n".join([replacement, *good[1:]]) + "\n"

    first = ids[0]
    values = good[0].split()[1:]
    unpadded = first.lstrip("0") or "0"
    mistakes = [
        ("The same clip twice", "\n".join([*good, good[0]]) + "\n"),
        ("Clips left out (every clip of the phase needs a line)", "\n".join(good[:-3]) + "\n"),
        (
            "Probabilities instead of 0 or 1",
            with_first(first + " " + " ".join(["0.73", *values[1:]])),
        ),
        ("Commas between the fields", with_first(",".join([first, *values]))),
    ]
    if unpadded != first:
        mistakes.append(
            ("Ids without their leading zeros", with_first(" ".join([unpadded, *values])))
        )
    mistakes.append(("A value missing on a line", with_first(" ".join([first, *values[:-1]]))))
    return {
        "example_lines": good[:2],
        "n_clips": len(ids),
        "mistakes": [
            {"what": what, "messages": check(phase.track, labels, text.encode())[:3]}
            for what, text in mistakes
        ],
        "valid": not check(phase.track, labels, body.encode()),
    }


def _detection_examples(phase: Phase, labels) -> dict:
    cid = str(labels.clip_ids[0])
    frames = int(labels.clip_dims[0][0])
    name = phase.challenge.class_names[0]
    rows = [f"{cid},0,{f},{name},0.87,10.5,12,30,61" for f in range(min(2, frames))]
    good = [DETECTION_HEADER, *rows]

    def csv(lines: list[str]) -> bytes:
        return ("\n".join(lines) + "\n").encode()

    mistakes = [
        ("No header line", csv(rows)),
        ("A score outside [0, 1]", csv([DETECTION_HEADER, rows[0].replace(",0.87,", ",87,")])),
        (
            "A frame past the clip's end (frames count from 0)",
            csv([DETECTION_HEADER, f"{cid},0,{frames},{name},0.87,10.5,12,30,61"]),
        ),
        (
            "A class the challenge does not have",
            csv([DETECTION_HEADER, rows[0].replace(name, "Dancing")]),
        ),
        ("The same tube and frame twice", csv([*good, rows[0]])),
        (
            "A box with x2 <= x1",
            csv([DETECTION_HEADER, rows[0].replace(",10.5,12,30,", ",30,12,10.5,")]),
        ),
    ]
    return {
        "example_lines": good,
        "n_clips": labels.n_items,
        "mistakes": [
            {"what": what, "messages": check(phase.track, labels, data)[:3]}
            for what, data in mistakes
        ],
        "valid": not check(phase.track, labels, csv(good)),
    }


def _examples(phase: Phase) -> dict | None:
    if not phase_has_labels(phase=phase):
        return None
    key = (phase.pk, phase.labels_sha256, phase.labels_compact_file.name)
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    labels = phase_labels(phase=phase)
    if phase.track == Phase.Track.DETECTION:
        examples = _detection_examples(phase, labels)
    else:
        examples = _recognition_examples(phase, labels)
    with _lock:
        _cache[key] = examples
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return examples


def format_help(*, phase: Phase, user) -> dict:
    """The context the phase page's format help and downloads need."""
    challenge_downloads, phase_downloads = downloads_for_phase_page(phase=phase, user=user)
    class_map = next(
        (row for row in challenge_downloads if "class_map" in row["download"].name), None
    )
    return {
        "format": _examples(phase),
        "containers": CONTAINERS.get(phase.track, ""),
        "class_names": list(enumerate(phase.challenge.class_names)),
        "class_map_download": class_map,
        "phase_downloads": phase_downloads,
        "challenge_downloads": challenge_downloads,
    }
