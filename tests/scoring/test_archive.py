"""open_submission: plain, gzip and one-file zip uploads, and every way to get them wrong."""

from __future__ import annotations

import gzip
import io
import struct
import zipfile

import pytest

from evalserver.scoring.archive import open_submission, read_submission_bytes
from evalserver.scoring.errors import SubmissionInvalid, SubmissionTooLarge

CONTENT = b"00000 0 1\n00001 1 0\n"
MiB = 1 << 20


def make_zip(members: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for name, data in members.items():
            if name.endswith("/"):
                zf.writestr(zipfile.ZipInfo(name), b"")
            else:
                zf.writestr(name, data)
    return buf.getvalue()


def errors_of(source, *, max_bytes: int = MiB) -> list[str]:
    with pytest.raises(SubmissionInvalid) as info:
        read_submission_bytes(source, max_bytes=max_bytes)
    return info.value.errors


class NonSeekable(io.RawIOBase):
    """An upload stream that can only be read forwards, like a socket."""

    def __init__(self, data: bytes) -> None:
        self._inner = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readinto(self, b) -> int:
        chunk = self._inner.read(len(b))
        b[: len(chunk)] = chunk
        return len(chunk)


# --- accepted forms -------------------------------------------------------------------


def test_plain_bytes_are_returned_as_is():
    assert read_submission_bytes(CONTENT, max_bytes=MiB) == CONTENT


def test_plain_stream_is_read_and_left_open_for_the_caller():
    stream = io.BytesIO(CONTENT)
    with open_submission(stream, max_bytes=MiB) as fh:
        assert fh.read() == CONTENT
    assert not stream.closed


def test_gzip_is_decompressed():
    assert read_submission_bytes(gzip.compress(CONTENT), max_bytes=MiB) == CONTENT


def test_multi_member_gzip_is_read_whole():
    data = gzip.compress(CONTENT[:10]) + gzip.compress(CONTENT[10:])
    assert read_submission_bytes(data, max_bytes=MiB) == CONTENT


@pytest.mark.parametrize(
    "compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA]
)
def test_zip_with_one_file(compression):
    data = make_zip({"answer.txt": CONTENT}, compression=compression)
    assert read_submission_bytes(data, max_bytes=MiB) == CONTENT


def test_zip_ignores_directories_and_macos_junk():
    data = make_zip(
        {
            "results/": b"",
            "results/answer.txt": CONTENT,
            "__MACOSX/results/._answer.txt": b"\x00\x05\x16\x07junk",
            "results/.DS_Store": b"\x00\x00\x00\x01Bud1",
        }
    )
    assert read_submission_bytes(data, max_bytes=MiB) == CONTENT


def test_zip_from_a_non_seekable_stream():
    data = make_zip({"answer.txt": CONTENT})
    with open_submission(NonSeekable(data), max_bytes=MiB) as fh:
        assert fh.read() == CONTENT


def test_stream_supports_line_iteration():
    with open_submission(gzip.compress(CONTENT), max_bytes=MiB) as fh:
        assert list(fh) == CONTENT.splitlines(keepends=True)


def test_content_of_exactly_max_bytes_is_accepted():
    assert read_submission_bytes(gzip.compress(CONTENT), max_bytes=len(CONTENT)) == CONTENT
    assert read_submission_bytes(CONTENT, max_bytes=len(CONTENT)) == CONTENT


# --- empty and wrong shapes -----------------------------------------------------------


@pytest.mark.parametrize("source", [b"", io.BytesIO(b"")])
def test_empty_file(source):
    assert errors_of(source) == ["the submission is empty"]


def test_empty_zip():
    data = make_zip({})
    assert data.startswith(b"PK\x05\x06")
    assert "the zip archive is empty" in errors_of(data)[0]


def test_zip_with_only_junk_counts_as_empty():
    data = make_zip({"__MACOSX/": b"", ".DS_Store": b"x", "dir/": b""})
    assert "the zip archive is empty" in errors_of(data)[0]


def test_zip_with_two_files_names_them():
    data = make_zip({"answer.txt": CONTENT, "notes.txt": b"hello"})
    (msg,) = errors_of(data)
    assert "holds 2 files" in msg
    assert "'answer.txt'" in msg
    assert "'notes.txt'" in msg
    assert "exactly one" in msg


def test_zip_with_one_empty_member():
    (msg,) = errors_of(make_zip({"answer.txt": b""}))
    assert msg == "'answer.txt' in the zip archive is empty"


def test_gzip_of_nothing_is_empty():
    (msg,) = errors_of(gzip.compress(b""))
    assert "is empty" in msg


# --- hostile archives -----------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["../answer.txt", "a/../../answer.txt", "/etc/answer.txt", "C:/answer.txt", "..\\x.txt"]
)
def test_zip_member_escaping_the_archive_is_rejected(name):
    data = make_zip({name: CONTENT})
    (msg,) = errors_of(data)
    assert repr(name) in msg
    assert "climbs out" in msg


def test_name_with_double_dots_inside_a_component_is_fine():
    data = make_zip({"answer..v2.txt": CONTENT})
    assert read_submission_bytes(data, max_bytes=MiB) == CONTENT


def test_encrypted_member_is_rejected():
    data = bytearray(make_zip({"answer.txt": CONTENT}, compression=zipfile.ZIP_STORED))
    # Set the "encrypted" general-purpose flag in the local and central headers.
    local = data.index(b"PK\x03\x04")
    central = data.index(b"PK\x01\x02")
    for offset in (local + 6, central + 8):
        (flags,) = struct.unpack_from("<H", data, offset)
        struct.pack_into("<H", data, offset, flags | 0x1)
    (msg,) = errors_of(bytes(data))
    assert "encrypted" in msg


