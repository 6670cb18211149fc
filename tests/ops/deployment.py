"""A small deployment, driven in child processes (settings are read once per process):
``seed`` fills it through the services, ``snapshot`` prints what a restore must give back.

Used by the backup round-trip tests and the multi-host test:
``python -m tests.ops.deployment seed|snapshot`` with the deployment's environment.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys


def seed() -> None:
    import numpy as np
    from django.conf import settings
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.core.management import call_command

    from evalserver.accounts.models import User
    from evalserver.challenges.demo import CHALLENGE_SLUG, generate_demo
    from evalserver.challenges.models import Phase
    from submissions.services import submission_create
    from tests.recognition_data import answer_txt

    # Score inside the upload's commit hook: the child process has no broker.
    settings.EVALSERVER_INPROCESS_SYNC = True
    call_command("seed_demo", force=True, verbosity=0)
    files = generate_demo(settings.DATA_DIR / "demo")
    validation = Phase.objects.get(challenge__slug=CHALLENGE_SLUG, slug="dev")
    detection = Phase.objects.get(challenge__slug=CHALLENGE_SLUG, slug="detection")
    ids = [record["id"] for record in json.loads(files.validation.read_text())]
    rng = np.random.default_rng(5)
    for username in ("alice", "charlie", "bob"):
        user = User.objects.get(username=username)
        p = (rng.random((len(ids), 26)) < 0.2).astype(int)
        submission_create(
            user=user,
            phase=validation,
            upload=SimpleUploadedFile("answer.txt", answer_txt(ids, p)),
            method_name=f"{username}'s net",
        )
    csv = files.detection_sample.read_bytes()
    submission_create(
        user=User.objects.get(username="charlie"),
        phase=detection,
        upload=SimpleUploadedFile("tubes.csv", csv),
    )


def snapshot() -> dict:
    from django.core.files.storage import storages

    from evalserver.challenges.models import Phase
    from evalserver.ops.backup import _storage_names, backed_up_storages
    from leaderboard.selectors import leaderboard_ranking
    from submissions.models import Submission

    boards = {
        str(phase): [
            {k: v for k, v in dataclasses.asdict(e).items() if k != "submitted_at"}
            | {"submitted_at": e.submitted_at.isoformat()}
            for e in leaderboard_ranking(phase=phase)
        ]
        for phase in Phase.objects.select_related("challenge").order_by("id")
    }
    submissions = list(
        Submission.objects.order_by("id").values(
            "id", "status", "scores", "primary_score", "file", "file_sha256", "errors"
        )
    )
    files = {}
    for alias in backed_up_storages():
        storage = storages[alias]
        for name in _storage_names(storage):
            with storage.open(name, "rb") as fh:
                files[f"{alias}:{name}"] = hashlib.sha256(fh.read()).hexdigest()
    return {"boards": boards, "submissions": submissions, "files": files}


if __name__ == "__main__":
    import django

    django.setup()
    if sys.argv[1] == "seed":
        seed()
    else:
        print(json.dumps(snapshot(), sort_keys=True, default=str))
