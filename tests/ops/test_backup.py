"""Backup and restore round trips, each between two deployments in child processes:
SQLite with local files, and PostgreSQL (a cluster the test made) with S3 (moto)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.services_real import MotoServer, PostgresCluster

ROOT = Path(__file__).resolve().parents[2]
_OURS = ("DATABASE_", "CELERY_", "EVALSERVER_", "DJANGO_", "EMAIL_", "PROMETHEUS_")


def _run(env: dict, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(_OURS)}
    clean.update(DJANGO_SETTINGS_MODULE="evalserver.settings", **env)
    result = subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def _manage(env, *args, check=True):
    return _run(env, "manage.py", *args, check=check)


def _snapshot(env) -> dict:
    return json.loads(_run(env, "-m", "tests.ops.deployment", "snapshot").stdout)


def _round_trip(source: dict, target: dict, archive: Path) -> tuple[dict, dict]:
    _manage(source, "migrate", "--noinput", "-v", "0")
    _run(source, "-m", "tests.ops.deployment", "seed")
    before = _snapshot(source)
    out = _manage(source, "backup", str(archive)).stdout
    assert "Backed up the" in out
    out = _manage(target, "restore", str(archive)).stdout
    assert "Restored the" in out
    after = _snapshot(target)
    return before, after


def _check_same(before: dict, after: dict) -> None:
    # Both tracks were scored and ranked, so the comparison is not between two empty states.
    ranked = {phase: board for phase, board in before["boards"].items() if board}
    assert {p.rsplit("/", 1)[1] for p in ranked} >= {"dev", "detection"}
    assert all(e["scores"] for board in ranked.values() for e in board)
    assert after["boards"] == before["boards"]
    assert after["submissions"] == before["submissions"]
    assert any(name.startswith("labels:") for name in before["files"])
    assert any(name.startswith("default:submissions/") for name in before["files"])
    assert after["files"] == before["files"]


def test_sqlite_and_local_files_round_trip(tmp_path):
    source = {"EVALSERVER_DATA_DIR": str(tmp_path / "a")}
    target = {"EVALSERVER_DATA_DIR": str(tmp_path / "b")}
    archive = tmp_path / "backup.tar.gz"
    before, after = _round_trip(source, target, archive)
    _check_same(before, after)
    # The restored deployment works: it migrates as a no-op and its files are byte-equal.
    _manage(target, "migrate", "--noinput", "-v", "0")
    for name in ("uploads", "labels"):
        a = sorted(
            p.relative_to(tmp_path / "a") for p in (tmp_path / "a" / name).rglob("*") if p.is_file()
        )
        b = sorted(
            p.relative_to(tmp_path / "b") for p in (tmp_path / "b" / name).rglob("*") if p.is_file()
        )
        assert a == b
        for rel in a:
            assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()
    # Restoring again over the now-filled deployment is refused, and changes nothing.
    again = _manage(target, "restore", str(archive), check=False)
    assert again.returncode != 0
    assert "the database is not empty" in again.stderr
    assert _snapshot(target) == after


def test_a_damaged_archive_is_refused_before_anything_is_written(tmp_path):
    source = {"EVALSERVER_DATA_DIR": str(tmp_path / "a")}
    _manage(source, "migrate", "--noinput", "-v", "0")
    _run(source, "-m", "tests.ops.deployment", "seed")
    archive = tmp_path / "backup.tar"
    _manage(source, "backup", str(archive))
    # Flip one byte of one stored file inside the (uncompressed) archive.
    with tarfile.open(archive) as tar:
        member = next(m for m in tar.getmembers() if m.name.startswith("files/default/"))
        offset = member.offset_data
    data = bytearray(archive.read_bytes())
    data[offset] ^= 0xFF
    damaged = tmp_path / "damaged.tar"
    damaged.write_bytes(bytes(data))
    target = {"EVALSERVER_DATA_DIR": str(tmp_path / "b")}
    result = _manage(target, "restore", str(damaged), check=False)
    assert result.returncode != 0
    assert f"{member.name}: SHA-256 does not match the manifest" in result.stderr
    assert (
        not (tmp_path / "b" / "db.sqlite3").exists()
        or (tmp_path / "b" / "db.sqlite3").stat().st_size == 0
    )
    assert not (tmp_path / "b" / "uploads").exists()
    # Not an archive at all, and an existing output name.
    (tmp_path / "junk.tar").write_bytes(b"not a tar file")
    assert (
        "is not a backup archive"
        in _manage(target, "restore", str(tmp_path / "junk.tar"), check=False).stderr
    )
    assert (
        "exists; choose a new name" in _manage(source, "backup", str(archive), check=False).stderr
    )


@pytest.fixture
def postgres_cluster(tmp_path_factory):
    if not shutil.which("pg_dump") or not shutil.which("pg_restore"):
        pytest.skip("pg_dump/pg_restore are not installed (postgresql-client)")
    cluster = PostgresCluster(tmp_path_factory.mktemp("pg")).init().start()
    yield cluster
    cluster.cleanup()


@pytest.fixture
def moto_server(tmp_path):
    server = MotoServer(tmp_path / "moto").start()
    yield server
    server.stop()


def _s3_env(moto: MotoServer, bucket: str) -> dict:
    return {
        "EVALSERVER_S3_BUCKET": bucket,
        "EVALSERVER_S3_ENDPOINT_URL": moto.endpoint,
        "EVALSERVER_S3_ACCESS_KEY": "testing",
        "EVALSERVER_S3_SECRET_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }


def test_postgresql_and_s3_round_trip(tmp_path, postgres_cluster, moto_server):
    s3 = moto_server.client()
    for bucket in ("deploy-a", "deploy-b"):
        s3.create_bucket(Bucket=bucket)
    source = {
        "EVALSERVER_DATA_DIR": str(tmp_path / "a"),
        "DATABASE_URL": postgres_cluster.create_database("deploy_a"),
        **_s3_env(moto_server, "deploy-a"),
    }
    target = {
        "EVALSERVER_DATA_DIR": str(tmp_path / "b"),
        "DATABASE_URL": postgres_cluster.create_database("deploy_b"),
        **_s3_env(moto_server, "deploy-b"),
    }
    before, after = _round_trip(source, target, tmp_path / "backup.tar")
    _check_same(before, after)

    def objects(bucket):
        keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))
        return {k: s3.get_object(Bucket=bucket, Key=k)["Body"].read() for k in keys}

    a, b = objects("deploy-a"), objects("deploy-b")
    assert a
    assert a == b
    assert any(key.startswith("labels/") for key in b)
    # Nothing local on either side: the files live in the bucket only.
    assert not (tmp_path / "a" / "uploads").exists()
    assert not (tmp_path / "b" / "uploads").exists()
    # The restored objects are as private as the originals.
    for key in b:
        grants = s3.get_object_acl(Bucket="deploy-b", Key=key)["Grants"]
        assert not any("AllUsers" in str(g.get("Grantee", {})) for g in grants)
