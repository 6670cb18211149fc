"""The demo's history: teams with finished and failed submissions spread over 2021.

``seed_demo`` calls :func:`seed_history` after importing the demo challenge, so every demo
board, chart and dashboard has something to show on first start. Predictions are drawn
from the phase's own labels with a fixed seed per team and submission (a team's skill
sets how many true labels it finds and how many false ones it adds) and scored through
the scoring library, as the worker would score them; the failed ones are real invalid
files (the baseline writer's duplicate id, probabilities, commas) carrying the scorer's
own messages. Times are fixed moments of 2021 inside each phase's dates.

Idempotent: a team that already has submissions in a phase gets none added there.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.db import transaction

from evalserver import scoring
from evalserver.challenges.demo import detection_csv, detection_submission_rows
from evalserver.challenges.models import Challenge, Phase
from evalserver.challenges.selectors import phase_labels
from evalserver.scoring.errors import SubmissionInvalid
from evalserver.teams.models import Membership, Team
from leaderboard.services import leaderboard_changed
from submissions.models import Submission, submission_upload_to

SEED = 14


@dataclass(frozen=True)
class DemoTeam:
    name: str
    # Background members have no password: they exist so the team has someone to submit.
    members: tuple[str, ...]
    skill: float
    method: str
    baseline: bool = False


# The two teams seed_demo has always made (alice's and charlie's) come first; their members
# are the demo accounts with known passwords.
HISTORY_TEAMS = (
    DemoTeam("Tiny Transformers", ("alice", "bob"), 0.78, "TinyViT-S"),
    DemoTeam("Low-Res Lab", ("charlie", "dave"), 0.64, "I3D-LR"),
    DemoTeam("Pixel Pushers", ("demo-pixel",), 0.71, "SlowFast-R50"),
    DemoTeam("Blurry Vision", ("demo-blurry",), 0.45, "ResNet3D-18"),
    DemoTeam("Frame Skippers", ("demo-frames", "demo-frames2"), 0.58, "TSM"),
    DemoTeam("TubeTrackers", ("demo-tubes",), 0.52, "X3D-M"),
    DemoTeam("Surveillance Squad", ("demo-squad",), 0.35, "C3D"),
    DemoTeam("ActionNet Zurich", ("demo-zurich",), 0.83, "MViT-B ensemble"),
    DemoTeam("Organizers' baseline", ("demo-baseline",), 0.2, "Weak baseline", baseline=True),
)

# Per phase slug: the window submissions fall in, how many each team makes, and which
# attempt numbers fail (a real invalid file instead).
PLAN = {
    "dev": (dt.datetime(2021, 3, 4, tzinfo=dt.UTC), dt.datetime(2021, 6, 10, tzinfo=dt.UTC), 4),
    "test": (
        dt.datetime(2021, 6, 13, 8, tzinfo=dt.UTC),
        dt.datetime(2021, 6, 30, tzinfo=dt.UTC),
        2,
    ),
    "final-2021": (
        dt.datetime(2021, 6, 20, 8, tzinfo=dt.UTC),
        dt.datetime(2021, 6, 30, 20, tzinfo=dt.UTC),
        2,
    ),
    "detection": (
        dt.datetime(2021, 4, 1, tzinfo=dt.UTC),
        dt.datetime(2021, 6, 1, tzinfo=dt.UTC),
        1,
    ),
}
# Detection files are large to draw: only these teams try that track.
DETECTION_TEAMS = ("Tiny Transformers", "Pixel Pushers", "TubeTrackers")


def _recognition_answer(labels, rng: np.random.Generator, skill: float) -> bytes:
    truth = labels.Y.astype(bool)
    found = truth & (rng.random(truth.shape) < 0.25 + 0.7 * skill)
    noise = rng.random(truth.shape) < 0.06 * (1.0 - skill)
    pred = (found | noise).astype(np.uint8)
    digits = np.where(pred == 1, "1", "0")
    lines = [f"{cid} {' '.join(row)}" for cid, row in zip(labels.ids.tolist(), digits, strict=True)]
    return ("\n".join(lines) + "\n").encode()


def _broken(answer: bytes, kind: int) -> tuple[bytes, str]:
    """A real mistake participants make, applied to a valid answer."""
    lines = answer.decode().splitlines()
    if kind == 0:
        # The 2021 baseline writer's bug: a line repeats the previous clip's id.
        lines[7] = lines[6].split(" ", 1)[0] + " " + lines[7].split(" ", 1)[1]
        return ("\n".join(lines) + "\n").encode(), "answer.txt"
    if kind == 1:
        lines = [
            line.split(" ", 1)[0]
            + " "
            + " ".join("0.81" if v == "1" else "0.02" for v in line.split()[1:])
            for line in lines
        ]
        return ("\n".join(lines) + "\n").encode(), "probabilities.txt"
    return ("\n".join(line.replace(" ", ",") for line in lines) + "\n").encode(), "answer.csv"


def _moments(rng: random.Random, start: dt.datetime, end: dt.datetime, n: int) -> list[dt.datetime]:
    span = (end - start).total_seconds()
    return sorted(start + dt.timedelta(seconds=rng.uniform(0, span)) for _ in range(n))


def _ensure_team(challenge: Challenge, spec: DemoTeam) -> Team:
    User = get_user_model()
    users = []
    for username in spec.members:
        user = User.objects.filter(username=username).first()
        if user is None:
            user = User(username=username, email=f"{username}@example.org")
            user.set_unusable_password()
            user.save()
        users.append(user)
    team, _ = Team.objects.get_or_create(
        challenge=challenge, name=spec.name, defaults={"created_by": users[0]}
    )
    for i, user in enumerate(users):
        Membership.objects.get_or_create(
            user=user,
            challenge=challenge,
            defaults={
                "team": team,
                "role": Membership.Role.OWNER if i == 0 else Membership.Role.MEMBER,
            },
        )
    return team


def _submission(*, team: Team, phase: Phase, user, when: dt.datetime, data: bytes, name: str,
                method: str, baseline: bool) -> Submission:  # fmt: skip
    labels = phase_labels(phase=phase)
    draft = Submission(team=team, phase=phase)
    stored = storages["default"].save(submission_upload_to(draft, name), ContentFile(data))
    took = dt.timedelta(seconds=2 + len(data) % 7)
    row = Submission(
        team=team,
        phase=phase,
        submitted_by=user,
        original_filename=name,
        file_size=len(data),
        file_sha256=hashlib.sha256(data).hexdigest(),
        method_name=method,
        created_at=when,
        enqueued_at=when,
        started_at=when + dt.timedelta(seconds=1),
        finished_at=when + took,
        attempts=1,
        worker="seed_demo",
        is_baseline=baseline,
    )
    row.file.name = stored
    try:
        scores = scoring.score(phase.track, labels, data)
    except SubmissionInvalid as exc:
        row.status, row.errors = Submission.Status.FAILED, exc.errors
    else:
        row.status, row.scores = Submission.Status.FINISHED, scores
        row.primary_score = scores[scores["primary_metric"]]
    return row


def seed_history(*, challenge: Challenge, detection_records: Path | None = None) -> list[str]:
    """Add the demo teams and their submissions; returns one line per team and phase added."""
    phases = {p.slug: p for p in challenge.phases.all()}
    out: list[str] = []
    rows: list[Submission] = []
    records = None
    with transaction.atomic():
        for t_index, spec in enumerate(HISTORY_TEAMS):
            team = _ensure_team(challenge, spec)
            members = list(team.memberships.select_related("user"))
            for slug, (start, end, count) in PLAN.items():
                phase = phases.get(slug)
                if phase is None or not phase.labels_sha256:
                    continue
                if slug == "detection" and spec.name not in DETECTION_TEAMS:
                    continue
                if Submission.objects.filter(team=team, phase=phase).exists():
                    continue
                if spec.baseline:
                    count = 1
                rng = random.Random(f"{SEED}/{spec.name}/{slug}")
                made = []
                for k, when in enumerate(_moments(rng, start, end, count)):
                    user = members[k % len(members)].user
                    # Teams get better over the phase.
                    skill = max(0.05, spec.skill - 0.12 * (count - 1 - k))
                    np_rng = np.random.default_rng(rng.randrange(2**32))
                    if slug == "detection":
                        if records is None:
                            records = json.loads(Path(detection_records).read_text())
                        det_rows = detection_submission_rows(random.Random(rng.random()), records)
                        data, name = detection_csv(det_rows).encode(), "detections.csv"
                    else:
                        data = _recognition_answer(phase_labels(phase=phase), np_rng, skill)
                        name = "answer.txt"
                        # About one team in three stumbles once, on its first try.
                        if k == 0 and (t_index + len(slug)) % 3 == 0 and not spec.baseline:
                            data, name = _broken(data, (t_index + k) % 3)
                    made.append(
                        _submission(
                            team=team,
                            phase=phase,
                            user=user,
                            when=when,
                            data=data,
                            name=name,
                            method=spec.method,
                            baseline=spec.baseline and k == 0,
                        )
                    )
                rows += made
                failed = sum(r.status == Submission.Status.FAILED for r in made)
                out.append(
                    f"history {spec.name} / {slug}: {len(made)} submissions ({failed} failed)"
                )
        # One insert, no per-row signals; the boards learn of it once per phase.
        Submission.objects.bulk_create(rows)
        leaderboard_changed(phase_ids=[p.pk for p in phases.values()])
    return out
