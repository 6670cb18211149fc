"""Open an uploaded submission that may be plain, gzipped or a one-file zip.

Both tracks read their submission through :func:`open_submission`, so the rules
for archives (one member, no path tricks, no encryption, a hard size cap) live in
one place. The cap is enforced on the bytes actually decompressed, never only on
sizes an archive declares about itself, and nothing is decompressed ahead of the
reader: memory stays bounded whatever the upload claims.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import re
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from typing import BinaryIO

from .errors import SubmissionInvalid, SubmissionTooLarge

ZIP_MAGIC = b"PK\x03\x04"
EMPTY_ZIP_MAGIC = b"PK\x05\x06"
GZIP_MAGIC = b"\x1f\x8b"

# Deflate cannot do better than ~1032:1; anything beyond this is a crafted bomb
# (bzip2/lzma members), whatever the declared size says.
MAX_COMPRESSION_RATIO = 1100
# Ratios only matter once the payload is big enough to hurt.
RATIO_CHECK_MIN_BYTES = 1 << 20

_CHUNK = 1 << 16
# Upload streams that cannot seek are spooled; this much stays in memory.
_SPOOL_IN_MEMORY = 8 << 20
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")


def is_archive(head: bytes) -> bool:
    """Whether a file starting with ``head`` is read as a zip or a gzip, not as plain text."""
    return head.startswith((ZIP_MAGIC, EMPTY_ZIP_MAGIC, GZIP_MAGIC))


def _human(n: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            value = n / size
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{n} bytes"


def _too_large(max_bytes: int, what: str = "the submission") -> SubmissionTooLarge:
    return SubmissionTooLarge([f"{what} is larger than the limit of {_human(max_bytes)}"])


class _CappedRaw(io.RawIOBase):
    """Reads from ``inner`` and fails as soon as more than ``max_bytes`` came out.

    Decompression errors surface only while reading (a truncated gzip, a bad CRC at
    the end of a zip member), so they are turned into ``SubmissionInvalid`` here.
    """

    def __init__(
        self,
        inner: BinaryIO,
        *,
        max_bytes: int,
        what: str,
        kind: str,
        owned: tuple[object, ...] = (),
        close_inner: bool = True,
    ) -> None:
        super().__init__()
        self._inner = inner
        self._close_inner = close_inner
        self._max_bytes = max_bytes
        self._what = what
        self._kind = kind
        self._owned = owned
        self.bytes_read = 0
        # The content's size when known before reading (content_size_hint).
        self.size_hint: int | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        want = len(buffer)
        if want == 0:
            return 0
        # Straight into the caller's buffer where the inner stream can (a file: one copy
        # from the page cache, instead of a bytes object copied once more here).
        readinto = getattr(self._inner, "readinto", None)
        try:
            if readinto is not None:
                n = readinto(buffer) or 0
                chunk = None
            else:
                chunk = self._inner.read(want)
                n = len(chunk)
        except (zipfile.BadZipFile, gzip.BadGzipFile, zlib.error, EOFError, OSError) as exc:
            raise SubmissionInvalid([f"{self._kind} is corrupt or truncated: {exc}"]) from None
        except NotImplementedError as exc:
            raise SubmissionInvalid([f"{self._kind} uses an unsupported feature: {exc}"]) from None
        self.bytes_read += n
        if self.bytes_read > self._max_bytes:
            raise _too_large(self._max_bytes, self._what)
        if chunk is not None:
            buffer[:n] = chunk
        return n

    def close(self) -> None:
        if not self.closed:
            inner = (self._inner,) if self._close_inner else ()
            for obj in (*inner, *self._owned):
                close = getattr(obj, "close", None)
                if close is not None:
                    close()
        super().close()


def _seekable_source(source: bytes | BinaryIO, *, max_bytes: int) -> tuple[BinaryIO, bool]:
    """Return a seekable stream over ``source`` and whether we own (must close) it."""
    if isinstance(source, bytes | bytearray | memoryview):
        return io.BytesIO(bytes(source)), True
    try:
        seekable = source.seekable()
    except (AttributeError, ValueError):
        seekable = False
    if seekable:
        return source, False
    # Zip needs random access. A compressed upload is never much larger than its
    # content, so the raw copy is capped too (with slack for archive overhead).
    limit = max_bytes + (1 << 20)
    # The spool outlives this function: the returned reader closes it.
    spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115
    copied = 0
    while True:
        chunk = source.read(_CHUNK)
        if not chunk:
            break
        copied += len(chunk)
        if copied > limit:
            spool.close()
            raise _too_large(max_bytes)
        spool.write(chunk)
    spool.seek(0)
    return spool, True  # type: ignore[return-value]


def _is_junk(name: str) -> bool:
    """Entries that archivers add on their own and nobody means to submit."""
    parts = [p for p in name.replace("\\", "/").split("/") if p]
    if not parts:
        return True
    base = parts[-1]
    return (
        "__MACOSX" in parts
        or base in (".DS_Store", "Thumbs.db", "desktop.ini")
        or base.startswith("._")
    )


def _unsafe_name(name: str) -> bool:
    normalised = name.replace("\\", "/")
    if normalised.startswith("/") or _WINDOWS_DRIVE.match(normalised):
        return True
    return ".." in normalised.split("/")


def _open_zip(stream: BinaryIO, *, max_bytes: int, owned: tuple[object, ...]) -> BinaryIO:
    try:
        zf = zipfile.ZipFile(stream)
        infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as exc:
        raise SubmissionInvalid([f"the zip archive is corrupt: {exc}"]) from None

    problems: list[str] = []
    members: list[zipfile.ZipInfo] = []
    for info in infos:
        if _unsafe_name(info.filename):
            problems.append(
                f"the zip archive member {info.filename!r} has an absolute path "
                "or climbs out of the archive with '..'"
            )
            continue
        if info.is_dir() or _is_junk(info.filename):
            continue
        members.append(info)
    if problems:
        zf.close()
        raise SubmissionInvalid(problems)
    if not members:
        zf.close()
        raise SubmissionInvalid(["the zip archive is empty: it must hold exactly one file"])
    if len(members) > 1:
        names = ", ".join(repr(m.filename) for m in members[:5])
        more = f" and {len(members) - 5} more" if len(members) > 5 else ""
        zf.close()
        raise SubmissionInvalid(
            [
                f"the zip archive holds {len(members)} files ({names}{more}); "
                "it must hold exactly one"
            ]
        )

    info = members[0]
    what = f"{info.filename!r} in the zip archive"
    if info.flag_bits & 0x1:
        zf.close()
        raise SubmissionInvalid([f"{what} is encrypted; upload it without a password"])
    if info.file_size > max_bytes:
        zf.close()
        raise _too_large(max_bytes, what)
    ratio = info.file_size / max(info.compress_size, 1)
    if info.file_size >= RATIO_CHECK_MIN_BYTES and ratio > MAX_COMPRESSION_RATIO:
        zf.close()
        raise SubmissionInvalid(
            [f"{what} claims an implausible compression ratio; the archive looks crafted"]
        )
    try:
        member = zf.open(info)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, zlib.error) as exc:
        zf.close()
        raise SubmissionInvalid([f"the zip archive is corrupt: {exc}"]) from None
    except (NotImplementedError, RuntimeError) as exc:
        # Unsupported compression methods and encryption flags zipfile refuses itself.
        zf.close()
        raise SubmissionInvalid([f"{what} cannot be read: {exc}"]) from None
    return _wrap(member, max_bytes=max_bytes, what=what, kind="the zip archive", owned=(zf, *owned))


def _wrap(
    inner: BinaryIO,
    *,
    max_bytes: int,
    what: str,
    kind: str,
    owned: tuple[object, ...],
    close_inner: bool = True,
) -> BinaryIO:
    raw = _CappedRaw(
        inner, max_bytes=max_bytes, what=what, kind=kind, owned=owned, close_inner=close_inner
    )
    reader = io.BufferedReader(raw, buffer_size=_CHUNK)
    try:
        first = reader.peek(1)
    except SubmissionInvalid:
        reader.close()
        raise
    if not first:
        reader.close()
        raise SubmissionInvalid([f"{what} is empty"])
    return reader  # type: ignore[return-value]


def open_submission(source: bytes | BinaryIO, *, max_bytes: int) -> BinaryIO:
    """Return a binary stream of the submission's content, decompressed if need be.

    The kind is told by magic bytes, not by the file name: zip (exactly one file,
    directories and macOS/Windows junk ignored), gzip, or anything else as plain.
    Reading more than ``max_bytes`` of content raises :class:`SubmissionTooLarge` (a
    :class:`SubmissionInvalid`); an empty, corrupt, encrypted or multi-file upload raises
    :class:`SubmissionInvalid`. The caller closes the returned stream; a stream passed
    in as ``source`` is left open.
    """
    if max_bytes <= 0:
        raise ValueError("max_bytes must be positive")
    stream, own_stream = _seekable_source(source, max_bytes=max_bytes)
    owned: tuple[object, ...] = (stream,) if own_stream else ()
    try:
        start = stream.tell()
        head = stream.read(4)
        stream.seek(start)
    except OSError as exc:
        raise SubmissionInvalid([f"the submission cannot be read: {exc}"]) from None
    if not head:
        for obj in owned:
            obj.close()  # type: ignore[attr-defined]
        raise SubmissionInvalid(["the submission is empty"])
    if head.startswith((ZIP_MAGIC, EMPTY_ZIP_MAGIC)):
        return _open_zip(stream, max_bytes=max_bytes, owned=owned)
    if head.startswith(GZIP_MAGIC):
        gz = gzip.GzipFile(fileobj=stream, mode="rb")
        return _wrap(
            gz,  # type: ignore[arg-type]
            max_bytes=max_bytes,
            what="the gzip-compressed submission",
            kind="the gzip file",
            owned=owned,
        )
    # A caller's own plain stream is read in place and left open for them.
    reader = _wrap(
        stream,
        max_bytes=max_bytes,
        what="the submission",
        kind="the file",
        owned=owned,
        close_inner=False,
    )
    size = _size_from(stream, start)
    # Over the cap it is refused after its first blocks, never read whole.
    reader.raw.size_hint = size if size is not None and size <= max_bytes else None  # type: ignore[attr-defined]
    return reader


def _size_from(stream: BinaryIO, start: int) -> int | None:
    """The bytes of a seekable stream from ``start`` to its end, its position kept."""
    try:
        position = stream.tell()
        end = stream.seek(0, io.SEEK_END)
        stream.seek(position)
    except (OSError, AttributeError, ValueError):
        return None
    return end - start if isinstance(end, int) and end >= start else None


def content_size_hint(stream: BinaryIO) -> int | None:
    """The whole content's size in bytes, when a stream of :func:`open_submission` knows it
    without reading (a plain upload: its file's size), else None. A hint: a file that
    changes while read may turn out another size."""
    raw = getattr(stream, "raw", None)
    return raw.size_hint if isinstance(raw, _CappedRaw) else None


def read_submission_bytes(source: bytes | BinaryIO, *, max_bytes: int) -> bytes:
    """The whole decompressed content, at most ``max_bytes`` long."""
    if isinstance(source, bytes) and not is_archive(source):
        # Plain bytes already in memory: checking beats copying them.
        if not source:
            raise SubmissionInvalid(["the submission is empty"])
        if len(source) > max_bytes:
            raise _too_large(max_bytes)
        return source
    chunks: list[bytes] = []
    with open_submission(source, max_bytes=max_bytes) as fh:
        while chunk := fh.read(_CHUNK * 16):
            chunks.append(chunk)
    return b"".join(chunks)


# --- Multi-member zips (the TinyActions 2022 detection layout) --------------------------------


@contextlib.contextmanager
def seekable(source: bytes | BinaryIO, *, max_bytes: int) -> Iterator[bytes | BinaryIO]:
    """``source`` itself when it is bytes or a seekable stream, else a capped spooled copy.

    Telling a one-file zip from a multi-member one needs random access; a stream that
    cannot seek (some remote storages) is copied first, at most ``max_bytes`` plus slack.
    """
    if isinstance(source, bytes | bytearray | memoryview):
        yield source
        return
    stream, own = _seekable_source(source, max_bytes=max_bytes)
    try:
        yield stream
    finally:
        if own:
            stream.close()


def zip_member_names(source: bytes | BinaryIO) -> list[str] | None:
    """Names of a zip's members, directories and archivers' junk left out; None if no zip.

    Reads only the central directory; a stream's position is restored.
    """
    if isinstance(source, bytes | bytearray | memoryview):
        if not bytes(source[:4]).startswith((ZIP_MAGIC, EMPTY_ZIP_MAGIC)):
            return None
        stream: BinaryIO = io.BytesIO(bytes(source))
    else:
        stream = source
    try:
        start = stream.tell()
        head = stream.read(4)
        stream.seek(start)
    except (OSError, AttributeError, ValueError):
        return None
    if not head.startswith((ZIP_MAGIC, EMPTY_ZIP_MAGIC)):
        return None
    try:
        with zipfile.ZipFile(stream) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError):
        return None
    finally:
        stream.seek(start)
    return [i.filename for i in infos if not i.is_dir() and not _is_junk(i.filename)]


def iter_zip_members(
    source: bytes | BinaryIO,
    *,
    max_bytes: int,
    max_member_bytes: int,
    max_members: int,
) -> Iterator[tuple[str, bytes]]:
    """(name, content) of every member of a zip, in archive order, with the caps of one file.

    The same rules as a one-file zip: no absolute paths or '..', no encryption, declared
    sizes and compression ratios checked before reading, and the bytes actually
    decompressed capped per member (``max_member_bytes``) and in total (``max_bytes``).
    Directories and archivers' junk are skipped; more than ``max_members`` members is
    refused before anything is read. Problems raise ``SubmissionInvalid`` naming the member.
    """
    stream, own = _seekable_source(source, max_bytes=max_bytes)
    try:
        try:
            zf = zipfile.ZipFile(stream)
            infos = zf.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as exc:
            raise SubmissionInvalid([f"the zip archive is corrupt: {exc}"]) from None
        with zf:
            unsafe = [i.filename for i in infos if _unsafe_name(i.filename)]
            if unsafe:
                raise SubmissionInvalid(
                    [
                        f"the zip archive member {name!r} has an absolute path "
                        "or climbs out of the archive with '..'"
                        for name in unsafe[:20]
                    ]
                )
            members = [i for i in infos if not i.is_dir() and not _is_junk(i.filename)]
            if len(members) > max_members:
                raise SubmissionInvalid(
                    [f"the zip archive holds {len(members)} files; at most {max_members} are read"]
                )
            declared = sum(i.file_size for i in members)
            if declared > max_bytes:
                raise _too_large(max_bytes, "the zip archive's content")
            total = 0
            for info in members:
                what = f"{info.filename!r} in the zip archive"
                if info.flag_bits & 0x1:
                    raise SubmissionInvalid([f"{what} is encrypted; upload it without a password"])
                if info.file_size > max_member_bytes:
                    raise _too_large(max_member_bytes, what)
                ratio = info.file_size / max(info.compress_size, 1)
                if info.file_size >= RATIO_CHECK_MIN_BYTES and ratio > MAX_COMPRESSION_RATIO:
                    raise SubmissionInvalid(
                        [f"{what} claims an implausible compression ratio; it looks crafted"]
                    )
                limit = min(max_member_bytes, max_bytes - total)
                try:
                    with zf.open(info) as member:
                        # One byte past the limit tells "too large" from "exactly at it".
                        data = member.read(limit + 1)
                except (zipfile.BadZipFile, OSError, EOFError, ValueError, zlib.error) as exc:
                    raise SubmissionInvalid([f"{what} is corrupt or truncated: {exc}"]) from None
                except (NotImplementedError, RuntimeError) as exc:
                    raise SubmissionInvalid([f"{what} cannot be read: {exc}"]) from None
                if len(data) > limit:
                    if limit == max_member_bytes:
                        raise _too_large(max_member_bytes, what)
                    raise _too_large(max_bytes, "the zip archive's content")
                total += len(data)
                yield info.filename, data
    finally:
        if own:
            stream.close()
