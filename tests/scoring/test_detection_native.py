"""The compiled fast path of the detection reader (detection_native, _detection_csv.c).

It takes only plainly valid files, in the plain number form, and must then give the
streaming reader's rows bit for bit; on anything else it gives up (None) and the next
reader answers, so what a user sees never depends on which reader read the file. The
cases shared with Arrow's fast path run through both in test_detection_fast_path.py.
"""

from __future__ import annotations

import dataclasses
import io
import random
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evalserver.scoring import detection, detection_native
from evalserver.scoring.detection_csv import CHUNK_BYTES, read_rows
from evalserver.scoring.detection_native import read_plain_rows
from evalserver.scoring.errors import SubmissionInvalid

from .detection_helpers import HEADER, SMALL_CLASSES, clip, gt_tube, labels_json

CLIP_IDS = ("00000", "00001", "a_long_clip_id_of_the_2022_layout", "ünïcode", "1", "10")


@pytest.fixture(scope="module")
def labels() -> detection.DetectionLabels:
    records = [
        clip(cid, [gt_tube(SMALL_CLASSES[k % 4], 2, [[10, 10, 40, 40]] * 6)], frames=20)
        for k, cid in enumerate(CLIP_IDS)
    ]
    return detection.load_labels(labels_json(records), list(SMALL_CLASSES))


def _same_rows(a, b) -> None:
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        assert x.dtype == y.dtype, f.name
        assert x.shape == y.shape, f.name
        assert x.tobytes() == y.tobytes(), f.name  # bit for bit: -0.0 is not 0.0


def _csv(lines: list[str]) -> bytes:
    return ("\n".join([HEADER, *lines]) + "\n").encode()


def _native(labels, data: bytes):
    cut = data.index(b"\n") + 1
    return read_plain_rows(data, cut, 2, labels)


def _agree(labels, data: bytes) -> bool:
    """The compiled reader and the streaming reader agree; True if the former took it."""
    native = _native(labels, data)
    try:
        rows, problems = read_rows(io.BytesIO(data), labels, chunk_bytes=CHUNK_BYTES)
    except SubmissionInvalid:
        assert native is None
        return False
    if native is not None:
        assert not problems
        _same_rows(native, rows)
    return native is not None


VALID = "00001,3,4,walk,0.5,10,11.5,30,40.25"


def test_the_compiled_module_is_built() -> None:
    """pyproject.toml builds it at install; a machine with a C compiler (CI's, the
    Docker image's) must have it, or every file silently takes the slower path."""
    assert detection_native.available()


def test_a_plain_file_is_read_by_it(labels) -> None:
    lines = [
        f"{cid},{t},{f},{cls},{s},{x},{y},{x2},{y2}"
        for cid in CLIP_IDS
        for t, cls in ((0, "walk"), (1, 2), (17, "idle"), (123456789012345678, "3"))
        for f, s, x, y, x2, y2 in (
            (0, "0.25", "1", "2", "6.5", "9"),
            (5, "1", "-3.5", "0.125", "2", "7.0"),
            (19, "0", "-99.000", "-0.001", "-0", "0.0"),
            (7, "0.0", "-0.0", "0000.5", "0001", "000.75"),
        )
    ]
    assert _agree(labels, _csv(lines))
    # Rows keep their line numbers, and trailing blank lines are allowed.
    rows = _native(labels, _csv(lines) + b"\n\n")
    assert rows is not None
    assert rows.line.tolist() == list(range(2, 2 + len(lines)))


@pytest.mark.parametrize(
    "token",
    [
        "0.1",
        "0.3",
        "1.000000000000002",
        "0" * 40 + "1.5",  # leading zeros add nothing to the mantissa
        "0." + "0" * 21 + "1",  # 22 digits after the point
        "9007199254740992",  # 2^53, the largest mantissa taken
        "900719925474099.2",
        "0.9007199254740992",
        "123456789.1234567",
        "-0.000001",
    ],
)
def test_exact_edges_of_the_number_form_give_pythons_float(labels, token: str) -> None:
    score = token if 0 <= float(token) <= 1 else "1"
    line = f"00001,3,4,walk,{score},-1,0,{token},1"
    rows = _native(labels, _csv([line]))
    assert rows is not None
    assert struct.pack("<d", rows.box[2][0]) == struct.pack("<d", float(token))
    assert _agree(labels, _csv([line]))


