"""Recognition track: ground truth loading, answer.txt validation and the score dict."""

from __future__ import annotations

import gzip
import io
import json
import math
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import f1_score

from evalserver import scoring
from evalserver.scoring import recognition
from evalserver.scoring.errors import LabelsInvalid, SubmissionInvalid
from evalserver.scoring.recognition import (
    MAX_PROBLEMS,
    RecognitionLabels,
    check_format,
    compute_metrics,
    load_clip_ids,
    load_labels,
    score,
    validate,
)
from tests.recognition_data import METRIC_KEYS
from tests.scoring.conftest import (
    CLASSES,
    answer_lines,
    answer_txt,
    clip_ids,
    gt_json,
    gt_records,
    random_truth,
)

N = 60
IDS = clip_ids(N)
Y = random_truth(N, seed=1)
P = random_truth(N, seed=2)


@pytest.fixture(scope="module")
def labels() -> RecognitionLabels:
    return load_labels(gt_json(IDS, Y), CLASSES)


def problems_of(labels: RecognitionLabels, data: bytes) -> list[str]:
    with pytest.raises(SubmissionInvalid) as info:
        score(labels, data)
    # The participant-side check must say exactly the same as the server.
    assert check_format(data, IDS, len(CLASSES)) == info.value.errors
    return info.value.errors


def lines_to_bytes(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode()


# --- ground truth -----------------------------------------------------------------------


def test_load_labels_reads_ids_and_multi_labels(labels):
    assert labels.n_items == N
    assert labels.class_names == CLASSES
    assert labels.ids.tolist() == IDS
    assert labels.Y.dtype == np.uint8
    assert np.array_equal(labels.Y, Y)
    assert labels.index["00007"] == 7


def test_load_labels_keeps_class_order_of_the_map():
    data = json.dumps([{"id": "00001", "label": ["b", "c"]}, {"id": "00002", "label": ["a"]}])
    got = load_labels(data.encode("utf-8-sig"), ["c", "a", "b"])
    assert got.Y.tolist() == [[1, 0, 1], [0, 1, 0]]


def test_labels_are_read_only(labels):
    with pytest.raises(ValueError, match="read-only"):
        labels.Y[0, 0] = 1


def test_labels_roundtrip_through_bytes(labels):
    blob = labels.to_bytes()
    again = RecognitionLabels.from_bytes(blob)
    assert again.class_names == labels.class_names
    assert again.ids.tolist() == labels.ids.tolist()
    assert np.array_equal(again.Y, labels.Y)
    # Bit-packed and compressed: far smaller than the JSON it came from.
    assert len(blob) < len(gt_json(IDS, Y)) / 5


def test_labels_blob_loads_without_pickle(labels):
    with np.load(io.BytesIO(labels.to_bytes()), allow_pickle=False) as npz:
        assert set(npz.files) == {"format", "class_names", "ids", "y_bits"}


@pytest.mark.parametrize("blob", [b"", b"not an npz", b"PK\x03\x04garbage"])
def test_corrupt_labels_blob(blob):
    with pytest.raises(LabelsInvalid, match="stored labels are corrupt"):
        RecognitionLabels.from_bytes(blob)


def test_labels_shape_is_checked():
    with pytest.raises(ValueError, match="shape"):
        RecognitionLabels(class_names=("a", "b"), ids=["1"], Y=np.zeros((1, 3)))
    with pytest.raises(ValueError, match="only 0 and 1"):
        RecognitionLabels(class_names=("a",), ids=["1"], Y=np.array([[2]]))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"{not json", "the labels file is not valid JSON"),
        (b"\xff\xfe[", "the labels file is not UTF-8 text"),
        (b'{"id": "00001"}', "must be a JSON list of clip records, not dict"),
        (b"[]", "the labels file holds no clip records"),
    ],
)
def test_labels_file_level_problems(data, message):
    with pytest.raises(LabelsInvalid) as info:
        load_labels(data, CLASSES)
    assert message in info.value.errors[0]


