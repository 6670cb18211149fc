"""The fast paths of the detection reader agree with the streaming reader.

A fast path (Arrow's, and the compiled one before it) may only take a file the
streaming reader finds valid, and must then yield the very same rows (same bits).
Anything else it hands back (None) so the streaming reader words the problems. Each
case below is checked every way.
"""

from __future__ import annotations

import dataclasses
import io
import itertools
import random

import numpy as np
import pytest

from evalserver.scoring import detection
from evalserver.scoring.detection_arrow import read_valid_rows
from evalserver.scoring.detection_csv import CHUNK_BYTES, MAX_FIELD_CHARS, read_rows
from evalserver.scoring.detection_metrics import evaluate, group_tubes
from evalserver.scoring.detection_native import read_plain_rows
from evalserver.scoring.errors import SubmissionInvalid

from .detection_helpers import HEADER, SMALL_CLASSES, clip, gt_tube, labels_json

CLIP_IDS = ("00000", "00001", "a_long_clip_id_of_the_2022_layout", "ünïcode")


@pytest.fixture(scope="module")
def labels() -> detection.DetectionLabels:
    records = [
        clip(cid, [gt_tube(SMALL_CLASSES[k % 4], 2, [[10, 10, 40, 40]] * 6)], frames=20)
        for k, cid in enumerate(CLIP_IDS)
    ]
    return detection.load_labels(labels_json(records), list(SMALL_CLASSES))


def _streaming(labels: detection.DetectionLabels, data: bytes):
    return read_rows(io.BytesIO(data), labels, chunk_bytes=CHUNK_BYTES)


def _same_rows(a, b) -> None:
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        assert x.dtype == y.dtype, f.name
        assert x.shape == y.shape, f.name
        # Bit for bit, so -0.0 and 0.0 differ.
        assert x.tobytes() == y.tobytes(), f.name


def _check(labels: detection.DetectionLabels, data: bytes) -> bool:
    """Every reader agrees on ``data``; True if Arrow's fast path took it."""
    cut = data.index(b"\n")
    body = data[cut + 1 :].replace(b"\r\n", b"\n")
    fast = read_valid_rows(body, 0, 2, labels)
    native = read_plain_rows(body, 0, 2, labels)
    try:
        slow_rows, slow_problems = _streaming(labels, data)
    except SubmissionInvalid:
        assert fast is None
        assert native is None
        return False
    rows, problems = read_rows(io.BytesIO(data), labels)
    assert problems.messages() == slow_problems.messages()
    _same_rows(rows, slow_rows)
    for taken in (fast, native):
        if taken is not None:
            assert not slow_problems
            _same_rows(taken, slow_rows)
    return fast is not None


def _csv(lines: list[str], *, newline: str = "\n") -> bytes:
    return (newline.join([HEADER, *lines]) + newline).encode()


VALID = "00001,3,4,walk,0.5,10,11.5,30,40.25"


def test_a_plain_file_takes_the_fast_path(labels: detection.DetectionLabels) -> None:
    lines = [
        f"{cid},{t},{f},{cls},{s},{x},{y},{x + 5.5},{y + 7}"
        for cid in CLIP_IDS
        for t, cls in ((0, "walk"), (1, 2), (17, "idle"))
        for f, s, x, y in ((0, 0.25, 1, 2), (5, 1, -3.5, 0.125), (19, 0, 99, 1e-3))
    ]
    assert _check(labels, _csv(lines))
    assert _check(labels, _csv(lines, newline="\r\n"))
    assert _check(labels, _csv(lines) + b"\n\n")
    assert _check(labels, _csv([]))


@pytest.mark.parametrize(
    ("column", "token"),
    [
        (0, "00002"),
        (0, " 00001"),
        (0, "0001"),
        (0, "1"),
        (0, ""),
        (1, "+5"),
        (1, "-0"),
        (1, " 5"),
        (1, "0x10"),
        (1, "1" * 19),
        (1, "0" * 18 + "1"),
        (1, "٣"),
        (2, "20"),
        (2, "-1"),
        (2, "1e1"),
        (3, "4"),
        (3, "Walk"),
        (3, "walk "),
        (4, "1.5"),
        (4, "nan"),
        (4, "-0"),
        (4, "+.5"),
        (4, "5e-1"),
        (4, "1e"),
        (4, ""),
        (4, "0." + "0" * 70),
        (4, "0,5"),
        (5, "inf"),
        (5, "-Infinity"),
        (5, "1_0"),
        (5, "0x10"),
        (5, "1e400"),
        (5, "1.5.2"),
        (5, " 10"),
        (5, "10 "),
        (5, "\t10"),
        (5, "30"),
        (6, "1E1"),
        (6, "+11"),
        (6, '"11"'),
        (7, "1e-400"),
    ],
)
def test_odd_tokens_get_the_same_answer(
    labels: detection.DetectionLabels, column: int, token: str
) -> None:
    fields = VALID.split(",")
    fields[column] = token
    _check(labels, _csv([VALID.replace("0.5", "0.75"), ",".join(fields)]))