@pytest.mark.parametrize(
    "token",
    [
        "9007199254740993",  # a mantissa above 2^53
        "0.00000000000000000000001",  # 23 digits after the point
        "1.0000000000000002",  # 17 digits, above 2^53
        "0" * 62 + "1.5",  # longer than a field may be
        "12345678901234567890",  # 20 digits
        "1e3",
        "1E3",
        "+1",
        ".5",
        "5.",
        "-.5",
        "--1",
        "1.2.3",
        "0x1",
        "nan",
        "inf",
        "1_0",
        " 1",
        "1 ",
        "",
        "٣",
    ],
)
def test_other_numbers_are_left_to_the_next_reader(labels, token: str) -> None:
    """What the plain form leaves out goes to Arrow's path or the streaming reader, which
    read it (or refuse it) as they always did: the result is the same."""
    line = f"00001,3,4,walk,0.5,{token},0,1000,1"
    data = _csv([VALID.replace(",3,", ",5,"), line])
    assert not _agree(labels, data)
    assert _outcome(lambda: read_rows(io.BytesIO(data), labels)) == _outcome(
        lambda: read_rows(io.BytesIO(data), labels, chunk_bytes=CHUNK_BYTES)
    )


def _outcome(read) -> tuple:
    """What a reader gives: its rows' bytes and problems, or the errors it raises."""
    try:
        rows, problems = read()
    except SubmissionInvalid as exc:
        return ("invalid", exc.errors)
    fields = tuple(getattr(rows, f.name).tobytes() for f in dataclasses.fields(rows))
    return ("rows", fields, problems.messages())


@pytest.mark.parametrize(
    ("column", "token"),
    [
        (0, "00002"),
        (0, "0001"),
        (0, "00001 "),
        (0, "\x0100001"),
        (0, "c" * 65),
        (1, "1" * 19),
        (1, "-1"),
        (1, "1a"),
        (2, "20"),  # the clip has frames 0..19
        (2, ""),
        (3, "Walk"),
        (3, "4"),
        (3, "walk\t"),
        (4, "1.5"),
        (4, "-0.25"),
        (8, "11.5"),  # y2 == y1: a degenerate box
        (7, "9"),  # x2 < x1
    ],
)
def test_a_bad_field_is_left_to_the_streaming_reader(labels, column: int, token: str) -> None:
    fields = VALID.split(",")
    fields[column] = token
    assert not _agree(labels, _csv([VALID.replace(",3,", ",5,"), ",".join(fields)]))


@pytest.mark.parametrize(
    "data",
    [
        _csv([VALID, "", VALID.replace(",3,", ",4,")]),
        _csv([VALID + ",1"]),
        _csv([VALID.rsplit(",", 1)[0]]),
        _csv([VALID]).replace(b",0.5,", b",0.5\r,"),
        _csv([VALID]).replace(b",0.5,", b",0.5\x00,"),
        _csv([VALID]).replace(b"\n", b"\r\n"),
        _csv([VALID]).rstrip(b"\n") + b",",
        _csv([VALID, VALID]).replace(b"walk", "wälk".encode("latin-1")),
    ],
)
def test_odd_lines_are_left_to_the_next_reader(labels, data: bytes) -> None:
    assert not _agree(labels, data)


def test_an_empty_body_is_left_to_the_next_reader(labels) -> None:
    assert _native(labels, _csv([])) is None
    assert _native(labels, _csv([]) + b"\n\n") is None
    rows, problems = read_rows(io.BytesIO(_csv([])), labels)
    assert len(rows) == 0
    assert not problems


def _number(rng: random.Random, low: int, high: int) -> tuple[str, float]:
    """A plain decimal of 0-6 digits after the point, and its value."""
    places = rng.randint(0, 6)
    text = f"{rng.randint(low, high) / 10**places:.{places}f}"
    return text, float(text)


def _lines(seed: int, n: int) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        (x1, x), (y1, y) = _number(rng, -50_000, 50_000), _number(rng, 0, 50_000)
        x2, y2 = f"{x + rng.randint(1, 9):.6f}", f"{y + rng.randint(1, 9000) / 1000:.3f}"
        score = f"{rng.randint(0, 10**9) / 10**9:.{rng.randint(0, 9)}f}"
        out.append(
            f"{rng.choice(CLIP_IDS)},{rng.randint(0, 10 ** rng.randint(1, 17))},"
            f"{rng.randint(0, 19)},{rng.choice(['walk', 'idle', '0', '1', '2', '3'])},"
            f"{score},{x1},{y1},{x2},{y2}"
        )
    return out