def test_labels_report_every_problem_by_record_and_id():
    records = [
        {"id": "00000", "label": ["Opening"]},
        {"label": ["Opening"]},
        {"id": "00000", "label": ["Misc"]},
        {"id": "00003", "label": []},
        {"id": "00004"},
        {"id": "00005", "label": ["Opening", "Dancing"]},
        {"id": 6, "label": ["Opening"]},
        "00007",
        {"id": "00 8", "label": ["Opening"]},
        {"id": "00009", "label": "Opening"},
    ]
    with pytest.raises(LabelsInvalid) as info:
        load_labels(json.dumps(records).encode(), CLASSES)
    assert info.value.errors == [
        "record 2: has no 'id'",
        "record 3 (id '00000'): duplicate id, already used by record 1",
        "record 7: 'id' must be a string such as '00042', not 6",
        "record 8: must be a JSON object, not str",
        "record 9: id '00 8' is empty or contains whitespace",
        "record 4 (id '00003'): 'label' must be a non-empty list of class names",
        "record 5 (id '00004'): has no 'label'",
        "record 6 (id '00005'): unknown class 'Dancing'",
        "record 10 (id '00009'): 'label' must be a non-empty list of class names",
    ]


def test_a_detection_file_without_labels_is_named_once():
    tube = {"label": "Opening", "start": 0, "end": 0, "boxes": [[0, 0, 4, 4]]}
    records = [{"id": f"{i:05d}", "dim": [8, 16, 16], "tubes": [tube]} for i in range(60)]
    with pytest.raises(LabelsInvalid) as info:
        load_labels(json.dumps(records).encode(), CLASSES)
    assert info.value.errors == [
        "this looks like a detection label file: records have 'tubes' but none has "
        "'label'; classification phases need a non-empty 'label' list of class names in "
        "every record"
    ]


def test_a_detection_file_with_some_labels_is_checked_record_by_record():
    tube = {"label": "Opening", "start": 0, "end": 0, "boxes": [[0, 0, 4, 4]]}
    records = [
        {"id": "00000", "dim": [8, 16, 16], "tubes": [tube], "label": ["Opening"]},
        {"id": "00001", "dim": [8, 16, 16], "tubes": [tube]},
    ]
    with pytest.raises(LabelsInvalid) as info:
        load_labels(json.dumps(records).encode(), CLASSES)
    assert info.value.errors == ["record 2 (id '00001'): has no 'label'"]


def test_labels_problem_list_is_capped():
    records = [{"id": f"{i:05d}", "label": ["Nope"]} for i in range(MAX_PROBLEMS + 30)]
    with pytest.raises(LabelsInvalid) as info:
        load_labels(json.dumps(records).encode(), CLASSES)
    assert len(info.value.errors) == MAX_PROBLEMS + 1
    assert info.value.errors[-1] == "... and 30 more problems"


def test_load_clip_ids_reads_the_public_file():
    records = gt_records(IDS[:5], Y[:5])
    for rec in records:
        del rec["label"]
    assert load_clip_ids(json.dumps(records).encode()) == IDS[:5]


def test_load_clip_ids_rejects_duplicates():
    data = json.dumps([{"id": "00001"}, {"id": "00001"}]).encode()
    with pytest.raises(LabelsInvalid, match="duplicate id"):
        load_clip_ids(data)


# --- accepted submissions ---------------------------------------------------------------


def expected_scores() -> dict:
    return compute_metrics(Y, P, CLASSES)


def test_canonical_answer_scores(labels):
    got = score(labels, answer_txt(IDS, P))
    assert got == expected_scores()
    assert got["macro_f1"] == pytest.approx(f1_score(Y, P, average="macro", zero_division=0))


def test_validate_aligns_rows_with_the_labels(labels):
    order = np.random.default_rng(5).permutation(N)
    data = answer_txt([IDS[i] for i in order], P[order])
    assert np.array_equal(validate(labels, data), P)


@pytest.mark.parametrize(
    "transform",
    [
        pytest.param(lambda b: b.replace(b"\n", b"\r\n"), id="crlf"),
        pytest.param(lambda b: b"\xef\xbb\xbf" + b, id="bom"),
        pytest.param(lambda b: b.replace(b" ", b"\t"), id="tabs"),
        pytest.param(lambda b: b.replace(b" ", b"  \t "), id="runs-of-blanks"),
        pytest.param(lambda b: b + b"\n\n  \r\n\t\n", id="trailing-blank-lines"),
        pytest.param(lambda b: b.rstrip(b"\n"), id="no-final-newline"),
        pytest.param(lambda b: b.replace(b"\n", b" \n"), id="trailing-spaces"),
        pytest.param(lambda b: b"  " + b.replace(b"\n", b"\n "), id="leading-spaces"),
        pytest.param(lambda b: b"\xef\xbb\xbf" + b.replace(b"\n", b"\r\n") + b"\r\n", id="all"),
    ],
)
def test_tolerated_layouts(labels, transform):
    assert score(labels, transform(answer_txt(IDS, P))) == expected_scores()