def test_declared_size_over_the_limit_is_rejected_before_reading():
    data = make_zip({"answer.txt": b"0 " * 5000})
    (msg,) = errors_of(data, max_bytes=1000)
    assert msg == "'answer.txt' in the zip archive is larger than the limit of 1000 bytes"


def test_absurd_compression_ratio_is_rejected():
    data = make_zip({"answer.txt": b"\0" * (8 * MiB)}, compression=zipfile.ZIP_BZIP2)
    (msg,) = errors_of(data, max_bytes=64 * MiB)
    assert "implausible compression ratio" in msg


def test_zip_whose_header_understates_the_size_is_still_caught():
    payload = b"00000 0 1\n" * 10_000
    data = bytearray(make_zip({"answer.txt": payload}, compression=zipfile.ZIP_STORED))
    # Claim 100 bytes in both headers: the reader must not trust it and stop quietly.
    local = data.index(b"PK\x03\x04")
    central = data.index(b"PK\x01\x02")
    struct.pack_into("<I", data, local + 22, 100)
    struct.pack_into("<I", data, central + 24, 100)
    (msg,) = errors_of(bytes(data), max_bytes=len(payload) * 2)
    assert "corrupt" in msg


def test_gzip_bomb_is_stopped_while_streaming():
    bomb = gzip.compress(b"\0" * (4 * MiB))
    (msg,) = errors_of(bomb, max_bytes=MiB)
    assert msg == "the gzip-compressed submission is larger than the limit of 1 MiB"


def test_plain_stream_over_the_limit():
    (msg,) = errors_of(io.BytesIO(b"x" * 2000), max_bytes=1000)
    assert msg == "the submission is larger than the limit of 1000 bytes"


def test_plain_bytes_over_the_limit():
    (msg,) = errors_of(b"x" * 2000, max_bytes=1000)
    assert msg == "the submission is larger than the limit of 1000 bytes"


def test_non_seekable_stream_over_the_limit_is_not_spooled_whole():
    (msg,) = errors_of(NonSeekable(b"x" * (3 * MiB)), max_bytes=MiB)
    assert "larger than the limit of 1 MiB" in msg


@pytest.mark.parametrize(
    "source",
    [
        pytest.param(lambda: make_zip({"answer.txt": b"0 " * 5000}), id="zip-declared"),
        pytest.param(lambda: gzip.compress(b"0 " * 5000), id="gzip"),
        pytest.param(lambda: b"x" * 2000, id="plain-bytes"),
        pytest.param(lambda: io.BytesIO(b"x" * 2000), id="plain-stream"),
        pytest.param(lambda: NonSeekable(b"x" * (3 * MiB)), id="non-seekable"),
    ],
)
def test_every_size_refusal_is_a_submission_too_large(source):
    # Callers (the worker) tell a size refusal by its type, never by its words.
    with pytest.raises(SubmissionTooLarge) as info:
        read_submission_bytes(source(), max_bytes=1000)
    assert isinstance(info.value, SubmissionInvalid)
    assert "larger than the limit of" in info.value.errors[0]


def test_a_size_refusal_while_streaming_is_a_submission_too_large():
    def read_all(fh) -> None:
        while fh.read(64 * 1024):
            pass

    with (
        open_submission(gzip.compress(b"x" * (2 * MiB)), max_bytes=MiB) as fh,
        pytest.raises(SubmissionTooLarge),
    ):
        read_all(fh)


@pytest.mark.parametrize(
    "source",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"PK\x03\x04" + b"\x13" * 200, id="corrupt-zip"),
        pytest.param(lambda: make_zip({"a.txt": CONTENT, "b.txt": CONTENT}), id="two-files"),
        pytest.param(lambda: gzip.compress(b"")[:-4], id="truncated-gzip"),
    ],
)
def test_other_refusals_are_not_size_refusals(source):
    data = source() if callable(source) else source
    with pytest.raises(SubmissionInvalid) as info:
        read_submission_bytes(data, max_bytes=MiB)
    assert not isinstance(info.value, SubmissionTooLarge), info.value.errors


# --- corrupt input --------------------------------------------------------------------


def test_corrupt_zip():
    (msg,) = errors_of(b"PK\x03\x04" + b"\x13" * 200)
    assert msg.startswith("the zip archive is corrupt")


def test_truncated_zip():
    data = make_zip({"answer.txt": CONTENT * 100})
    (msg,) = errors_of(data[: len(data) // 2])
    assert msg.startswith("the zip archive is corrupt")


def test_zip_with_damaged_member_data():
    payload = b"00000 0 1\n" * 1000
    data = bytearray(make_zip({"answer.txt": payload}, compression=zipfile.ZIP_DEFLATED))
    start = data.index(b"answer.txt") + len("answer.txt")
    for i in range(start + 5, start + 15):
        data[i] ^= 0xFF
    (msg,) = errors_of(bytes(data))
    assert "corrupt" in msg


def test_corrupt_gzip():
    (msg,) = errors_of(b"\x1f\x8b\x08\x00" + b"\xff" * 100)
    assert msg.startswith("the gzip file is corrupt")


def test_truncated_gzip():
    data = gzip.compress(CONTENT * 100)
    (msg,) = errors_of(data[: len(data) - 12])
    assert msg.startswith("the gzip file is corrupt or truncated")


def test_max_bytes_must_be_positive():
    with pytest.raises(ValueError, match="max_bytes"):
        open_submission(CONTENT, max_bytes=0)