@pytest.mark.parametrize("seed", range(4))
def test_random_plain_files_give_the_streaming_rows(labels, seed: int) -> None:
    assert _agree(labels, _csv(_lines(seed, 400)))


def test_two_parts_on_two_threads_give_the_same_rows(labels, monkeypatch) -> None:
    monkeypatch.setattr(detection_native, "_SPLIT_FROM_BYTES", 1)
    lines = _lines(9, 300)
    data = _csv(lines)
    body_start = data.index(b"\n") + 1
    assert (
        len(detection_native.line_parts(data, body_start, len(data) - 1, n_parts=2, min_bytes=1))
        == 2
    )
    assert _agree(labels, data)
    # A bad field in the second part only, or a blank line on either side of the cut.
    fields = lines[-1].split(",")
    fields[3] = "Walk"
    assert not _agree(labels, _csv([*lines[:-1], ",".join(fields)]))
    cut = detection_native.line_parts(data, body_start, len(data) - 1, n_parts=2, min_bytes=1)[1][0]
    for shift in (-1, 0, 1):
        blank = data[: cut + shift] + b"\n" + data[cut + shift :]
        if b"\n\n" in blank.rstrip(b"\n"):
            assert not _agree(labels, blank)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    sign=st.sampled_from(["", "-"]),
    whole=st.text("0123456789", min_size=1, max_size=19)
    | st.text("0", max_size=50).map("{}7".format),
    fraction=st.none() | st.text("0123456789", min_size=0, max_size=23),
)
def test_any_plain_number_is_pythons_float_or_left_alone(labels, sign, whole, fraction) -> None:
    token = sign + whole + ("" if fraction is None else "." + fraction)
    x2 = "9" * 15
    rows = _native(labels, _csv([f"00001,3,4,walk,0.5,{token},0,{x2},1"]))
    digits = whole + (fraction or "")
    length_ok = len(token) <= 64
    plain = fraction != "" and int(digits) <= 2**53 and len(fraction or "") <= 22
    taken = plain and length_ok and float(token) < float(x2)
    assert (rows is not None) == taken, token
    if rows is not None:
        assert struct.pack("<d", rows.box[0][0]) == struct.pack("<d", float(token))


def test_a_file_with_a_few_rare_numbers_still_takes_a_fast_path(labels) -> None:
    """An exponent far down the file costs the compiled pass; Arrow's path then reads it
    (its rows are the streaming reader's, as test_detection_fast_path checks)."""
    lines = _lines(3, 200)
    lines[-1] = "00001,3,4,walk,5e-1,10,11.5,30,40.25"
    data = _csv(lines)
    assert _native(labels, data) is None
    rows, problems = read_rows(io.BytesIO(data), labels)
    assert not problems
    assert rows.score[-1] == 0.5


def test_without_the_compiled_module_every_file_is_still_read(labels, monkeypatch) -> None:
    """A machine without a C compiler at install has no _detection_csv: the Arrow path
    and the streaming reader read everything, with the same rows and problems."""
    data = _csv(_lines(5, 100))
    with_module = read_rows(io.BytesIO(data), labels)
    monkeypatch.setattr(detection_native, "_detection_csv", None)
    assert not detection_native.available()
    assert _native(labels, data) is None
    without, problems = read_rows(io.BytesIO(data), labels)
    assert not problems
    _same_rows(without, with_module[0])