def test_lines_in_any_order(labels):
    lines = answer_lines(IDS, P)[::-1]
    assert score(labels, lines_to_bytes(lines)) == expected_scores()


def test_zip_and_gzip_uploads(labels):
    text = answer_txt(IDS, P)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("answer.txt", text)
    assert score(labels, buf.getvalue()) == expected_scores()
    assert score(labels, io.BytesIO(gzip.compress(text))) == expected_scores()


def test_ids_of_different_widths():
    ids = ["7", "00042", "abc-123", "x"]
    y = np.array([[1, 0], [0, 1], [1, 1], [0, 1]], dtype=np.uint8)
    lab = load_labels(gt_json(ids, y, ["a", "b"]), ["a", "b"])
    text = b"abc-123 1 0\n7 1 1\nx 0 0\n00042 0 1\n"
    p = validate(lab, text)
    assert p.tolist() == [[1, 1], [0, 1], [1, 0], [0, 0]]


def test_non_ascii_ids_take_the_careful_path_and_still_score():
    ids = ["clip-é", "clip-ü"]
    y = np.array([[1, 0], [0, 1]], dtype=np.uint8)
    lab = load_labels(gt_json(ids, y, ["a", "b"]), ["a", "b"])
    assert validate(lab, "clip-ü 0 1\nclip-é 1 1\n".encode()).tolist() == [[1, 1], [0, 1]]


def test_fast_paths_are_really_taken(labels, monkeypatch):
    # If this failed, every file would go through the slow line-by-line parser.
    def boom(*args, **kwargs):
        raise AssertionError("careful pass used on a valid file")

    monkeypatch.setattr(recognition, "_careful_parse", boom)
    assert score(labels, answer_txt(IDS, P)) == expected_scores()
    assert score(labels, answer_txt(IDS, P).replace(b" ", b"\t")) == expected_scores()


@pytest.mark.parametrize(
    "transform",
    [
        pytest.param(lambda b: b, id="canonical"),
        pytest.param(lambda b: b.replace(b"\n", b"\r\n"), id="crlf"),
        pytest.param(lambda b: b.replace(b" ", b"\t").replace(b"\n", b"\r\n"), id="tabs-crlf"),
        pytest.param(lambda b: b"\xef\xbb\xbf" + b + b"\n \n", id="bom-trailing-blanks"),
        pytest.param(lambda b: b.rstrip(b"\n"), id="no-final-newline"),
    ],
)
def test_writer_layouts_take_the_fixed_width_path(labels, monkeypatch, transform):
    def boom(*args, **kwargs):
        raise AssertionError("fixed-width layout was tokenised")

    monkeypatch.setattr(recognition, "_tokenised_lines", boom)
    assert score(labels, transform(answer_txt(IDS, P))) == expected_scores()


def test_single_line_file(monkeypatch):
    lab = RecognitionLabels(class_names=("a", "b"), ids=["x"], Y=np.array([[1, 0]]))
    assert validate(lab, b"x 1 1").tolist() == [[1, 1]]
    assert validate(lab, b"x\t1  1\r\n").tolist() == [[1, 1]]


def test_large_file_is_tokenised_in_slices(labels, monkeypatch):
    monkeypatch.setattr(recognition, "_FAST_CHUNK", 100)
    text = answer_txt(IDS, P).replace(b" ", b"  ")
    assert score(labels, text) == expected_scores()


# --- rejected submissions: each problem names its line -----------------------------------


def test_value_that_is_not_0_or_1(labels):
    lines = answer_lines(IDS, P)
    fields = lines[41].split(" ")
    fields[17] = "2"
    lines[41] = " ".join(fields)
    assert problems_of(labels, lines_to_bytes(lines)) == [
        "line 42: value '2' in column 17 is not 0 or 1"
    ]


def test_probabilities_instead_of_binary_values_are_summarised_per_line(labels):
    lines = answer_lines(IDS, P)
    lines[0] = IDS[0] + " " + " ".join(["0.5"] * 26)
    assert problems_of(labels, lines_to_bytes(lines)) == [
        "line 1: value '0.5' in column 1 is not 0 or 1 (and 25 more on this line)"
    ]


