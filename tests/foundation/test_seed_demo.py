"""seed_demo and the demo data generator."""

import datetime as dt
import json
from collections import Counter
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from evalserver.accounts.models import User
from evalserver.challenges import demo
from evalserver.challenges.models import Challenge, Phase
from evalserver.scoring.classes import TINYVIRAT_V2_CLASSES
from evalserver.teams.models import Membership, Team
from submissions.demo import HISTORY_TEAMS
from submissions.models import Submission


@pytest.fixture
def data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path / "data"
    # pytest-django runs with DEBUG off; seed_demo is a development command.
    settings.DEBUG = True
    # Five accounts at full PBKDF2 strength would make each seed take seconds.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return settings.DATA_DIR


def _seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def _snapshot():
    return {
        "users": sorted(User.objects.values_list("username", "password", "is_superuser")),
        "challenges": sorted(Challenge.objects.values_list("slug", "updated_at")),
        "phases": sorted(
            Phase.objects.values_list("slug", "updated_at", "labels_file", "labels_sha256")
        ),
        "teams": sorted(Team.objects.values_list("name", "invite_code")),
        "memberships": sorted(Membership.objects.values_list("team__name", "user__username")),
        "submissions": sorted(
            Submission.objects.values_list("team__name", "phase__slug", "created_at", "status")
        ),
    }


@pytest.mark.django_db
def test_seed_demo_loads_the_challenge_users_and_teams(data_dir):
    out = _seed()

    challenge = Challenge.objects.get(slug="tinyactions-2021")
    dev, test, detection, final = challenge.phases.order_by("order")
    assert (dev.slug, dev.track, dev.n_items) == ("dev", "classification", 3308)
    assert (test.slug, test.track, test.n_items) == ("test", "classification", 6097)
    assert (detection.slug, detection.track, detection.n_items) == (
        "detection",
        "detection",
        demo.N_DETECTION,
    )
    assert dev.is_open_now
    assert test.is_open_now
    assert detection.is_open_now
    # The ended phase with a private board, for trying freeze and reveal.
    assert (final.slug, final.n_items, final.leaderboard_visibility) == (
        "final-2021",
        demo.N_FINAL,
        "private",
    )
    assert not final.is_open_now
    assert test.starts_at > dev.starts_at
    assert challenge.class_names == list(TINYVIRAT_V2_CLASSES)

    organizer = User.objects.get(username="organizer")
    assert organizer.is_staff
    assert organizer.is_superuser
    assert challenge.organizers.filter(pk=organizer.pk).exists()
    # The five demo accounts, erin (in no team) and the history teams' background members.
    assert User.objects.filter(has_usable_password_q()).count() == 6
    assert Team.objects.filter(challenge=challenge).count() == len(HISTORY_TEAMS)
    assert not Membership.objects.filter(user__username="erin").exists()
    assert Membership.objects.filter(role=Membership.Role.OWNER).count() == len(HISTORY_TEAMS)
    # The passwords it prints are the ones that work.
    for username, password, _ in [
        ("organizer", "organizer-demo-2021", True),
        ("alice", "alice-demo-2021", False),
    ]:
        assert f"user {username}" in out
        assert repr(password) in out
        assert User.objects.get(username=username).check_password(password)
    for name in (
        "challenge.yaml",
        "class_map.json",
        "tiny_test_v2_public.json",
        "tiny_det_v2_private.json",
        "detection_sample.csv",
    ):
        assert (data_dir / "demo" / name).is_file()


def has_usable_password_q():
    from django.db.models import Q

    return ~Q(password__startswith="!")


@pytest.mark.django_db
def test_seed_demo_twice_changes_nothing(data_dir):
    _seed()
    before = _snapshot()
    out = _seed()
    assert _snapshot() == before
    assert "challenge tinyactions-2021: unchanged" in out
    assert "exists; password left unchanged" in out