def test_inconsistent_arguments_are_refused_not_read_out_of_bounds() -> None:
    from evalserver.scoring import _detection_csv

    data = b"00001,3,4,walk,0.5,10,11.5,30,40.25"
    blob, offsets = b"00001", np.array([0, 5], dtype=np.int64)
    frames = np.array([20], dtype=np.int64)
    cblob, coffsets, cvalues = b"walk", np.array([0, 4], dtype=np.int64), np.array([0])
    ints = [np.empty(1, dtype=np.int64) for _ in range(4)]
    score, box = np.empty(1), np.empty((4, 1))

    def call(**change):
        args = dict(
            data=data, start=0, end=len(data), blob=blob, offsets=offsets, frames=frames,
            cblob=cblob, coffsets=coffsets, cvalues=cvalues.astype(np.int64),
            clip=ints[0], tube=ints[1], frame=ints[2], cls=ints[3], score=score, box=box, row=0,
            row_end=1,
        )  # fmt: skip
        args.update(change)
        return _detection_csv.parse(*args.values())

    assert call() == 1
    assert ints[0][0] == 0
    assert box[:, 0].tolist() == [10, 11.5, 30, 40.25]
    for change in (
        {"end": len(data) + 1},
        {"start": -1},
        {"row": 2, "row_end": 2},
        {"row_end": 2},
        {"row": 1, "row_end": 0},
        {"offsets": np.array([0, 6], dtype=np.int64)},
        {"offsets": np.array([3, 2], dtype=np.int64)},
        {"frames": np.array([20, 20], dtype=np.int64)},
        {"box": np.empty((3, 1))},
        {"score": np.empty(2)},
    ):
        with pytest.raises(ValueError, match=r"inconsistent arguments|token offsets"):
            call(**change)
    # Items of the wrong kind, though 8 bytes each.
    for change in (
        {"score": np.empty(1, dtype=np.int64)},
        {"clip": np.empty(1)},
        {"offsets": np.array([0, 5], dtype=np.uint64)},
        {"box": np.empty((4, 2), dtype=np.float32)},
    ):
        with pytest.raises(ValueError, match=r"a buffer of (int|float)64 expected"):
            call(**change)
    with pytest.raises(BufferError):
        call(score=b"\x00" * 8)  # read-only
    # No room left: the file is given up, nothing is written past the room.
    assert call(row=1, row_end=1) == -1
    assert call(row=0, row_end=0) == -1
    two = data + b"\n" + data
    ints[0][0] = 7
    assert call(data=two, end=len(two)) == -1


def test_a_part_is_read_only_where_a_byte_after_it_stops_every_loop() -> None:
    """The compiled loops test no bound: a part must end in a newline or be followed by
    one, or by the NUL closing a bytes object. Elsewhere it is given up, never read on
    into the next bytes (a '5' after "40.25" would have made it 40.255)."""
    from evalserver.scoring import _detection_csv

    line = b"00001,3,4,walk,0.5,10,1.5,30,40.25"
    blob, offsets = b"00001", np.array([0, 5], dtype=np.int64)
    frames = np.array([20], dtype=np.int64)
    cblob, coffsets, cvalues = b"walk", np.array([0, 4], dtype=np.int64), np.array([0])

    def parse(data, end, rows=1):
        ints = [np.empty(rows, dtype=np.int64) for _ in range(4)]
        score, box = np.empty(rows), np.empty((4, rows))
        n = _detection_csv.parse(
            data, 0, end, blob, offsets, frames, cblob, coffsets, cvalues, *ints, score, box,
            0, rows,
        )  # fmt: skip
        return n, box[3, :n].tolist()

    assert parse(line, len(line)) == (1, [40.25])  # bytes: its closing NUL
    assert parse(line + b"\n", len(line)) == (1, [40.25])
    assert parse(line + b"\x00junk", len(line)) == (1, [40.25])
    assert parse(line + b"\n5", len(line) + 1) == (1, [40.25])  # a part ending in its newline
    assert parse(line + b"5", len(line)) == (-1, [])
    assert parse(line + b",", len(line)) == (-1, [])
    assert parse(bytearray(line), len(line)) == (-1, [])  # no closing NUL promised
    assert parse(memoryview(line + b"\n"), len(line)) == (1, [40.25])
    # A line cut short by the end of the part, anywhere: only a cut within the last
    # field's number leaves a line (y2 shorter), every other is refused.
    last = line.rindex(b",") + 1
    for cut in range(1, len(line)):
        whole = cut > last and not line[:cut].endswith(b".")
        expected = (1, [float(line[last:cut])]) if whole else (-1, [])
        assert parse(line[:cut] + b"\n", cut) == expected


def test_more_lines_than_plain_rows_could_fill_are_left_to_the_next_reader(labels) -> None:
    """Arrays are sized by the newlines before any line is read: a file of short lines
    (an upload of anything but this CSV) is refused before they are made, and the
    streaming reader words its problems."""
    data = HEADER.encode() + b"\n" + b"a\n" * 5000
    assert _native(labels, data) is None
    rows, problems = read_rows(io.BytesIO(data), labels)
    assert len(rows) == 0
    assert problems.total == 5000
    assert problems.messages()[0].startswith("line 2: expected 9 comma-separated fields")
    # The shortest plain rows still fill their arrays.
    records = [clip("a", [gt_tube("walk", 0, [[0, 0, 1, 1]])], frames=10)]
    short_labels = detection.load_labels(labels_json(records), list(SMALL_CLASSES))
    shortest = [f"a,{k},0,0,0,0,0,1,1" for k in range(10)]
    assert len(shortest[0]) == detection_native._SHORTEST_LINE - 1
    assert _agree(short_labels, _csv(shortest))