def test_unknown_clip_id(labels):
    lines = answer_lines(IDS, P)
    lines[6] = "99999" + lines[6][5:]
    assert problems_of(labels, lines_to_bytes(lines)) == [
        "line 7: unknown clip id '99999'",
        "1 clip id missing: 00006",
    ]


def test_unpadded_clip_id_gets_a_hint(labels):
    lines = answer_lines(IDS, P)
    lines[42] = "42" + lines[42][5:]
    assert problems_of(labels, lines_to_bytes(lines))[0] == (
        "line 43: unknown clip id '42' (ids are zero-padded: did you mean '00042'?)"
    )


def test_too_few_values(labels):
    lines = answer_lines(IDS, P)
    lines[8] = lines[8][:-2]
    assert problems_of(labels, lines_to_bytes(lines)) == [
        "line 9: expected 26 values after the id, found 25"
    ]


def test_duplicate_id_names_both_lines(labels):
    lines = answer_lines(IDS, P)
    lines[11] = IDS[10] + lines[11][5:]
    assert problems_of(labels, lines_to_bytes(lines)) == [
        "line 12: clip id '00010' already given on line 11",
        "1 clip id missing: 00011",
    ]


def test_official_baseline_writer_output_is_an_error_not_a_score(labels):
    # The baseline pads skipped clips with zero lines but, after two skipped clips in
    # a row, repeats an id and leaves the next one out.
    lines = answer_lines(IDS, P)
    zeros = " ".join(["0"] * 26)
    lines[20] = f"{IDS[20]} {zeros}"
    lines[21] = f"{IDS[20]} {zeros}"
    lines[40] = f"{IDS[39]} {zeros}"
    assert problems_of(labels, lines_to_bytes(lines)) == [
        "line 22: clip id '00020' already given on line 21",
        "line 41: clip id '00039' already given on line 40",
        "2 clip ids missing: 00021, 00040",
    ]


def test_id_problems_of_well_formed_files_skip_the_slow_pass(labels, monkeypatch):
    careful = recognition._careful_parse
    lines = answer_lines(IDS, P)
    lines[21] = IDS[20] + lines[21][5:]
    lines[30] = "77777" + lines[30][5:]
    lines[33] = "33" + lines[33][5:]
    data = lines_to_bytes(lines[:-1])
    slow, _, _ = careful(data, 0, labels._id_index, labels.n_classes)

    def boom(*args, **kwargs):
        raise AssertionError("careful pass used for id problems only")

    monkeypatch.setattr(recognition, "_careful_parse", boom)
    with pytest.raises(SubmissionInvalid) as info:
        score(labels, data)
    assert (
        info.value.errors
        == slow
        == [
            "line 22: clip id '00020' already given on line 21",
            "line 31: unknown clip id '77777'",
            "line 34: unknown clip id '33' (ids are zero-padded: did you mean '00033'?)",
            "4 clip ids missing: 00021, 00030, 00033, 00059",
        ]
    )


def test_many_id_problems_are_capped_by_the_fast_pass_too(labels):
    lines = [f"{90000 + i} " + " ".join(["0"] * 26) for i in range(N)]
    found = problems_of(labels, lines_to_bytes(lines))
    assert found[0] == "line 1: unknown clip id '90000'"
    assert found[-2] == f"... and {N - MAX_PROBLEMS} more problems"
    assert found[-1] == f"{N} clip ids missing, e.g. 00000, 00001, 00002, 00003, 00004"


def test_missing_lines_are_counted_with_examples(labels):
    lines = answer_lines(IDS, P)
    assert problems_of(labels, lines_to_bytes(lines[:-1])) == ["1 clip id missing: 00059"]
    assert problems_of(labels, lines_to_bytes(lines[3:])) == [
        "3 clip ids missing: 00000, 00001, 00002"
    ]
    assert problems_of(labels, lines_to_bytes(lines[:10])) == [
        "50 clip ids missing, e.g. 00010, 00011, 00012, 00013, 00014"
    ]


def test_blank_line_in_the_middle(labels):
    lines = answer_lines(IDS, P)
    lines.insert(5, "")
    lines.insert(9, " \t ")
    assert problems_of(labels, lines_to_bytes(lines)) == [
        "line 6: blank line; blank lines are only allowed at the end",
        "line 10: blank line; blank lines are only allowed at the end",
    ]


