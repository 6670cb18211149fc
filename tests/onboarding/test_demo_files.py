"""The demo's downloads (issue 14 item 1): what a participant gets is valid and complete."""

import json
import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import call_command

from evalserver import scoring
from evalserver.challenges import demo
from evalserver.challenges.models import Download
from evalserver.challenges.selectors import phase_labels
from evalserver.scoring.recognition import check_format, load_clip_ids


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return demo.generate_demo(tmp_path_factory.mktemp("demo"))


def test_the_sample_answers_are_valid_and_weak(files):
    for phase, labels_file in (("dev", files.validation), ("test", files.test_private)):
        labels = scoring.load_labels(
            "classification", labels_file.read_bytes(), demo.TINYVIRAT_V2_CLASSES
        )
        answer = (files.folder / phase / demo.SAMPLE_ANSWER).read_bytes()
        scores = scoring.score("classification", labels, answer)
        assert scores["n_items"] == labels.n_items
        assert 0 < scores["macro_f1"] < 0.1


def test_the_starting_kit_writes_every_clip_even_the_ones_a_model_skipped(files, tmp_path):
    ids = load_clip_ids(files.test_public.read_bytes())
    # A model that gave probabilities for all clips but the first ten (the old baseline
    # writer dropped such clips, making the whole file invalid).
    probs = {cid: [0.9 if k == i % 26 else 0.1 for k in range(26)] for i, cid in enumerate(ids)}
    for cid in ids[:10]:
        del probs[cid]
    (tmp_path / "probs.json").write_text(json.dumps(probs))
    out = tmp_path / "answer.txt"
    done = subprocess.run(
        [sys.executable, str(files.starting_kit), "--clips", str(files.test_public),
         "--probs", str(tmp_path / "probs.json"), "-o", str(out)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "10 clips had no probabilities" in done.stderr
    assert check_format(out.read_bytes(), ids, 26) == []
    lines = out.read_text().splitlines()
    assert len(lines) == len(ids)
    assert lines[0] == "00000 " + " ".join(["0"] * 26)
    assert lines[11].split()[12] == "1"


@pytest.mark.django_db
def test_seed_demo_declares_the_downloads_a_participant_needs(tmp_path, settings):
    settings.DATA_DIR = tmp_path / "data"
    call_command("seed_demo", "--force", stdout=StringIO())
    declared = {
        (d.phase.slug if d.phase else "", d.name, d.audience)
        for d in Download.objects.select_related("phase")
    }
    assert {
        ("", "tiny_test_v2_public.json", "everyone"),
        ("", "class_map.json", "everyone"),
        ("", "make_answer.py", "participants"),
        ("dev", "answer.txt", "everyone"),
        ("test", "answer.txt", "everyone"),
        ("detection", "detection_sample.csv", "everyone"),
    } <= declared
    # The detection sample is valid against the phase it belongs to.
    sample = Download.objects.get(name="detection_sample.csv")
    with sample.file.storage.open(sample.file.name, "rb") as fh:
        scores = scoring.score("detection", phase_labels(phase=sample.phase), fh.read())
    assert scores["video_map"] > 0