@pytest.mark.parametrize(
    "data",
    [
        _csv([VALID, "", VALID.replace(",3,", ",4,")]),
        _csv([VALID]).replace(b",0.5,", b",0.5\r,"),
        _csv([VALID]).replace(b",0.5,", b",0.5\x00,"),
        _csv([VALID + ",1"]),
        _csv([VALID.rsplit(",", 1)[0]]),
        _csv([VALID]).replace(b"walk", "wälk".encode("latin-1")),
    ],
)
def test_odd_files_get_the_same_answer(labels: detection.DetectionLabels, data: bytes) -> None:
    assert not _check(labels, data)


def test_random_tokens_get_the_same_answer(labels: detection.DetectionLabels) -> None:
    rng = random.Random(12)
    alphabet = "0123456789+-.eE x_,"
    fields = VALID.split(",")
    for _ in range(150):
        line = list(fields)
        column = rng.randrange(1, 9)
        line[column] = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6)))
        _check(labels, _csv([",".join(line)]))


def test_scores_equal_the_streaming_reader(labels: detection.DetectionLabels) -> None:
    rng = np.random.default_rng(5)
    lines = []
    for cid in CLIP_IDS:
        for tube in range(6):
            cls = SMALL_CLASSES[int(rng.integers(0, 4))]
            for frame in range(int(rng.integers(0, 10)), 20):
                x, y = rng.uniform(0, 60, 2).round(3)
                lines.append(
                    f"{cid},{tube},{frame},{cls},{rng.random():.6f},{x},{y},{x + 30.5},{y + 31}"
                )
    rng.shuffle(lines)
    data = _csv(lines)
    assert _check(labels, data)
    rows, problems = read_rows(io.BytesIO(data), labels)
    slow_rows, slow_problems = _streaming(labels, data)
    assert not problems
    assert not slow_problems
    fast = evaluate(labels, group_tubes(rows, labels, problems))
    slow = evaluate(labels, group_tubes(slow_rows, labels, slow_problems))
    assert fast.frame_ap == slow.frame_ap
    assert fast.video_ap == slow.video_ap


def test_long_lines_bound_the_float_fields_by_the_other_fields() -> None:
    """Floats are converted by Arrow unseen: a line's length bounds their lengths.

    A long clip id makes lines longer than nine short fields can be, so the reader
    subtracts each line's id fields (and one character per other float); a float of the
    longest allowed length is read alike by both readers (the bound may send it to the
    streaming one), one character more is refused with the streaming reader's message.
    """
    long_id = "c" * 60
    records = [clip(long_id, [gt_tube("walk", 2, [[10, 10, 40, 40]] * 6)], frames=20)]
    long_labels = detection.load_labels(labels_json(records), list(SMALL_CLASSES))
    row = f"{long_id},0,3,walk,1,1,2,3,4"
    assert len(row) > MAX_FIELD_CHARS + 8
    assert _check(long_labels, _csv([row, row.replace(",3,", ",4,")]))
    longest = "1" + "0" * (MAX_FIELD_CHARS - 3) + ".5"
    assert len(longest) == MAX_FIELD_CHARS
    assert _check(
        long_labels, _csv([row, row.replace(",3,", ",4,").replace(",4,4", f",4,{longest}")])
    )
    _check(long_labels, _csv([VALID.replace("00001", long_id), row]))
    too_long = longest + "0"
    data = _csv([row, row.replace(",3,", ",4,").replace(",4,4", f",4,{too_long}")])
    assert not _check(long_labels, data)
    _, problems = read_rows(io.BytesIO(data), long_labels)
    assert problems.messages() == [f"line 3: y2 is longer than {MAX_FIELD_CHARS} characters"]


@pytest.mark.parametrize("blank", [" ", "\t"])
def test_spaces_next_to_numbers_go_to_the_streaming_reader(labels, blank: str) -> None:
    """Arrow would trim them around a float; the streaming reader refuses them."""
    for field in (4, 5, 8):
        fields = VALID.split(",")
        fields[field] = blank + fields[field]
        assert not _check(labels, _csv([VALID.replace(",3,", ",4,"), ",".join(fields)]))


def _many_lines() -> list[str]:
    return [
        f"{cid},{t},{f},{cls},0.{f + 1},{f},2,{f + 3.5},9"
        for cid in CLIP_IDS
        for t, cls in ((0, "walk"), (1, 2), (12, "idle"))
        for f in range(20)
    ]


