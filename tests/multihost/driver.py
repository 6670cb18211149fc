"""The participant's and the operator's side of the multi-host test, run on the "cli"
host of the test's network: ``python -m tests.multihost.driver COMMAND ...`` prints JSON.

HTTP goes to the web host (``WEB``); database reads (for what the API does not show,
such as which worker scored a submission) use DATABASE_URL; S3 checks use the bucket's
endpoint. Nothing here runs on the test machine's own network.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from pathlib import Path

import requests

WEB = os.environ.get("WEB", "")
TIMEOUT = 30


def _s3():
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=os.environ["EVALSERVER_S3_ENDPOINT_URL"],
        region_name="us-east-1",
        aws_access_key_id=os.environ["EVALSERVER_S3_ACCESS_KEY"],
        aws_secret_access_key=os.environ["EVALSERVER_S3_SECRET_KEY"],
    )


def make_bucket() -> dict:
    _s3().create_bucket(Bucket=os.environ["EVALSERVER_S3_BUCKET"])
    return {"ok": True}


def get(path: str, token: str = "") -> dict:
    headers = {"Authorization": f"Token {token}"} if token else {}
    response = requests.get(WEB + path, headers=headers, timeout=TIMEOUT)
    try:
        body = response.json()
    except ValueError:
        body = response.text
    return {"status": response.status_code, "body": body, "headers": dict(response.headers)}


def token(username: str, password: str) -> dict:
    response = requests.post(
        WEB + "/api/v1/auth/token/",
        json={"username": username, "password": password},
        timeout=TIMEOUT,
    )
    response.raise_for_status()
    return {"token": response.json()["token"]}


def _answers(kind: str, seed: int) -> tuple[str, bytes]:
    """A participant's file for the demo challenge, made from its public files."""
    import numpy as np

    from evalserver.challenges.demo import generate_demo

    files = generate_demo(Path(tempfile.mkdtemp(prefix="participant-")))
    if kind == "detection":
        return "tubes.csv", files.detection_sample.read_bytes()
    ids = [record["id"] for record in json.loads(files.validation.read_text())]
    p = (np.random.default_rng(seed).random((len(ids), 26)) < 0.2).astype(int)
    lines = [f"{i} " + " ".join(map(str, row)) for i, row in zip(ids, p, strict=True)]
    return "answer.txt", ("\n".join(lines) + "\n").encode()


def upload(*args: str) -> list[dict]:
    """Uploads in a row, each given as four arguments: TOKEN PHASE_ID KIND SEED."""
    import hashlib

    prepared = [
        (args[i], args[i + 1], args[i + 2], args[i + 3], *_answers(args[i + 2], int(args[i + 3])))
        for i in range(0, len(args), 4)
    ]
    results = []
    for key, phase_id, kind, seed, name, data in prepared:
        response = requests.post(
            f"{WEB}/api/v1/phases/{phase_id}/submissions/",
            headers={"Authorization": f"Token {key}", "X-Request-ID": f"upload-{kind}-{seed}"},
            files={"file": (name, data)},
            timeout=TIMEOUT,
        )
        results.append(
            {
                "status": response.status_code,
                "body": response.json(),
                "request_id": response.headers.get("X-Request-ID"),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        )
    return results


def _django():
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "evalserver.settings")
    django.setup()


def phases() -> dict:
    _django()
    from evalserver.challenges.models import Phase

    return {p.slug: p.pk for p in Phase.objects.all()}


def show(*ids: str) -> dict:
    _django()
    from submissions.models import Submission

    rows = {}
    for s in Submission.objects.filter(pk__in=[int(i) for i in ids]):
        rows[str(s.pk)] = {
            "status": s.status,
            "worker": s.worker,
            "attempts": s.attempts,
            "primary_score": s.primary_score,
            "file": s.file.name,
            "errors": s.errors,
            "events": list(s.events.values_list("action", flat=True)),
        }
    return rows


def s3_check() -> dict:
    """What the bucket holds, and what an anonymous client gets from it."""
    s3 = _s3()
    bucket = os.environ["EVALSERVER_S3_BUCKET"]
    endpoint = os.environ["EVALSERVER_S3_ENDPOINT_URL"]
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))
    anonymous = {
        k: requests.get(f"{endpoint}/{bucket}/{k}", timeout=TIMEOUT).status_code for k in keys
    }
    public_grants = {
        k: [
            g
            for g in s3.get_object_acl(Bucket=bucket, Key=k)["Grants"]
            if "AllUsers" in str(g.get("Grantee")) or "AuthenticatedUsers" in str(g.get("Grantee"))
        ]
        for k in keys
    }
    return {"keys": keys, "anonymous": anonymous, "public_grants": public_grants}


def file_link(username: str, password: str, submission_id: str) -> dict:
    """Log in through the page, ask for a submission's file, follow the presigned link."""
    session = requests.Session()
    login = session.get(f"{WEB}/accounts/login/", timeout=TIMEOUT)
    csrf = session.cookies.get("csrftoken") or re.search(
        r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text
    ).group(1)
    session.post(
        f"{WEB}/accounts/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": csrf},
        headers={"Referer": f"{WEB}/accounts/login/"},
        timeout=TIMEOUT,
    )
    response = session.get(
        f"{WEB}/submissions/{submission_id}/file/", allow_redirects=False, timeout=TIMEOUT
    )
    out = {"status": response.status_code, "location": response.headers.get("Location")}
    if response.status_code == 302:
        fetched = requests.get(out["location"], timeout=TIMEOUT)
        out["fetched_status"] = fetched.status_code
        out["fetched_sha256"] = __import__("hashlib").sha256(fetched.content).hexdigest()
        bare = out["location"].split("?", 1)[0]
        out["bare_status"] = requests.get(bare, timeout=TIMEOUT).status_code
    return out


def metrics() -> dict:
    response = requests.get(WEB + "/metrics", timeout=TIMEOUT)
    return {"status": response.status_code, "text": response.text}


COMMANDS = {
    "make-bucket": make_bucket,
    "get": get,
    "token": token,
    "upload": upload,
    "phases": phases,
    "show": show,
    "s3-check": s3_check,
    "file-link": file_link,
    "metrics": metrics,
}

if __name__ == "__main__":
    print(json.dumps(COMMANDS[sys.argv[1]](*sys.argv[2:]), default=str))