def test_leading_blank_line(labels):
    assert problems_of(labels, b"\n" + answer_txt(IDS, P)) == [
        "line 1: blank line; blank lines are only allowed at the end"
    ]


def test_undecodable_line_is_named(labels):
    lines = answer_lines(IDS, P)
    data = lines_to_bytes(lines).replace(IDS[2].encode(), b"\xe9\xe9\xe9", 1)
    assert problems_of(labels, data) == [
        "line 3: not valid UTF-8 text (byte 0xe9 at position 1)",
        "1 clip id missing: 00002",
    ]


def test_nul_bytes_are_rejected_at_once(labels):
    data = answer_txt(IDS, P) + b"\x00\x01\x02" * 1000
    assert problems_of(labels, data) == [
        "line 61: NUL byte; this looks like a binary file, not a text answer file "
        "(upload answer.txt itself, or a zip holding it)"
    ]


def test_utf16_file_is_explained(labels):
    data = answer_txt(IDS, P).decode().encode("utf-16")
    assert problems_of(labels, data) == ["the file is UTF-16 text; save it as UTF-8 or plain ASCII"]


def test_comma_separated_file(labels):
    data = answer_txt(IDS, P).replace(b" ", b",")
    found = problems_of(labels, data)
    assert found[0] == (
        "line 1: fields are separated by commas or semicolons; "
        "separate the id and the values with spaces"
    )


@pytest.mark.parametrize("data", [b"", b"\n\n", b"  \r\n\t"])
def test_empty_submission(labels, data):
    found = problems_of(labels, data)
    assert found[0] in (
        "the submission is empty",
        "the file has no lines; expected one line per clip",
    )


def test_every_problem_is_reported_in_one_pass(labels):
    lines = answer_lines(IDS, P)
    lines[1] = lines[1].replace(" 0", " x", 1) if " 0" in lines[1] else lines[1] + " x"
    lines[3] = "abc " + lines[3][6:]
    lines[5] = lines[5] + " 1"
    lines[7] = IDS[6] + lines[7][5:]
    found = problems_of(labels, lines_to_bytes(lines))
    assert [p.split(":")[0] for p in found] == [
        "line 2",
        "line 4",
        "line 6",
        "line 8",
        "2 clip ids missing",
    ]


def test_problem_list_is_capped_with_the_count_of_the_rest(labels):
    lines = answer_lines(IDS, P)
    bad = [line.replace(" ", " 2 ", 1) for line in lines]  # 27 values on every line
    found = problems_of(labels, lines_to_bytes(bad))
    assert len(found) == MAX_PROBLEMS + 1
    assert found[0] == "line 1: expected 26 values after the id, found 27"
    assert found[-1] == f"... and {N - MAX_PROBLEMS} more problems"


def test_missing_summary_survives_the_cap(labels):
    lines = [f"{90000 + i} " + " ".join(["0"] * 26) for i in range(MAX_PROBLEMS + 2)]
    found = problems_of(labels, lines_to_bytes(lines))
    assert found[-2] == "... and 2 more problems"
    assert found[-1].startswith(f"{N} clip ids missing, e.g. 00000")


def test_oversized_submission(labels):
    with pytest.raises(SubmissionInvalid) as info:
        score(labels, answer_txt(IDS, P), max_bytes=100)
    assert info.value.errors == ["the submission is larger than the limit of 100 bytes"]


# --- check_format (participant side, no labels) ------------------------------------------


def test_check_format_accepts_a_good_file():
    assert check_format(answer_txt(IDS, P), IDS, 26) == []


def test_check_format_returns_archive_problems_as_a_list():
    assert check_format(b"PK\x05\x06" + b"\0" * 18, IDS, 26) == [
        "the zip archive is empty: it must hold exactly one file"
    ]


def test_check_format_with_another_class_count():
    text = b"a 1 0 1\nb 0 0 0\n"
    assert check_format(text, ["a", "b"], 3) == []
    assert check_format(text, ["a", "b"], 2) == [
        "line 1: expected 2 values after the id, found 3",
        "line 2: expected 2 values after the id, found 3",
    ]


# --- the score dict ------------------------------------------------------------------