@pytest.mark.parametrize(
    ("column", "token"),
    [
        (0, "00009"),
        (0, "0" * 65),
        (0, ""),
        (1, "0x1"),
        (1, "+1"),
        (1, "-1"),
        (1, ""),
        (1, "1" * 19),
        (1, "0" * 19),
        (1, "1/"),
        (1, ":1"),
        (2, "1a"),
        (2, "0" * 19),
        (2, "٣"),
        (3, "Walk"),
        (3, "9"),
        (3, ""),
        (3, "w" * 65),
        (4, "0." + "5" * 70),
        (8, "9" * 65),
    ],
)
def test_a_bad_token_in_a_late_arrow_block_gets_the_same_answer(
    labels: detection.DetectionLabels, monkeypatch, column: int, token: str
) -> None:
    """Small Arrow blocks make every column many chunks: each chunk is checked, and a
    token only the last one holds is found (column by column, lookups and integers)."""
    monkeypatch.setattr("evalserver.scoring.detection_arrow.ARROW_BLOCK_BYTES", 1 << 10)
    lines = _many_lines()
    assert len("\n".join(lines)) > 8 << 10
    assert _check(labels, _csv(lines))
    fields = lines[-2].split(",")
    fields[column] = token
    lines[-2] = ",".join(fields)
    assert not _check(labels, _csv(lines))


def _same_rows_with(
    labels: detection.DetectionLabels, monkeypatch, *, seed: int, setting: str, value: int
) -> tuple[list[str], bytes]:
    """Shuffled lines read by the fast path give the same rows, bit for bit, once
    ``detection_arrow.<setting>`` is ``value``; returns the lines and the file."""
    from evalserver.scoring import detection_arrow

    lines = _many_lines()
    random.Random(seed).shuffle(lines)
    data = _csv(lines)
    body = data[data.index(b"\n") + 1 :]
    before = read_valid_rows(body, 0, 2, labels)
    monkeypatch.setattr(detection_arrow, setting, value)
    assert _check(labels, data)
    after = read_valid_rows(body, 0, 2, labels)
    assert before is not None
    assert after is not None
    _same_rows(before, after)
    return lines, data


def test_small_arrow_blocks_give_the_same_rows(
    labels: detection.DetectionLabels, monkeypatch
) -> None:
    _same_rows_with(labels, monkeypatch, seed=3, setting="ARROW_BLOCK_BYTES", value=1 << 9)


def test_commas_every_32_bytes_bound_every_field() -> None:
    """The quick check that spares the newline scan: when it passes, no run of bytes
    without a comma (so no field) is longer than MAX_FIELD_CHARS; when a run is short
    enough to fit any block, it passes."""
    from evalserver.scoring.detection_arrow import _commas_everywhere

    rng = random.Random(7)
    passed = failed = 0
    for _ in range(3000):
        gap = rng.choice((4, 12, 24, 31, 33, 40, 70))
        size = rng.randint(0, 200)
        text = bytes(
            44 if rng.random() < 1 / gap else rng.choice(b"0123456789.-e\nab") for _ in range(size)
        )
        start = rng.randint(0, 3)
        data = b"x" * start + text
        longest = max((len(run) for run in text.split(b",")), default=0)
        if _commas_everywhere(data, start, len(data)):
            passed += 1
            assert longest <= 62 <= MAX_FIELD_CHARS
        else:
            failed += 1
            assert longest >= 32
    assert passed > 100
    assert failed > 100
    assert _commas_everywhere(b"", 0, 0)
    assert not _commas_everywhere(b"1" * 64, 0, 64)
    assert _commas_everywhere(b"1" * 31 + b"," + b"1" * 31, 0, 63)


def test_a_file_parsed_in_two_parts_gives_the_same_rows(
    labels: detection.DetectionLabels, monkeypatch
) -> None:
    """From ``_SPLIT_FROM_BYTES`` on, two threads parse a half of the lines each."""
    from evalserver.scoring import detection_arrow

    lines, data = _same_rows_with(labels, monkeypatch, seed=4, setting="_SPLIT_FROM_BYTES", value=1)
    body = data[data.index(b"\n") + 1 :]
    assert len(detection_arrow._parts(body, 0, len(body) - 1)) == 2
    # A bad token in the second part only, or a blank line on either side of the cut.
    assert not _check(labels, _csv([*lines[:-1], lines[-1].replace(",0.", ",1.")]))
    for shift in (-1, 0, 1, 2):
        cut = detection_arrow._parts(body, 0, len(body) - 1)[1][0] + shift
        blank = body[:cut] + b"\n" + body[cut:]
        if b"\n\n" in blank:
            assert not _check(labels, data[: data.index(b"\n") + 1] + blank)


@pytest.mark.parametrize("size", [0, 1, 2, 5])
def test_a_few_lines_are_parts_of_whole_lines(size: int, monkeypatch) -> None:
    from evalserver.scoring import detection_arrow

    monkeypatch.setattr(detection_arrow, "_SPLIT_FROM_BYTES", 1)
    body = b"".join(b"%d,a\n" % k for k in range(size)).rstrip(b"\n")
    parts = detection_arrow._parts(body, 0, len(body))
    assert parts[0][0] == 0
    assert parts[-1][1] == len(body)
    for (_, stop), (begin, _) in itertools.pairwise(parts):
        assert stop == begin
        assert body[stop - 1 : stop] == b"\n"
