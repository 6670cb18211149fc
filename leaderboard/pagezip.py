"""gzip for the leaderboard page, made of segments, without compressing any secret (BREACH).

The page is megabytes of table rows, the same for every viewer of a board version, around a
few kilobytes that are the viewer's own (navigation, CSRF token, messages). A gzip body's
deflate stream may be cut into segments that each end on a byte boundary (a sync flush) and
are made by compressors of their own, so that none refers back into another. So the rows are
compressed once per version, in chunks (a chunk that holds the viewer's highlighted row is
compressed for the request), and the viewer's part is sent in *stored* (uncompressed) deflate
blocks: nothing secret is ever compressed with anything, so the compressed length tells an
attacker nothing (BREACH needs a secret and an attacker's text in one compression context).
The CRC-32 of the whole is continued over every segment's raw bytes.

Compression and the CRC are Intel's ISA-L (python-isal): its deflate writes the same
standard stream as zlib's, about four times faster than zlib's level 3 at about its size.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from isal import isal_zlib

# ISA-L's own default level (of 0-3). A board changes a few times a second in a deadline
# crowd and each web process compresses again the chunks whose entries changed or moved. On
# the API's 1,000-team JSON (bench_leaderboard's board), per 134 KiB chunk and in all:
# ISA-L level 2 0.20 ms, 711 KiB; zlib level 3 (used before) 0.87 ms, 720 KiB; zlib level 1
# 0.68 ms, 782 KiB; zlib level 6 2.3 ms, 623 KiB. Its CRC-32 is 8x zlib's here (0.16 ms for
# the 4.3 MB board instead of 1.3).
LEVEL = 2
# Magic, deflate, no flags, no mtime, no extra flags, unknown OS (as gzip.compress(mtime=0)).
_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"


def deflated(raw: bytes | memoryview) -> bytes:
    """A raw deflate segment of ``raw`` that ends on a byte boundary, not final, and refers
    to nothing before it."""
    compressor = isal_zlib.compressobj(LEVEL, isal_zlib.DEFLATED, -15)
    return compressor.compress(raw) + compressor.flush(isal_zlib.Z_SYNC_FLUSH)


def stored(raw: bytes | memoryview) -> bytes:
    """``raw`` as a deflate segment of *stored* blocks: not compressed at all (zlib's level
    0; ISA-L's level 0 still compresses)."""
    compressor = zlib.compressobj(0, zlib.DEFLATED, -15)
    return compressor.compress(raw) + compressor.flush(zlib.Z_SYNC_FLUSH)


class Segments(NamedTuple):
    """Chunks of a body (``data[start:end]`` for each span) and each chunk's deflate
    segment, kept for the next version of the body to reuse."""

    data: bytes
    spans: tuple[tuple[int, int], ...]
    deflated: tuple[bytes, ...]

    def parts(self) -> list[tuple[memoryview, bytes]]:
        """(raw bytes, segment) of every chunk, for :func:`gzipped` (views, not copies)."""
        view = memoryview(self.data)
        return [
            (view[start:end], segment)
            for (start, end), segment in zip(self.spans, self.deflated, strict=True)
        ]


def segmented(data: bytes, spans: Sequence[tuple[int, int]], previous: Segments | None) -> Segments:
    """The chunks ``data[start:end]`` of ``spans``, each deflated (:func:`deflated`).

    A chunk with exactly the bytes of the same chunk of ``previous`` (an earlier version
    of the body, cut by the same rule: its k-th chunk holds the same entries unless one
    moved) keeps that chunk's segment; the others are compressed. Compared in place
    (``bytes.startswith`` is a memcmp), not copied out and hashed: at 1,000 teams the
    whole comparison costs about as much as compressing one chunk.
    """
    view = memoryview(data)
    old_spans = previous.spans if previous is not None else ()
    old_view = memoryview(previous.data if previous is not None else b"")
    found = []
    for k, (start, end) in enumerate(spans):
        segment = None
        if k < len(old_spans):
            old_start, old_end = old_spans[k]
            if old_end - old_start == end - start and data.startswith(
                old_view[old_start:old_end], start
            ):
                segment = previous.deflated[k]  # type: ignore[union-attr]
        found.append(segment if segment is not None else deflated(view[start:end]))
    return Segments(data, tuple(spans), tuple(found))


_FINAL = zlib.compressobj(0, zlib.DEFLATED, -15).flush(zlib.Z_FINISH)


def gzipped(parts: Iterable[tuple[bytes | memoryview, bytes | None]]) -> bytes:
    """One gzip member of the ``(raw bytes, their deflated segment)`` parts, in order; a part
    without a segment is sent stored, uncompressed."""
    out = [_HEADER]
    crc = 0
    size = 0
    for raw, segment in parts:
        crc = isal_zlib.crc32(raw, crc)
        size += len(raw)
        out.append(segment if segment is not None else stored(raw))
    out.append(_FINAL)
    out.append(struct.pack("<II", crc & 0xFFFFFFFF, size & 0xFFFFFFFF))
    return b"".join(out)