@pytest.mark.django_db
def test_seed_demo_refuses_to_run_with_debug_off(data_dir, settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DJANGO_DEBUG"):
        _seed()
    assert not User.objects.exists()
    call_command("seed_demo", "--force", stdout=StringIO())
    assert User.objects.filter(username="organizer").exists()


def _records(path: Path) -> list[dict]:
    return json.loads(path.read_text())


def test_the_generator_writes_tinyvirat_v2_files(tmp_path):
    files = demo.generate_demo(tmp_path)

    val = _records(files.validation)
    test = _records(files.test_private)
    public = _records(files.test_public)
    assert len(val) == 3308
    ids = [int(r["id"]) for r in val]
    assert ids == sorted(ids)
    assert len(set(ids)) == 3308
    assert max(ids) + 1 > len(ids), "validation ids have gaps"
    assert [r["id"] for r in test] == [f"{i:05d}" for i in range(6097)]
    assert [r["id"] for r in public] == [r["id"] for r in test]
    assert all("label" not in r for r in public)
    for record in val[:50] + test[:50]:
        assert set(record) == {"id", "video_id", "path", "dim", "label"}
        assert record["path"] == f"{record['video_id']}/{record['id']}.mp4"
        assert len(record["dim"]) == 3
        assert all(isinstance(v, int) for v in record["dim"])
    class_map = json.loads(files.class_map.read_text())
    assert list(class_map) == list(TINYVIRAT_V2_CLASSES)
    assert list(class_map.values()) == list(range(26))


def test_the_generator_draws_skewed_multi_label_data(tmp_path):
    test = _records(demo.generate_demo(tmp_path).test_private)
    sizes = Counter(len(r["label"]) for r in test)
    assert set(sizes) == {1, 2, 3}
    assert sizes[1] > sizes[2] > sizes[3]
    counts = Counter(label for r in test for label in r["label"])
    assert set(counts) == set(TINYVIRAT_V2_CLASSES)
    top3 = {name for name, _ in counts.most_common(3)}
    assert top3 == {"activity_walking", "activity_standing", "vehicle_moving"}
    assert counts.most_common()[-1][1] * 50 < counts["activity_walking"]
    assert min(counts.values()) >= demo.MIN_SUPPORT


def test_the_generator_is_deterministic(tmp_path):
    a = demo.generate_demo(tmp_path / "a")
    b = demo.generate_demo(tmp_path / "b")
    for name in (
        "challenge_yaml",
        "validation",
        "test_private",
        "test_public",
        "class_map",
        "detection",
        "detection_sample",
    ):
        assert getattr(a, name).read_bytes() == getattr(b, name).read_bytes()


def test_the_demo_phases_stay_open(data_dir, db):
    # Fixed dates keep re-runs idempotent; they must still cover today for a long while.
    _seed()
    assert Phase.objects.filter(ends_at__gt=timezone.now() + dt.timedelta(days=3650)).count() == 3


def test_the_detection_labels_follow_the_spec(tmp_path):
    records = _records(demo.generate_demo(tmp_path).detection)

    assert [r["id"] for r in records] == [f"{i:05d}" for i in range(demo.N_DETECTION)]
    n_tubes = Counter()
    for record in records:
        assert set(record) == {"id", "video_id", "path", "dim", "label", "tubes"}
        assert record["path"] == f"{record['video_id']}/{record['id']}.mp4"
        frames, width, height = record["dim"]
        assert record["label"] == list(dict.fromkeys(t["label"] for t in record["tubes"]))
        n_tubes[len(record["tubes"])] += 1
        for tube in record["tubes"]:
            assert set(tube) == {"label", "start", "end", "boxes"}
            assert tube["label"] in TINYVIRAT_V2_CLASSES
            assert 0 <= tube["start"] <= tube["end"] <= frames - 1
            assert len(tube["boxes"]) == tube["end"] - tube["start"] + 1
            for x1, y1, x2, y2 in tube["boxes"]:
                assert 0 <= x1 < x2 <= width
                assert 0 <= y1 < y2 <= height
    # Mostly one actor, sometimes two or three.
    assert set(n_tubes) == {1, 2, 3}
    assert n_tubes[1] > n_tubes[2] > n_tubes[3]


def test_the_sample_detection_submission_scores_like_a_real_detector(tmp_path):
    from evalserver import scoring

    files = demo.generate_demo(tmp_path)
    records = _records(files.detection)
    labels = scoring.load_labels(
        "detection", files.detection.read_bytes(), list(TINYVIRAT_V2_CLASSES)
    )

    scores = scoring.score("detection", labels, files.detection_sample.read_bytes())

    assert 0.3 < scores["video_map"] < 0.9
    assert 0.3 < scores["frame_map"] < 0.9
    # Some classes never occur in the truth: they have no AP, and are left out of the maps.
    absent = [c for c in scores["per_class"] if c["support"] == 0]
    assert absent
    assert all(c["video_ap"] is None and c["frame_ap"] is None for c in absent)
    # False tubes: predictions of a class the clip does not show at all.
    truth = {r["id"]: set(r["label"]) for r in records}
    lines = files.detection_sample.read_text().splitlines()
    assert lines[0] == "video_id,tube_id,frame,class,score,x1,y1,x2,y2"
    tubes = set()
    for line in lines[1:]:
        video, tube_id, _frame, cls = line.split(",")[:4]
        tubes.add((video, tube_id, cls))
    false = [t for t in tubes if t[2] not in truth[t[0]]]
    assert len(false) > len(records) // 5
