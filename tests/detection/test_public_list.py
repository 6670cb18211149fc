"""The public (label-less) clip list given where hidden labels are expected: one message.

Through every front door (the library, ``import_challenge``, the admin's label
replacement, ``manage.py score``) and for both tracks.
"""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from evalserver import scoring
from evalserver.challenges import demo
from evalserver.scoring.classes import TINYVIRAT_V2_CLASSES
from evalserver.scoring.errors import PUBLIC_LIST_MESSAGE, LabelsInvalid
from tests.foundation.test_admin import _phase_form
from tests.scoring import score_command

MESSAGE = "this file has no labels: it looks like the public clip list"


@pytest.fixture(scope="module")
def public_list(tmp_path_factory) -> Path:
    # The demo's tiny_test_v2_public.json: the private test file without 'label'.
    return demo.generate_demo(tmp_path_factory.mktemp("demo")).test_public


def detection_public_list(n: int = 80) -> bytes:
    """A 2022-style public list: records with dim but neither 'label' nor 'tubes'."""
    return json.dumps(
        [{"id": f"{i:05d}", "video_id": f"V{i}", "dim": [40, 120, 120]} for i in range(n)]
    ).encode()


@pytest.mark.parametrize("track", ["classification", "detection"])
def test_the_library_says_it_once(public_list, track):
    for data in (public_list.read_bytes(), detection_public_list()):
        with pytest.raises(LabelsInvalid) as info:
            scoring.load_labels(track, data, TINYVIRAT_V2_CLASSES)
        assert info.value.errors == [PUBLIC_LIST_MESSAGE]
        assert info.value.errors[0].startswith(MESSAGE)


def test_a_file_with_some_labels_is_still_checked_record_by_record():
    records = [{"id": "00000", "label": ["Pull"]}, {"id": "00001"}, {"id": "00002"}]
    with pytest.raises(LabelsInvalid) as info:
        scoring.load_labels("classification", json.dumps(records).encode(), TINYVIRAT_V2_CLASSES)
    assert info.value.errors == [
        "record 2 (id '00001'): has no 'label'",
        "record 3 (id '00002'): has no 'label'",
    ]


YAML = """\
slug: tinyactions-2022
title: TinyActions
phases:
  - slug: test
    name: Test
    track: {track}
    labels: public.json
    starts_at: 2022-03-01T00:00:00Z
    ends_at: 2099-01-01T00:00:00Z
"""


@pytest.mark.django_db
@pytest.mark.parametrize("track", ["classification", "detection"])
def test_import_challenge_says_it_once(tmp_path, public_list, track):
    (tmp_path / "c.yaml").write_text(YAML.format(track=track))
    (tmp_path / "public.json").write_bytes(public_list.read_bytes())
    with pytest.raises(CommandError) as info:
        call_command("import_challenge", str(tmp_path / "c.yaml"), stdout=StringIO())
    text = str(info.value)
    assert text.count(MESSAGE) == 1
    assert "has no 'label'" not in text
    assert f"public.json (phase test): {MESSAGE}" in text


@pytest.mark.django_db
def test_the_admin_says_it_once(admin_client, phase, public_list):
    url = reverse("admin:challenges_phase_change", args=[phase.pk])
    form = _phase_form(phase)
    form["replace_labels"] = SimpleUploadedFile("public.json", public_list.read_bytes())
    response = admin_client.post(url, form)
    assert response.status_code == 200
    page = response.content.decode()
    assert page.count(MESSAGE) == 1
    assert "has no &#x27;label&#x27;" not in page
    phase.refresh_from_db()
    assert phase.labels_sha256 == ""


@pytest.mark.parametrize("track", ["classification", "detection"])
def test_the_score_command_says_it_once(tmp_path, public_list, track):
    answer = tmp_path / "answer.txt"
    answer.write_text("00000 " + " ".join(["0"] * 26) + "\n")
    code, out, err = score_command.call(
        "--track", track, "--labels", public_list, "--submission", answer
    )
    assert (code, out) == (1, "")
    assert err.count(MESSAGE) == 1
    assert "has no 'label'" not in err
