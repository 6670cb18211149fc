"""``manage.py backup`` / ``manage.py restore``: one archive, a whole deployment.

The archive is a tar file (gzip when its name ends in .gz) holding

- ``database.dump`` (PostgreSQL: ``pg_dump --format=custom``, one snapshot) or
  ``database.sqlite3`` (SQLite: the backup API, consistent while the server writes),
- ``files/<storage>/<name>``: every stored file of every storage but the static files
  (uploads, hidden labels, downloads), read through Django's storage API, so local disk
  and S3 are the same to it,
- ``manifest.json``: the format, the database vendor, and the size and SHA-256 of every
  member.

``restore`` checks every sum before it writes anything, refuses a deployment that is not
fresh (a database with tables, or a storage holding any of the files), loads the
database, writes the files under their original names and reads each back to check its
sum again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.files.base import File
from django.core.files.storage import Storage, storages
from django.db import connection, connections

from evalserver.errors import DomainError

FORMAT = 1
MANIFEST = "manifest.json"
_CHUNK = 1024 * 1024


class BackupError(DomainError):
    """A backup or a restore that cannot go on; the message says why."""


@dataclass(frozen=True)
class Summary:
    path: Path
    vendor: str
    n_files: int
    n_bytes: int


def backed_up_storages() -> list[str]:
    """Every configured storage that holds data: all but the collected static files."""
    return [alias for alias in settings.STORAGES if alias != "staticfiles"]


def _walk(storage: Storage, folder: str = "") -> Iterator[str]:
    dirs, files = storage.listdir(folder)
    for name in sorted(files):
        yield f"{folder}/{name}" if folder else name
    for sub in sorted(dirs):
        yield from _walk(storage, f"{folder}/{sub}" if folder else sub)


def _storage_names(storage: Storage) -> list[str]:
    try:
        return list(_walk(storage))
    except FileNotFoundError:
        return []  # a local storage whose folder was never made holds nothing


class _Hashing(io.RawIOBase):
    """Reads through a file object, hashing what passes."""

    def __init__(self, fh):
        self.fh = fh
        self.sha = hashlib.sha256()
        self.n = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.fh.read(len(buffer))
        self.sha.update(data)
        self.n += len(data)
        buffer[: len(data)] = data
        return len(data)


def _sha256_file(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            sha.update(chunk)
    return sha.hexdigest()


def _db() -> dict:
    return connection.settings_dict


def _vendor() -> str:
    return connection.vendor  # "postgresql" or "sqlite"


def _pg_env() -> dict[str, str]:
    db = _db()
    env = {**os.environ}
    for key, var in (
        ("HOST", "PGHOST"),
        ("PORT", "PGPORT"),
        ("USER", "PGUSER"),
        ("PASSWORD", "PGPASSWORD"),
        ("NAME", "PGDATABASE"),
    ):
        if db.get(key):
            env[var] = str(db[key])
    return env


def _run(command: list[str], what: str) -> None:
    if shutil.which(command[0]) is None:
        raise BackupError(f"{command[0]} is not installed; it is needed to {what}")
    result = subprocess.run(command, env=_pg_env(), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BackupError(f"{command[0]} failed to {what}: {result.stderr.strip()[-2000:]}")


def _dump_database(folder: Path) -> Path:
    vendor = _vendor()
    if vendor == "postgresql":
        out = folder / "database.dump"
        _run(
            ["pg_dump", "--format=custom", "--no-owner", "--no-privileges", "--file", str(out)],
            "dump the database",
        )
        return out
    if vendor == "sqlite":
        out = folder / "database.sqlite3"
        source = sqlite3.connect(str(_db()["NAME"]))
        target = sqlite3.connect(str(out))
        try:
            with target:
                source.backup(target)
        finally:
            target.close()
            source.close()
        return out
    raise BackupError(f"backing up a {vendor} database is not supported")


def backup(*, out: Path) -> Summary:
    """Write the deployment's database and files into the archive ``out``."""
    out = Path(out)
    if out.exists():
        raise BackupError(f"{out} exists; choose a new name (a backup never overwrites)")
    out.parent.mkdir(parents=True, exist_ok=True)
    mode = "w:gz" if out.name.endswith((".gz", ".tgz")) else "w"
    partial = out.with_name(out.name + ".partial")
    manifest: dict = {
        "format": FORMAT,
        "created_at": dt.datetime.now(dt.UTC).isoformat(),
        "database": None,
        "files": [],
    }
    n_bytes = 0
    with tempfile.TemporaryDirectory(prefix="evalserver-backup-") as tmp:
        dump = _dump_database(Path(tmp))
        try:
            with tarfile.open(partial, mode) as tar:
                member = dump.name
                tar.add(dump, arcname=member)
                manifest["database"] = {
                    "vendor": _vendor(),
                    "member": member,
                    "size": dump.stat().st_size,
                    "sha256": _sha256_file(dump),
                }
                for alias in backed_up_storages():
                    storage = storages[alias]
                    for name in _storage_names(storage):
                        member = f"files/{alias}/{name}"
                        info = tarfile.TarInfo(member)
                        info.size = storage.size(name)
                        info.mode = 0o640
                        with storage.open(name, "rb") as fh:
                            hashing = _Hashing(fh)
                            tar.addfile(info, io.BufferedReader(hashing, _CHUNK))
                        if hashing.n != info.size:
                            raise BackupError(f"{alias}:{name} changed size while being read")
                        manifest["files"].append(
                            {
                                "storage": alias,
                                "name": name,
                                "member": member,
                                "size": hashing.n,
                                "sha256": hashing.sha.hexdigest(),
                            }
                        )
                        n_bytes += hashing.n
                body = json.dumps(manifest, indent=1).encode()
                info = tarfile.TarInfo(MANIFEST)
                info.size = len(body)
                tar.addfile(info, io.BytesIO(body))
            partial.rename(out)
        finally:
            partial.unlink(missing_ok=True)
    return Summary(
        path=out,
        vendor=manifest["database"]["vendor"],
        n_files=len(manifest["files"]),
        n_bytes=n_bytes,
    )


