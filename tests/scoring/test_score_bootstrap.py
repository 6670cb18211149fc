"""``manage.py score --bootstrap B --seed S`` (CONTRACT section 5)."""

from __future__ import annotations

import json

import numpy as np

from evalserver.scoring import bootstrap, recognition
from tests.scoring.conftest import CLASSES, answer_txt, clip_ids, gt_json, random_truth
from tests.scoring.score_command import call

N = 80
IDS = clip_ids(N)
Y = random_truth(N, seed=21)
P = random_truth(N, seed=22)


def _score(write_case, *extra, labels: bytes | None = None):
    gt, answer = write_case(labels or gt_json(IDS, Y), answer_txt(IDS, P))
    return call("--track", "classification", "--labels", gt, "--submission", answer, *extra)


def test_bootstrap_adds_the_interval_of_the_given_seed(write_case):
    code, out, err = _score(write_case, "--bootstrap", "300", "--seed", "7")
    assert (code, err) == (0, "")
    result = json.loads(out)
    counts = bootstrap.resample_counts(N, replicates=300, seed=7)
    reps = bootstrap.macro_f1_replicates(Y, P, counts)
    assert (result["ci_low"], result["ci_high"]) == bootstrap.percentile_interval(reps)
    assert result["ci_low"] <= result["macro_f1"] <= result["ci_high"]
    plain = recognition.compute_metrics(Y, P, CLASSES)
    assert {k: v for k, v in result.items() if not k.startswith("ci_")} == plain


def test_without_bootstrap_the_output_is_unchanged(write_case):
    code, out, _ = _score(write_case)
    assert code == 0
    assert "ci_low" not in json.loads(out)


def test_a_phase_name_seeds_like_the_server(write_case):
    code, out, _ = _score(write_case, "--bootstrap", "200", "--seed", "tinyactions/test")
    assert code == 0
    counts = bootstrap.resample_counts(
        N, replicates=200, seed=bootstrap.phase_seed("tinyactions/test")
    )
    low, high = bootstrap.percentile_interval(bootstrap.macro_f1_replicates(Y, P, counts))
    result = json.loads(out)
    assert (result["ci_low"], result["ci_high"]) == (low, high)


def test_bad_bootstrap_arguments_exit_1_with_a_message(write_case):
    for extra, message in (
        (("--bootstrap", "-1"), "--bootstrap must be between 0 and 100000"),
        (("--bootstrap", "10", "--seed", "abc"), "--seed must be an integer or CHALLENGE/PHASE"),
        (("--bootstrap", "10", "--seed", "-3"), "--seed must not be negative"),
    ):
        code, out, err = _score(write_case, *extra)
        assert (code, out) == (1, "")
        assert message in err


def test_split_labels_print_each_split_with_its_interval(write_case):
    records = json.loads(gt_json(IDS, Y))
    for i, record in enumerate(records):
        record["split"] = "public" if i % 3 else "private"
    code, out, _ = _score(
        write_case, "--bootstrap", "100", "--seed", "3", labels=json.dumps(records).encode()
    )
    assert code == 0
    result = json.loads(out)
    public = np.array([i % 3 != 0 for i in range(N)])
    expected = recognition.compute_metrics(Y[public], P[public], CLASSES)
    assert result["splits"]["public"]["macro_f1"] == expected["macro_f1"]
    assert result["splits"]["private"]["n_items"] == int((~public).sum())
    assert result["splits"]["private"]["ci_low"] <= result["splits"]["private"]["ci_high"]