def test_hand_computed_example():
    # class a: TP=1 FP=1 FN=0; class b: TP=0 FP=0 FN=1; class c: never true, never predicted.
    y = np.array([[1, 1, 0], [0, 0, 0]])
    p = np.array([[1, 0, 0], [1, 0, 0]])
    got = compute_metrics(y, p, ["a", "b", "c"])
    assert [c["precision"] for c in got["per_class"]] == [0.5, 0.0, 0.0]
    assert [c["recall"] for c in got["per_class"]] == [1.0, 0.0, 0.0]
    assert [c["f1"] for c in got["per_class"]] == pytest.approx([2 / 3, 0.0, 0.0])
    assert [c["support"] for c in got["per_class"]] == [1, 1, 0]
    assert got["macro_f1"] == pytest.approx((2 / 3) / 3)
    assert got["micro_precision"] == 0.5
    assert got["micro_recall"] == 0.5
    assert got["micro_f1"] == 0.5
    # clip 0: 2*1/(2+1); clip 1: 2*0/(0+1)
    assert got["samples_f1"] == pytest.approx((2 / 3 + 0) / 2)


def test_perfect_submission(labels):
    got = score(labels, answer_txt(IDS, Y))
    with_support = [c for c in got["per_class"] if c["support"]]
    assert all(c["f1"] == 1.0 for c in with_support)
    assert got["micro_f1"] == 1.0
    assert got["samples_f1"] == 1.0
    assert got["macro_f1"] == pytest.approx(len(with_support) / 26)


def test_all_zero_submission(labels):
    got = score(labels, answer_txt(IDS, np.zeros_like(Y)))
    assert got["macro_f1"] == 0.0
    assert got["micro_precision"] == 0.0
    assert got["samples_f1"] == 0.0


def test_score_dict_has_the_contract_shape(labels):
    got = score(labels, answer_txt(IDS, P))
    assert list(got) == ["track", "primary_metric", *METRIC_KEYS, "n_items", "per_class"]
    assert got["track"] == "classification"
    assert got["primary_metric"] == "macro_f1"
    assert type(got["n_items"]) is int
    assert got["n_items"] == N
    for key in ("macro_f1", "macro_precision", "macro_recall", "micro_f1", "samples_f1"):
        assert type(got[key]) is float
        assert 0.0 <= got[key] <= 1.0
    assert [c["class_id"] for c in got["per_class"]] == list(range(26))
    assert [c["name"] for c in got["per_class"]] == list(CLASSES)
    first = got["per_class"][0]
    assert list(first) == ["class_id", "name", "precision", "recall", "f1", "support"]
    assert type(first["support"]) is int
    assert type(first["f1"]) is float
    assert sum(c["support"] for c in got["per_class"]) == int(Y.sum())
    assert got["macro_f1"] == pytest.approx(np.mean([c["f1"] for c in got["per_class"]]))
    assert json.loads(json.dumps(got)) == got
    assert all(math.isfinite(v) for v in got.values() if isinstance(v, float))


def test_compute_metrics_checks_shapes():
    with pytest.raises(ValueError, match="matrices"):
        compute_metrics(np.zeros((2, 3)), np.zeros((2, 2)), ["a", "b", "c"])


# --- the track dispatch both front doors use ------------------------------------------------


def test_dispatch_round_trip_for_classification():
    lab = scoring.load_labels("classification", gt_json(IDS, Y), CLASSES)
    again = scoring.labels_from_bytes("classification", lab.to_bytes())
    assert scoring.score("classification", again, answer_txt(IDS, P)) == expected_scores()


def test_dispatch_uses_the_track_default_size_limit(labels, monkeypatch):
    monkeypatch.setattr(recognition, "DEFAULT_MAX_BYTES", 100)
    with pytest.raises(SubmissionInvalid, match="limit of 100 bytes"):
        scoring.score("classification", labels, answer_txt(IDS, P))
    assert scoring.score("classification", labels, answer_txt(IDS, P), max_bytes=1 << 20)


def test_dispatch_rejects_unknown_tracks():
    assert scoring.TRACKS == ("classification", "detection")
    with pytest.raises(ValueError, match="unknown track 'segmentation'"):
        scoring.load_labels("segmentation", b"[]", CLASSES)


def test_scoring_library_does_not_import_django():
    code = (
        "import sys, evalserver.scoring, evalserver.scoring.recognition;"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('django', 'celery', 'sklearn')];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd=root
    )
    assert done.returncode == 0, done.stdout + done.stderr
