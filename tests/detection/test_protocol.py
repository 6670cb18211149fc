"""The phase setting ``detection_protocol`` (voc | act): YAML, admin, worker and ``score``."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from evalserver import scoring
from evalserver.challenges.admin import PhaseAdminForm
from evalserver.challenges.management.commands.score import DETECTION_PROTOCOLS
from evalserver.challenges.models import Phase
from evalserver.challenges.services import PHASE_SETTINGS
from evalserver.challenges.yaml_schema import DETECTION_PROTOCOLS as YAML_PROTOCOLS
from evalserver.scoring import detection as detection_module
from submissions.models import Submission
from submissions.services import submission_create
from tests.detection.conftest import detection_labels_json
from tests.scoring import score_command

pytestmark = pytest.mark.django_db

YAML = """\
slug: tinyactions-2022
title: TinyActions Challenge 2022
phases:
  - slug: det
    name: Detection
    track: {track}
    labels: det.json
    starts_at: 2022-03-01T00:00:00Z
    ends_at: 2099-01-01T00:00:00Z
{extra}"""


def _folder(tmp_path: Path, records: list[dict], *, track="detection", extra="") -> Path:
    (tmp_path / "challenge.yaml").write_text(YAML.format(track=track, extra=extra))
    (tmp_path / "det.json").write_text(json.dumps(records))
    return tmp_path / "challenge.yaml"


def _import(path: Path) -> str:
    out = StringIO()
    call_command("import_challenge", str(path), stdout=out)
    return out.getvalue()


def _problems(path: Path) -> str:
    with pytest.raises(CommandError) as excinfo:
        _import(path)
    return str(excinfo.value)


def test_every_list_of_protocols_is_the_library_s():
    assert DETECTION_PROTOCOLS == YAML_PROTOCOLS == detection_module.PROTOCOLS
    assert tuple(Phase.DetectionProtocol.values) == detection_module.PROTOCOLS
    assert "detection_protocol" in PHASE_SETTINGS


def test_the_yaml_key_sets_the_phase_and_defaults_to_voc(tmp_path, detection):
    records = detection.records
    _import(_folder(tmp_path, records))
    phase = Phase.objects.get(challenge__slug="tinyactions-2022", slug="det")
    assert phase.detection_protocol == "voc"

    _import(_folder(tmp_path, records, extra="    detection_protocol: act\n"))
    phase.refresh_from_db()
    assert phase.detection_protocol == "act"
    # Leaving the key out keeps what the database has, like every other phase key.
    assert "unchanged" in _import(_folder(tmp_path, records))
    phase.refresh_from_db()
    assert phase.detection_protocol == "act"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("coco", "detection_protocol must be one of voc, act, not 'coco'"),
        ("ACT", "detection_protocol must be one of voc, act, not 'ACT'"),
        ("[act]", "detection_protocol must be one of voc, act, not ['act']"),
    ],
)
def test_a_wrong_protocol_is_named(tmp_path, detection, value, message):
    path = _folder(tmp_path, detection.records, extra=f"    detection_protocol: {value}\n")
    problems = _problems(path)
    assert "phase det: " + message in problems


def test_a_protocol_on_a_classification_phase_is_refused(tmp_path):
    records = [{"id": "00001", "label": ["Talking"]}]
    path = _folder(tmp_path, records, track="classification", extra="    detection_protocol: act\n")
    assert "detection_protocol applies to detection phases only" in _problems(path)


def _submit(user, phase, data: bytes) -> Submission:
    submission = submission_create(
        user=user, phase=phase, upload=SimpleUploadedFile("dets.csv", data)
    )
    submission.refresh_from_db()
    return submission


def test_the_worker_scores_with_the_phase_s_protocol(inprocess_sync, detection, alice, alice_team):
    phase = detection.phase
    phase.detection_protocol = "act"
    phase.save()
    data = detection.noisy_csv()
    with inprocess_sync():
        submission = _submit(alice, phase, data)
    submission.refresh_from_db()
    assert submission.status == Submission.Status.FINISHED, submission.errors
    act = scoring.score("detection", detection.labels, data, protocol="act")
    voc = scoring.score("detection", detection.labels, data, protocol="voc")
    assert submission.scores == act
    assert submission.scores["protocol"] == "act"
    assert submission.primary_score == act["video_map"]
    assert act["video_map"] != voc["video_map"]


def test_the_protocol_cannot_change_once_the_phase_has_submissions(
    tmp_path, inprocess_sync, alice, alice_team, challenge
):
    from tests.detection.conftest import make_detection_case

    case = make_detection_case(challenge)
    (tmp_path / "det.json").write_bytes(detection_labels_json(case.records))
    yaml_text = YAML.format(track="detection", extra="").replace("tinyactions-2022", challenge.slug)
    (tmp_path / "challenge.yaml").write_text(yaml_text + "    detection_protocol: act\n")
    with inprocess_sync():
        _submit(alice, case.phase, case.noisy_csv())

    problems = _problems(tmp_path / "challenge.yaml")
    assert (
        "phase det: detection_protocol cannot change from voc to act once the phase has submissions"
    ) in problems
    case.phase.refresh_from_db()
    assert case.phase.detection_protocol == "voc"

    # The admin's phase form refuses it the same way.
    phase = case.phase
    data = {name: getattr(phase, name) for name in PHASE_SETTINGS}
    data.update(challenge=phase.challenge.pk, slug=phase.slug, detection_protocol="act")
    data = {k: v for k, v in data.items() if v is not None}
    form = PhaseAdminForm(data=data, instance=phase)
    assert not form.is_valid()
    assert "cannot change from voc to act" in str(form.errors["detection_protocol"])


def test_the_api_shows_each_phase_s_protocol(client, detection):
    response = client.get("/api/v1/challenges/")
    phases = (
        [p for c in response.json()["results"] for p in c["phases"]]
        if isinstance(response.json(), dict)
        else [p for c in response.json() for p in c["phases"]]
    )
    mine = [p for p in phases if p["id"] == detection.phase.pk]
    assert mine[0]["detection_protocol"] == "voc"


# --- manage.py score --protocol ------------------------------------------------------------


@pytest.fixture
def files(tmp_path: Path, detection) -> tuple[Path, Path, bytes]:
    gt = tmp_path / "gt.json"
    dets = tmp_path / "dets.csv"
    gt.write_bytes(detection_labels_json(detection.records))
    data = detection.noisy_csv()
    dets.write_bytes(data)
    return gt, dets, data


@pytest.mark.parametrize("protocol", ["voc", "act"])
def test_the_score_command_takes_a_protocol(files, detection, protocol):
    gt, dets, data = files
    code, out, err = score_command.call(
        "--track", "detection", "--labels", gt, "--submission", dets, "--protocol", protocol
    )
    assert code == 0, err
    assert json.loads(out) == scoring.score("detection", detection.labels, data, protocol=protocol)


def test_the_score_command_defaults_to_voc(files):
    gt, dets, _ = files
    code, out, _ = score_command.call("--track", "detection", "--labels", gt, "--submission", dets)
    assert code == 0
    assert json.loads(out)["protocol"] == "voc"


def test_the_score_command_refuses_a_wrong_protocol(files, tmp_path):
    gt, dets, _ = files
    done = score_command.run(
        "--track",
        "detection",
        "--labels",
        gt,
        "--submission",
        dets,
        "--protocol",
        "coco",
        tmp_path=tmp_path,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert "invalid choice: 'coco'" in done.stderr
    code, out, err = score_command.call(
        "--track", "classification", "--labels", gt, "--submission", dets, "--protocol", "act"
    )
    assert (code, out) == (1, "")
    assert "--protocol applies to --track detection only" in err
