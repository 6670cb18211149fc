"""With S3 and EVALSERVER_S3_URL_EXPIRY, a team's own file is a presigned link that
expires; without a signature the bucket refuses it (private objects, moto on loopback)."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.core.files.base import ContentFile

from submissions.models import Submission
from tests.factories import SubmissionFactory
from tests.services_real import MotoServer

BUCKET = "links-test"


@pytest.fixture
def s3_storage(settings, tmp_path):
    moto = MotoServer(tmp_path / "moto").start()
    moto.client().create_bucket(Bucket=BUCKET)
    options = {
        "bucket_name": BUCKET,
        "endpoint_url": moto.endpoint,
        "access_key": "testing",
        "secret_key": "testing",
        "region_name": "us-east-1",
        "default_acl": "private",
        "querystring_auth": True,
        "file_overwrite": False,
        "signature_version": "s3v4",
    }
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {**options, "location": "uploads"},
        },
    }
    yield moto
    moto.stop()


@pytest.fixture
def alice_submission(s3_storage, phase, alice_team, alice):
    submission = SubmissionFactory(
        phase=phase,
        team=alice_team,
        submitted_by=alice,
        status=Submission.Status.FINISHED,
        original_filename='my "best" answer.txt',
        file=None,
    )
    submission.file.save("answer.txt", ContentFile(b"00001 0 1 0\n"), save=True)
    return submission


def test_own_file_is_a_presigned_link_that_expires(settings, alice_web, alice_submission):
    settings.EVALSERVER_S3_URL_EXPIRY = 45
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    response = alice_web.get(f"/submissions/{alice_submission.pk}/file/")
    assert response.status_code == 302
    url = response["Location"]
    query = parse_qs(urlsplit(url).query)
    assert query["X-Amz-Expires"] == ["45"]
    signed_at = dt.datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(
        tzinfo=dt.UTC
    )
    # Valid from now for 45 seconds: the link dies with its signature.
    assert before - dt.timedelta(seconds=2) <= signed_at <= before + dt.timedelta(seconds=5)
    fetched = requests.get(url, timeout=10)
    assert fetched.status_code == 200
    assert fetched.content == b"00001 0 1 0\n"
    assert "attachment" in fetched.headers["Content-Disposition"]
    # The object itself is private: the same address without the signature is refused.
    bare = url.split("?", 1)[0]
    assert requests.get(bare, timeout=10).status_code == 403


def test_another_team_gets_no_link(settings, charlie_web, charlie_team, alice_submission):
    settings.EVALSERVER_S3_URL_EXPIRY = 45
    assert charlie_web.get(f"/submissions/{alice_submission.pk}/file/").status_code == 404


def test_without_an_expiry_the_file_is_streamed(settings, alice_web, alice_submission):
    settings.EVALSERVER_S3_URL_EXPIRY = 0
    response = alice_web.get(f"/submissions/{alice_submission.pk}/file/")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"00001 0 1 0\n"
