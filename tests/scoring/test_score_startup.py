"""Start-up of ``manage.py score`` and the fast path of the recognition label reader."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from evalserver.scoring import recognition
from evalserver.scoring.classes import TINYVIRAT_V2_CLASSES
from evalserver.scoring.errors import LabelsInvalid
from tests.scoring.conftest import answer_txt, clip_ids, gt_json, random_truth
from tests.scoring.score_command import ROOT

CLASSES = list(TINYVIRAT_V2_CLASSES)


@pytest.fixture
def case(write_case):
    ids = clip_ids(20)
    return write_case(gt_json(ids, random_truth(20, seed=1)), answer_txt(ids, random_truth(20)))


# --- start-up: the offline scorer loads no app ---------------------------------------------


def test_the_score_command_loads_no_app_model_or_sklearn(case):
    """``manage.py score`` runs without django.setup(): no app, model, admin or sklearn."""
    gt, answer = case
    probe = (
        "import runpy, sys\n"
        f"sys.argv = ['manage.py', 'score', '--track', 'classification', '--labels', {str(gt)!r},"
        f" '--submission', {str(answer)!r}]\n"
        "runpy.run_path('manage.py', run_name='__main__')\n"
        "heavy = ('django.contrib.admin', 'django.db.models', 'sklearn', 'celery', 'submissions')\n"
        "print('LOADED', sorted(m for m in heavy if m in sys.modules), file=sys.stderr)\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("CELERY_BROKER_URL", "DATABASE_URL")}
    env["DATABASE_URL"] = "postgres://nobody@127.0.0.1:9/nothing"
    env.pop("DJANGO_SETTINGS_MODULE", None)
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "macro_f1" in json.loads(done.stdout)
    assert "LOADED []" in done.stderr


def _careful(data: bytes):
    """What the record-by-record reader says: labels, or the problem list."""
    column = {n: c for c, n in enumerate(CLASSES)}
    try:
        return recognition._load_labels_carefully(data, tuple(CLASSES), column)
    except LabelsInvalid as exc:
        return exc.errors


GOOD = [
    {"id": "00001", "label": ["Opening", "Misc"], "dim": [10, 20, 30]},
    {"id": "a_much_longer_clip_id", "label": ["Pull"], "extra": {"x": [1, 2.5, None]}},
    {"id": "ünï", "label": ["Misc", "Misc"]},
]


@pytest.mark.parametrize(
    "data",
    [
        json.dumps(GOOD).encode(),
        b"\xef\xbb\xbf" + json.dumps(GOOD).encode(),
        json.dumps(GOOD).replace('"dim"', '"id": "zzz", "dim"', 1).encode(),
        json.dumps(GOOD).replace('"dim": [10, 20, 30]', '"big": 99999999999999999999999').encode(),
        json.dumps(GOOD).replace('"dim": [10, 20, 30]', '"n": NaN').encode(),
        json.dumps(GOOD).replace('"Pull"', '"\\ud800"').encode(),
        json.dumps(GOOD).replace('"00001"', '"a b"').encode(),
        json.dumps(GOOD).replace('"00001"', '"a\\u0001"').encode(),
        json.dumps(GOOD).replace('"00001"', '""').encode(),
        json.dumps(GOOD).replace('"00001"', '"ünï"').encode(),
        json.dumps(GOOD).replace('"00001"', "7").encode(),
        json.dumps(GOOD).replace('["Pull"]', "[]").encode(),
        json.dumps(GOOD).replace('["Pull"]', '"Pull"').encode(),
        json.dumps(GOOD).replace('["Pull"]', "null").encode(),
        json.dumps(GOOD).replace('["Pull"]', '["Pull", 3]').encode(),
        json.dumps(GOOD).replace('["Pull"]', '["Pull", ["Misc"]]').encode(),
        json.dumps(GOOD).replace('["Pull"]', '["pull"]').encode(),
        json.dumps([*GOOD, 5]).encode(),
        json.dumps([*GOOD, {"id": "q"}]).encode(),
        b"[]",
        b"{}",
        b"[1,]",
    ],
)
def test_the_fast_label_reader_agrees_with_the_careful_one(data: bytes) -> None:
    plain = recognition._plain_labels(data, tuple(CLASSES))
    result = _careful(data)
    if plain is None:
        return
    # Taken by the fast path: the careful reader accepts it and reads the same labels.
    assert isinstance(result, recognition.RecognitionLabels), result
    assert plain.ids.tolist() == result.ids.tolist()
    if plain.split is None:
        assert result.split is None
    else:
        assert np.array_equal(plain.split, result.split)
    assert np.array_equal(plain.Y, result.Y)


def test_a_plain_file_takes_the_fast_path() -> None:
    assert recognition._plain_labels(json.dumps(GOOD).encode(), tuple(CLASSES)) is not None