# --- Restore ----------------------------------------------------------------------------


def _read_manifest(tar: tarfile.TarFile) -> dict:
    try:
        fh = tar.extractfile(MANIFEST)
    except KeyError:
        raise BackupError("the archive has no manifest.json: not a backup of this server") from None
    manifest = json.loads(fh.read())
    if manifest.get("format") != FORMAT:
        raise BackupError(f"unknown backup format {manifest.get('format')!r}")
    return manifest


def verify(*, archive: Path) -> dict:
    """Check every member against the manifest; returns the manifest. Writes nothing."""
    archive = Path(archive)
    if not archive.is_file():
        raise BackupError(f"{archive} does not exist")
    try:
        tar = tarfile.open(archive, "r:*")  # noqa: SIM115 (closed by the with below)
    except tarfile.TarError as exc:
        raise BackupError(f"{archive} is not a backup archive: {exc}") from None
    with tar:
        manifest = _read_manifest(tar)
        expected = {manifest["database"]["member"]: manifest["database"]}
        for entry in manifest["files"]:
            expected[entry["member"]] = entry
        seen: set[str] = set()
        problems: list[str] = []
        for info in tar:
            if info.name == MANIFEST:
                continue
            entry = expected.get(info.name)
            if entry is None or not info.isfile():
                problems.append(f"{info.name}: not in the manifest")
                continue
            sha = hashlib.sha256()
            fh = tar.extractfile(info)
            while chunk := fh.read(_CHUNK):
                sha.update(chunk)
            if sha.hexdigest() != entry["sha256"] or info.size != entry["size"]:
                problems.append(f"{info.name}: SHA-256 does not match the manifest")
            seen.add(info.name)
        problems += [f"{name}: missing from the archive" for name in sorted(set(expected) - seen)]
    if problems:
        shown = "; ".join(problems[:20])
        more = f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""
        raise BackupError(f"the archive is damaged, nothing was restored: {shown}{more}")
    return manifest


def _check_fresh(manifest: dict) -> None:
    vendor = manifest["database"]["vendor"]
    if vendor != _vendor():
        raise BackupError(
            f"the archive holds a {vendor} database but DATABASE_URL points at {_vendor()}"
        )
    tables = connection.introspection.table_names()
    if tables:
        raise BackupError(
            f"the database is not empty ({len(tables)} tables, e.g. {sorted(tables)[0]}); "
            "restore rebuilds a fresh deployment: point DATABASE_URL at a new database"
        )
    for entry in manifest["files"]:
        if entry["storage"] not in settings.STORAGES:
            raise BackupError(
                f"the archive has files of a storage {entry['storage']!r} "
                "this deployment does not configure"
            )
        if storages[entry["storage"]].exists(entry["name"]):
            raise BackupError(
                f"{entry['storage']}:{entry['name']} already exists; restore into empty storage"
            )


def _restore_database(tar: tarfile.TarFile, entry: dict, folder: Path) -> None:
    tar.extract(entry["member"], folder, filter="data")
    dump = folder / entry["member"]
    if _sha256_file(dump) != entry["sha256"]:
        raise BackupError("the database dump changed while being restored")
    connections.close_all()
    if entry["vendor"] == "postgresql":
        _run(
            [
                "pg_restore",
                "--no-owner",
                "--no-privileges",
                "--exit-on-error",
                "--single-transaction",
                "--dbname",
                str(_db()["NAME"]),
                str(dump),
            ],
            "restore the database",
        )
    else:
        target_path = Path(_db()["NAME"])
        target_path.parent.mkdir(parents=True, exist_ok=True)
        source = sqlite3.connect(str(dump))
        target = sqlite3.connect(str(target_path))
        try:
            with target:
                source.backup(target)
        finally:
            target.close()
            source.close()


def restore(*, archive: Path) -> Summary:
    """Rebuild a fresh deployment from ``archive`` (see the module's docstring)."""
    manifest = verify(archive=archive)
    _check_fresh(manifest)
    n_bytes = 0
    with (
        tarfile.open(archive, "r:*") as tar,
        tempfile.TemporaryDirectory(prefix="evalserver-restore-") as tmp,
    ):
        _restore_database(tar, manifest["database"], Path(tmp))
        for entry in manifest["files"]:
            storage = storages[entry["storage"]]
            fh = tar.extractfile(entry["member"])
            saved = storage.save(entry["name"], File(fh, name=entry["name"]))
            if saved != entry["name"]:
                raise BackupError(f"{entry['storage']}:{entry['name']} was stored as {saved}")
            sha = hashlib.sha256()
            with storage.open(saved, "rb") as back:
                while chunk := back.read(_CHUNK):
                    sha.update(chunk)
            if sha.hexdigest() != entry["sha256"]:
                raise BackupError(f"{entry['storage']}:{entry['name']} reads back differently")
            n_bytes += entry["size"]
    return Summary(
        path=Path(archive),
        vendor=manifest["database"]["vendor"],
        n_files=len(manifest["files"]),
        n_bytes=n_bytes,
    )
