"""The YAML key max_final_submissions and split label records through import_challenge."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError

from evalserver.challenges.models import Phase
from tests.foundation.test_import_challenge import TEST, _edit, _import, _json, folder  # noqa: F401

pytestmark = pytest.mark.django_db


def _split_test_labels(folder, splits):  # noqa: F811
    records = json.loads(json.dumps(TEST))
    for record, split in zip(records, splits, strict=True):
        if split is not None:
            record["split"] = split
    (folder / "private" / "tiny_test_v2_private.json").write_bytes(_json(records))


def test_max_final_submissions_defaults_to_2_and_takes_a_number_or_null(folder):  # noqa: F811
    _import(folder)
    assert Phase.objects.get(slug="test").max_final_submissions == 2
    _edit(
        folder,
        "    leaderboard: private\n",
        "    leaderboard: private\n    max_final_submissions: 3\n",
    )
    _import(folder)
    assert Phase.objects.get(slug="test").max_final_submissions == 3
    _edit(folder, "max_final_submissions: 3", "max_final_submissions: null")
    _import(folder)
    assert Phase.objects.get(slug="test").max_final_submissions is None
    _edit(folder, "max_final_submissions: null", "max_final_submissions: 0")
    with pytest.raises(CommandError, match="max_final_submissions must be a whole number"):
        _import(folder)


def test_split_labels_make_a_split_phase_and_mixed_ones_are_refused(folder):  # noqa: F811
    _split_test_labels(folder, ["public", "private", "public", "private", "public"])
    _import(folder)
    assert Phase.objects.get(slug="test").labels_split
    assert not Phase.objects.get(slug="dev").labels_split
    _split_test_labels(folder, ["public", "private", None, "private", "public"])
    with pytest.raises(CommandError) as exc:
        _import(folder)
    assert (
        "tiny_test_v2_private.json (phase test): record 3 (id '00002'): has no 'split', "
        "but record 1 has one"
    ) in str(exc.value)
    # Back to no split at all: an ordinary phase again.
    _split_test_labels(folder, [None] * 5)
    _import(folder)
    assert not Phase.objects.get(slug="test").labels_split


def test_an_act_detection_phase_refuses_split_labels(tmp_path):
    from tests.detection.test_protocol import _folder, _problems

    records = [
        {
            "id": f"{i:05d}",
            "dim": [20, 100, 100],
            "tubes": [{"label": "Talking", "start": 0, "end": 1, "boxes": [[1, 1, 9, 9]] * 2}],
            "split": "public" if i % 2 else "private",
        }
        for i in range(4)
    ]
    path = _folder(tmp_path, records, extra="    detection_protocol: act\n")
    assert "phase det: labels with a public/private split need detection_protocol voc" in _problems(
        path
    )
    _folder(tmp_path, records, extra="    detection_protocol: voc\n")
    from tests.detection.test_protocol import _import as import_

    import_(tmp_path / "challenge.yaml")
    assert Phase.objects.get(slug="det").labels_split
