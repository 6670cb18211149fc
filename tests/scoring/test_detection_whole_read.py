"""A plain detection upload of known size is read in one go (detection_csv's
_read_checked_whole): the same rows and problems as reading it in blocks, its header
checked first, and a file that changes while it is read is still read whole."""

from __future__ import annotations

import dataclasses
import gzip
import io
from pathlib import Path

import pytest

from evalserver.scoring import detection, detection_csv
from evalserver.scoring.archive import content_size_hint, open_submission
from evalserver.scoring.detection_csv import CHUNK_BYTES, read_rows
from evalserver.scoring.errors import SubmissionInvalid, SubmissionTooLarge

from .detection_helpers import HEADER, SMALL_CLASSES, clip, gt_tube, labels_json

MAX = 1 << 30


@pytest.fixture(scope="module")
def labels() -> detection.DetectionLabels:
    records = [
        clip(cid, [gt_tube(SMALL_CLASSES[k % 4], 2, [[10, 10, 40, 40]] * 6)], frames=20)
        for k, cid in enumerate(("00000", "00001"))
    ]
    return detection.load_labels(labels_json(records), list(SMALL_CLASSES))


def _lines(n: int, *, start: int = 0) -> list[str]:
    return [
        f"0000{k % 2},{k},{k % 20},walk,0.5,{k % 7},2,{k % 7 + 5.5},9"
        for k in range(start, start + n)
    ]


def _csv(lines: list[str]) -> bytes:
    return ("\n".join([HEADER, *lines]) + "\n").encode()


def _same(a, b) -> None:
    for f in dataclasses.fields(a):
        assert getattr(a, f.name).tobytes() == getattr(b, f.name).tobytes(), f.name


def _in_blocks(labels, data: bytes):
    return read_rows(io.BytesIO(data), labels, chunk_bytes=CHUNK_BYTES)


def test_a_plain_file_knows_its_size_and_gives_the_rows_of_the_block_reader(labels, tmp_path):
    data = _csv(_lines(5_000))
    path = tmp_path / "pred.csv"
    path.write_bytes(data)
    with path.open("rb") as fh, open_submission(fh, max_bytes=MAX) as stream:
        assert content_size_hint(stream) == len(data)
        rows, problems = read_rows(stream, labels)
    assert not problems
    assert len(rows.clip) == 5_000
    _same(rows, _in_blocks(labels, data)[0])


def test_a_compressed_upload_has_no_size_hint_and_is_read_in_blocks(labels):
    data = _csv(_lines(50))
    with open_submission(gzip.compress(data), max_bytes=MAX) as stream:
        assert content_size_hint(stream) is None
        rows, _ = read_rows(stream, labels)
    _same(rows, _in_blocks(labels, data)[0])


def test_a_file_that_grows_while_read_is_read_to_its_end(labels, tmp_path):
    path = tmp_path / "pred.csv"
    path.write_bytes(_csv(_lines(100)))
    with path.open("rb") as fh, open_submission(fh, max_bytes=MAX) as stream:
        size = content_size_hint(stream)
        with path.open("ab") as more:  # another writer appends after the size was taken
            more.write(("\n".join(_lines(30, start=100)) + "\n").encode())
        rows, problems = read_rows(stream, labels)
    assert size == len(_csv(_lines(100)))
    assert not problems
    assert len(rows.clip) == 130
    _same(rows, _in_blocks(labels, _csv(_lines(130)))[0])


def test_a_file_that_shrinks_while_read_gives_the_rows_that_are_left(labels, tmp_path):
    path = tmp_path / "pred.csv"
    # Far more than what opening it reads ahead (the buffered readers' few kB).
    path.write_bytes(_csv(_lines(20_000)))
    with path.open("rb") as fh, open_submission(fh, max_bytes=MAX) as stream:
        with path.open("r+b") as cut:
            cut.truncate(len(_csv(_lines(10_000))))
        rows, problems = read_rows(stream, labels)
    assert not problems
    assert len(rows.clip) == 10_000


def test_a_wrong_header_is_reported_before_the_size_cap(labels, tmp_path, monkeypatch):
    # Over the cap, the file is read in blocks: the header is checked on the first.
    monkeypatch.setattr(detection_csv, "CHUNK_BYTES", 4096)
    path = tmp_path / "pred.csv"
    path.write_bytes(_csv(_lines(5_000)).replace(b"video_id", b"clip_id", 1))
    with (
        path.open("rb") as fh,
        open_submission(fh, max_bytes=100_000) as stream,
        pytest.raises(SubmissionInvalid) as caught,
    ):
        read_rows(stream, labels)
    assert not isinstance(caught.value, SubmissionTooLarge)
    assert "line 1: the header must be" in caught.value.errors[0]


def test_a_right_header_over_the_size_cap_is_too_large(labels, tmp_path):
    path = tmp_path / "pred.csv"
    path.write_bytes(_csv(_lines(5_000)))
    with (
        path.open("rb") as fh,
        open_submission(fh, max_bytes=100_000) as stream,
        pytest.raises(SubmissionTooLarge),
    ):
        read_rows(stream, labels)


def test_a_header_line_longer_than_the_buffer_is_still_checked(labels, tmp_path: Path):
    path = tmp_path / "pred.csv"
    long_header = "video_id" + "x" * 200_000
    path.write_bytes((long_header + "\n" + "\n".join(_lines(3)) + "\n").encode())
    with (
        path.open("rb") as fh,
        open_submission(fh, max_bytes=MAX) as stream,
        pytest.raises(SubmissionInvalid) as caught,
    ):
        read_rows(stream, labels)
    assert "line 1: the header must be" in caught.value.errors[0]


def test_a_plain_file_over_the_cap_has_no_size_hint(tmp_path):
    # It is then read in blocks and refused at the first block past the cap, never whole.
    path = tmp_path / "pred.csv"
    path.write_bytes(_csv(_lines(5_000)))
    with path.open("rb") as fh, open_submission(fh, max_bytes=100_000) as stream:
        assert content_size_hint(stream) is None
    with path.open("rb") as fh, open_submission(fh, max_bytes=path.stat().st_size) as stream:
        assert content_size_hint(stream) == path.stat().st_size