@pytest.mark.parametrize("trailing", [0, 1, 3, (1 << 16) - 1, 1 << 16, 3 << 16])
def test_trailing_newlines_are_found_in_blocks(labels, trailing: int) -> None:
    from evalserver.scoring.detection_csv import body_end

    body = (VALID + "\n" + VALID.replace(",3,", ",4,")).encode()
    data = b"xx" + body + b"\n" * trailing
    assert body_end(data, 2) == 2 + len(body)
    assert body_end(b"xx" + b"\n" * trailing, 2) == 2
    assert body_end(b"\n" * trailing, trailing) == trailing
    assert _agree(labels, HEADER.encode() + b"\n" + body + b"\n" * trailing)


@pytest.mark.parametrize("size", [0, 1, 254, 255, 256, 509, 510, 511, 765, 1000, 4099])
def test_newlines_are_counted_exactly_across_its_blocks(size: int) -> None:
    """count_lines counts in blocks of 255 bytes (a byte-wide count each): all newlines,
    none, and random bytes, whatever the length, within any start and end."""
    from evalserver.scoring import _detection_csv

    rng = random.Random(size)
    for data in (
        b"\n" * size,
        b"x" * size,
        bytes(rng.choice(b"\n\n,0a\xff") for _ in range(size)),
    ):
        for start, end in ((0, size), (size // 3, size), (0, size - size // 4), (1, 1)):
            start, end = min(start, size), min(max(end, start), size)
            assert _detection_csv.count_lines(data, start, end) == data[start:end].count(b"\n")


def test_a_crlf_file_takes_the_compiled_reader_after_its_line_ends_are_mended(
    labels, monkeypatch
) -> None:
    """A clean file is not searched for carriage returns: the compiled reader gives up
    at the first one, and only then is the body mended and read again."""
    calls = []
    real = detection_native.read_plain_rows

    def spy(*args, **kwargs):
        rows = real(*args, **kwargs)
        calls.append(rows is not None)
        return rows

    monkeypatch.setattr(detection_native, "read_plain_rows", spy)
    lines = [VALID, VALID.replace(",3,", ",4,")]
    rows, problems = read_rows(io.BytesIO(_csv(lines)), labels)
    assert calls == [True]
    assert not problems
    crlf_rows, problems = read_rows(io.BytesIO(_csv(lines).replace(b"\n", b"\r\n")), labels)
    assert calls == [True, False, True]
    assert not problems
    _same_rows(crlf_rows, rows)


def _random_pass(seed: int, n_rows: int = 3000, n_tubes: int = 60, n_boxes: int = 500):
    """Arrays of one matching pass, as detection_metrics builds them: rows ascending, a
    span and a box base per tube (some tubes without any: span -1..-1), boxes that touch,
    nest, coincide and miss."""
    rng = np.random.default_rng(seed)
    row_tube = rng.integers(0, n_tubes, n_rows)
    row_frame = rng.integers(0, 40, n_rows)
    j_start = rng.integers(0, 20, n_tubes)
    j_end = j_start + rng.integers(0, 20, n_tubes)
    j_start[::7], j_end[::7] = 0, -1
    j_base = rng.integers(0, n_boxes - 40, n_tubes) - j_start
    grid = rng.integers(0, 8, (n_boxes, 4)).astype(np.float64)
    boxes = np.column_stack(
        [grid[:, 0], grid[:, 1], grid[:, 0] + 1 + grid[:, 2], grid[:, 1] + 1 + grid[:, 3]]
    )
    boxes[::3] += rng.normal(0, 0.3, (len(boxes[::3]), 4))
    boxes[::3, 2:] = np.maximum(boxes[::3, 2:], boxes[::3, :2] + 0.5)
    corner = rng.integers(-2, 8, (2, n_rows)).astype(np.float64) + rng.choice(
        [0, 0.5, 1 / 3], (2, n_rows)
    )
    size = rng.integers(1, 6, (2, n_rows)).astype(np.float64)
    row_box = np.ascontiguousarray(np.vstack([corner, corner + size]))
    rows = np.flatnonzero(rng.random(n_rows) < 0.8)
    row_best = np.where(rng.random(n_rows) < 0.5, -1.0, rng.random(n_rows))
    row_target = np.full(n_rows, -1, dtype=np.int64)
    return (
        rows,
        row_tube,
        row_frame,
        j_start,
        j_end,
        j_base,
        np.ascontiguousarray(boxes),
        row_box,
        row_best,
        row_target,
    )


@pytest.mark.parametrize("seed", range(6))
def test_the_compiled_box_pass_is_numpys_bit_for_bit(seed: int, monkeypatch) -> None:
    from evalserver.scoring import detection_metrics as metrics

    rows, row_tube, row_frame, j_start, j_end, j_base, boxes, row_box, best, target = _random_pass(
        seed
    )
    pred = type("Pred", (), {"row_tube": row_tube, "row_frame": row_frame, "row_box": row_box})()
    args = (j_start, j_end, j_base, boxes)
    best_c, target_c = best.copy(), target.copy()
    hit_c, iou_c = metrics._box_pass(rows, pred, *args, best_c, target_c)
    monkeypatch.setattr(metrics, "box_pass", lambda *a: None)
    best_n, target_n = best.copy(), target.copy()
    hit_n, iou_n = metrics._box_pass(rows, pred, *args, best_n, target_n)
    assert len(hit_n) > 100
    assert (iou_n == 0).any()  # boxes that miss or only touch
    assert hit_c.tobytes() == hit_n.tobytes()
    assert iou_c.tobytes() == iou_n.tobytes()
    assert best_c.tobytes() == best_n.tobytes()
    assert target_c.tobytes() == target_n.tobytes()
    assert (target_c >= 0).any()


@pytest.mark.parametrize("seed", range(12))
def test_scores_are_the_same_with_and_without_the_compiled_module(seed: int, monkeypatch) -> None:
    """Where it could not be built, numpy scores the same bits (and both the reference's)."""
    from evalserver.scoring import detection_metrics as metrics

    from .detection_helpers import csv_bytes, random_case
    from .test_detection_reference import assert_same, fast_score, reference_score

    monkeypatch.setattr(metrics, "_SPLIT_PASS_ROWS", 2 if seed % 2 else 1 << 16)
    case = random_case(seed, max_clips=6)
    data = csv_bytes(case.rows)
    with_module = fast_score(case.records, case.class_names, data)
    monkeypatch.setattr(detection_native, "_detection_csv", None)
    without = fast_score(case.records, case.class_names, data)
    assert with_module == without
    assert_same(without, reference_score(case.records, case.class_names, data))


def test_the_box_pass_refuses_what_it_cannot_read(monkeypatch) -> None:
    from evalserver.scoring import _detection_csv

    rows, row_tube, row_frame, j_start, j_end, j_base, boxes, row_box, best, target = _random_pass(
        1, n_rows=50
    )
    args = [rows, row_tube, row_frame, j_start, j_end, j_base, boxes, row_box, best, target]
    out = [np.empty(len(rows), dtype=np.int64), np.empty(len(rows))]
    assert _detection_csv.box_pass(*args, *out) >= 0
    # A layout it does not read is left to numpy.
    assert (
        detection_native.box_pass(*args[:7], np.asfortranarray(row_box.reshape(4, 50)), *args[8:])
        is None
    )
    assert detection_native.box_pass(*args[:9], target.astype(np.int32)) is None
    for k, bad in (
        (0, np.array([0, 50])),  # a row out of range
        (1, np.full(50, 60)),  # a tube out of range
        (5, np.full(60, 10**6)),  # a box out of range
        (2, np.zeros(49, dtype=np.int64)),
        (6, np.zeros((10, 3))),
    ):
        changed = list(args)
        changed[k] = bad
        with pytest.raises(ValueError, match=r"out of range|inconsistent arguments"):
            _detection_csv.box_pass(*changed, *out)
    with pytest.raises(ValueError, match=r"inconsistent arguments"):
        _detection_csv.box_pass(*args, out[0][:3], out[1])


def _random_rows(seed: int, n: int, *, n_clips: int, span: int, n_classes: int, frames: int):
    from evalserver.scoring.detection_csv import SubmissionRows

    rng = np.random.default_rng(seed)
    # Rows of a few tubes each, on distinct frames, shuffled; scores with many digits.
    keys = rng.choice(n_clips * span * n_classes * frames, size=n, replace=False)
    clip, rest = np.divmod(keys, span * n_classes * frames)
    tube_id, rest = np.divmod(rest, n_classes * frames)
    cls, frame = np.divmod(rest, frames)
    return SubmissionRows(
        clip=clip,
        tube_id=tube_id,
        frame=frame,
        cls=cls,
        line=np.arange(2, n + 2),
        score=rng.random(n),
        box=np.zeros((4, n)),
    )


@pytest.mark.parametrize(
    ("seed", "shape"),
    [
        (0, {"n_clips": 3, "span": 4, "n_classes": 2, "frames": 30}),
        (1, {"n_clips": 40, "span": 9, "n_classes": 5, "frames": 12}),
        (2, {"n_clips": 1, "span": 1, "n_classes": 1, "frames": 500}),
        (3, {"n_clips": 7, "span": 3, "n_classes": 26, "frames": 20}),
    ],
)
def test_the_compiled_grouping_is_numpys(seed: int, shape: dict) -> None:
    from evalserver.scoring import detection_metrics as metrics

    rows = _random_rows(seed, 300, **shape)
    n_clips, n_classes = shape["n_clips"], shape["n_classes"]
    span = int(rows.tube_id.max()) + 1
    bounds = {"max_table": 4 * 300 + (1 << 20), "max_slots": 4 * 300 + 1024}
    native = detection_native.group(
        rows, rows.tube_id, n_clips=n_clips, n_classes=n_classes, span=span, **bounds
    )
    assert native is not None

    class _Labels:
        n_items = n_clips
        clip_dims = np.array([[shape["frames"], 10, 10]] * n_clips)

    _Labels.n_classes = n_classes
    want = metrics._group_numpy(rows, _Labels, None, rows.tube_id, span)
    for name in want._fields:
        assert getattr(native, name).tobytes() == getattr(want, name).tobytes(), name


def test_the_compiled_grouping_leaves_what_it_does_not_take_to_numpy() -> None:
    rows = _random_rows(5, 200, n_clips=4, span=5, n_classes=3, frames=400)
    args = {"n_clips": 4, "n_classes": 3, "span": 5}
    assert detection_native.group(rows, rows.tube_id, **args, max_table=60, max_slots=10**6)
    # Tables or spans over their bounds, or two rows for one (tube, frame): None.
    assert detection_native.group(rows, rows.tube_id, **args, max_table=19, max_slots=10**6) is None
    assert detection_native.group(rows, rows.tube_id, **args, max_table=59, max_slots=10**6) is None
    assert detection_native.group(rows, rows.tube_id, **args, max_table=60, max_slots=50) is None
    twice = dataclasses.replace(
        rows,
        **{
            f.name: np.concatenate([getattr(rows, f.name)] * 2, axis=-1)
            for f in dataclasses.fields(rows)
        },
    )
    assert (
        detection_native.group(twice, twice.tube_id, **args, max_table=60, max_slots=10**6) is None
    )
    # Out-of-range values are an error, not a read out of bounds.
    with pytest.raises(ValueError, match="out of range"):
        detection_native.group(
            rows, rows.tube_id, **{**args, "span": 2}, max_table=60, max_slots=10**6
        )
    bad = dataclasses.replace(rows, cls=rows.cls + 3)
    with pytest.raises(ValueError, match="out of range"):
        detection_native.group(bad, bad.tube_id, **args, max_table=60, max_slots=10**6)


@pytest.mark.parametrize("distinct", [1, 3, 1001, 9_000])
def test_the_compiled_ranking_is_numpys(distinct: int, monkeypatch) -> None:
    from evalserver.scoring import detection_metrics as metrics

    rng = np.random.default_rng(distinct)
    n = 50_000
    scores = rng.integers(0, distinct, n) / max(distinct - 1, 1)
    scores[rng.random(n) < 0.02] = -0.0  # ties with 0.0
    classes = rng.integers(0, 26, n)
    native = detection_native.rank(classes, scores, n_classes=26, max_keys=4 * n + (1 << 16))
    assert native is not None
    monkeypatch.setattr(metrics, "native_rank", lambda *a, **k: None)
    assert native.tobytes() == metrics._rank(classes, scores).tobytes()


def test_the_compiled_ranking_leaves_many_distinct_scores_to_numpy() -> None:
    rng = np.random.default_rng(3)
    scores, classes = rng.random(1000), rng.integers(0, 4, 1000)
    assert detection_native.rank(classes, scores, n_classes=4, max_keys=4 * 999) is None
    assert detection_native.rank(classes, scores, n_classes=4, max_keys=4 * 1000) is not None
    assert (
        detection_native.rank(classes, scores.astype(np.float32), n_classes=4, max_keys=10**6)
        is None
    )
    with pytest.raises(ValueError, match="class out of range"):
        detection_native.rank(classes, scores, n_classes=3, max_keys=10**6)
    scores[5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        detection_native.rank(classes, scores, n_classes=4, max_keys=10**6)
    empty = np.empty(0, dtype=np.int64)
    assert detection_native.rank(empty, np.empty(0), n_classes=1, max_keys=0).tolist() == []


def test_ids_alike_in_their_first_eight_bytes_are_told_apart() -> None:
    """A lookup compares a slot's length and first 8 bytes, then the rest of a long id."""
    ids = ["abcdefgh", "abcdefgh1", "abcdefgh2", "abcdefg", "abcdefgh12", "x" * 64]
    records = [clip(cid, [gt_tube("walk", 0, [[0, 0, 1, 1]])], frames=10) for cid in ids]
    alike = detection.load_labels(labels_json(records), list(SMALL_CLASSES))
    lines = [f"{cid},0,{k},walk,0.5,0,0,1,1" for k, cid in enumerate(ids)]
    rows = _native(alike, _csv(lines))
    assert rows is not None
    assert rows.clip.tolist() == list(range(len(ids)))
    assert _agree(alike, _csv(lines))
    for unknown in ("abcdefgh3", "abcdefgh1 ", "abcdefg1", "abcdefgh123", "x" * 63):
        assert not _agree(alike, _csv([*lines, f"{unknown},0,9,walk,0.5,0,0,1,1"]))


@pytest.mark.parametrize("seed", range(4))
def test_the_compiled_first_claims_are_numpys(seed: int) -> None:
    from evalserver.scoring import detection_metrics as metrics

    rng = np.random.default_rng(seed)
    n, n_targets = 5000, 300  # many items name one target: only the first in rank claims it
    ranked = rng.permutation(n)
    best = rng.choice([-1.0, 0.0, 0.25, 0.5, np.nextafter(0.5, 0), 0.75, 1.0], n)
    target = np.where(best >= 0, rng.integers(0, n_targets, n), -1)
    got = detection_native.first_claims(ranked, best, target, threshold=0.5, n_targets=n_targets)
    want = metrics._first_claims(np.where(best >= 0.5, target, -1)[ranked])
    assert got is not None
    assert got.dtype == want.dtype
    assert got.tolist() == want.tolist()
    assert 0 < got.sum() <= n_targets


def test_the_compiled_first_claims_refuse_indexes_out_of_range() -> None:
    ranked, best, target = np.array([0, 1]), np.array([0.9, 0.9]), np.array([0, 5])
    with pytest.raises(ValueError, match="out of range"):
        detection_native.first_claims(ranked, best, target, threshold=0.5, n_targets=5)
    with pytest.raises(ValueError, match="out of range"):
        detection_native.first_claims(np.array([2]), best, target, threshold=0.5, n_targets=6)
    tp = detection_native.first_claims(ranked, best, target, threshold=0.5, n_targets=6)
    assert tp.tolist() == [True, True]
    assert (
        detection_native.first_claims(
            ranked.astype(np.int32), best, target, threshold=0.5, n_targets=6
        )
        is None
    )


def test_a_scoring_process_keeps_numpys_arrays_on_small_pages() -> None:
    """reuse_freed_memory (a Celery pool process's and manage.py score's start) turns off
    numpy's huge-page advice: a fresh process's first writes to big arrays otherwise wait
    for the kernel to assemble 2 MB pages (hundreds of ms at 3M rows)."""
    import subprocess
    import sys

    code = (
        "import numpy as np\n"
        "from evalserver.scoring.detection_arrow import reuse_freed_memory\n"
        "switch = np._core.multiarray._set_madvise_hugepage\n"
        "before = switch(True)\n"
        "reuse_freed_memory()\n"
        "print(before, switch(False))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    # numpy's default on Linux is on; after the call it is off.
    assert out.stdout.split() == ["True", "False"]
