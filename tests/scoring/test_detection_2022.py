"""The TinyActions 2022 detection layout: zips of <clip_id>/pred.pkl, read without pickle.load.

A hostile pickle zoo must never execute anything (a marker file is never created) and
never take more than the cap of memory; every problem names its file or clip; a zip and
its ``tinyactions convert-2022`` CSV score identically under both protocols.
"""

from __future__ import annotations

import collections
import csv
import io
import json
import os
import pickle
import subprocess
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

from evalserver import client
from evalserver.challenges import demo
from evalserver.scoring import detection
from evalserver.scoring.classes import TINYVIRAT_V2_CLASSES as CLASSES
from evalserver.scoring.detection_2022 import MAX_OPCODES, UnsafePickle, load_pickle, read_zip
from evalserver.scoring.errors import SubmissionInvalid

T, W, H = 6, 100, 50
RECORDS = [
    {
        "id": f"0000{i}",
        "dim": [T, W, H],
        "tubes": [
            {"label": "Talking", "start": 1, "end": 4, "boxes": [[10, 10, 30, 40]] * 4},
        ],
    }
    for i in range(3)
]


def labels():
    return detection.load_labels(json.dumps(RECORDS).encode(), CLASSES)


def tube(frames: dict[int, list[float]], score: float, n_frames: int = T) -> np.ndarray:
    row = np.full(4 * n_frames + 1, -1.0)
    for f, (x1, y1, x2, y2) in frames.items():
        row[4 * f : 4 * f + 4] = [x1 / W, y1 / H, x2 / W, y2 / H]
    row[-1] = score
    return row


GOOD = {9: np.stack([tube({f: [10, 10, 30, 40] for f in range(1, 5)}, 0.9)])}  # 9 = Talking


def zip_of(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def problems(data: bytes) -> list[str]:
    with pytest.raises(SubmissionInvalid) as info:
        detection.score(labels(), data)
    return info.value.errors


# --- reading ------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_every_pickle_protocol_and_float_width_is_read(protocol, dtype):
    arrays = {k: v.astype(dtype) for k, v in GOOD.items()}
    data = zip_of({"00001/pred.pkl": pickle.dumps(arrays, protocol=protocol)})
    result = detection.score(labels(), data)
    talking = result["per_class"][8]
    # One clip of the three with a Talking tube is found, exactly.
    assert talking["video_ap"] == pytest.approx(1 / 3)
    assert talking["frame_ap"] == pytest.approx(1 / 3)
    assert "warnings" not in result


def test_a_defaultdict_numpy_keys_and_a_folder_around_the_clips_are_read():
    dd = collections.defaultdict(list)
    dd[np.int64(9)] = GOOD[9]
    dd[3] = np.zeros((0, 4 * T + 1))
    files = {
        "preds/00000/pred.pkl": pickle.dumps(dd),
        "preds/00001/pred.pkl": pickle.dumps(GOOD),
        "preds/00002/pred.pkl": pickle.dumps({}),
        "__MACOSX/preds/._00002": b"junk",
    }
    result = detection.score(labels(), zip_of(files))
    assert result["per_class"][8]["frame_ap"] == pytest.approx(2 / 3)


def test_missing_frames_are_gaps_and_degenerate_boxes_are_dropped_with_a_warning():
    row = tube({1: [10, 10, 30, 40], 3: [10, 10, 30, 40], 4: [30, 10, 30, 40]}, 0.8)
    flat = tube({2: [10, 40, 30, 40]}, 0.7)  # only a degenerate box: the tube vanishes
    data = zip_of({"00000/pred.pkl": pickle.dumps({9: np.stack([row, flat])})})
    result = detection.score(labels(), data)
    assert result["warnings"] == [
        "2 degenerate boxes (x2 <= x1 or y2 <= y1 once in pixels) were left out, e.g. "
        "00000/pred.pkl (clip 00000) class 9 (Talking) tube 1 frame 4; "
        "00000/pred.pkl (clip 00000) class 9 (Talking) tube 2 frame 2"
    ]
    # Frames 1 and 3 of 1..4: temporal 3/4 (span 1..3), mean IoU 2/3 -> 0.5: a match.
    assert result["per_class"][8]["video_ap"] == pytest.approx(1 / 3)


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"99999/pred.pkl": pickle.dumps(GOOD)}, "99999/pred.pkl: clip '99999' is not in"),
        (
            {"00001/pred.pkl": pickle.dumps({9: np.zeros((1, 4 * 5 + 1))})},
            "00001/pred.pkl (clip 00001) class 9 (Talking): 21 columns means T = 5 frames, "
            "but the clip has 6 (expected 4 x 6 + 1 = 25 columns)",
        ),
        (
            {"00001/pred.pkl": pickle.dumps({0: GOOD[9]})},
            "00001/pred.pkl (clip 00001): class id 0 is outside the class map (1-based ids 1..26)",
        ),
        ({"00001/pred.pkl": pickle.dumps({27: GOOD[9]})}, "class id 27 is outside the class map"),
        ({"00001/pred.pkl": pickle.dumps({"Talking": GOOD[9]})}, "class id 'Talking' is outside"),
        ({"00001/pred.pkl": pickle.dumps({True: GOOD[9]})}, "class id True is outside"),
        ({"00001/pred.pkl": pickle.dumps([GOOD[9]])}, "holds a list, expected a dict"),
        ({"00001/pred.pkl": pickle.dumps({9: [1, 2]})}, "expected an array of shape (tubes, 25)"),
        ({"00001/pred.pkl": pickle.dumps({9: GOOD[9] * np.nan})}, "tube 1: holds a value that"),
        ({"00001/pred.pkl": pickle.dumps({9: GOOD[9] * 2})}, "tube 1: score 1.8 is outside [0, 1]"),
        ({"00001/preds.pkl": pickle.dumps(GOOD)}, "00001/preds.pkl: the 2022 layout holds only"),
        (
            {"a/00001/pred.pkl": pickle.dumps(GOOD), "b/00001/pred.pkl": pickle.dumps(GOOD)},
            "b/00001/pred.pkl: clip 00001 already came from a/00001/pred.pkl",
        ),
        ({"../00001/pred.pkl": pickle.dumps(GOOD)}, "climbs out of the archive"),
        ({"00001/pred.pkl": b"not a pickle"}, "00001/pred.pkl: cannot be read: it is not a"),
    ],
)
def test_each_problem_names_its_file_or_clip(files, message):
    found = problems(zip_of(files))
    assert any(message in p for p in found), found


def test_problems_in_many_files_are_listed_together_and_capped():
    files = {f"{i:05d}/pred.pkl": b"junk" for i in range(70)}
    found = problems(zip_of(files))
    assert len(found) == 51
    assert found[-1] == "... and 20 more problems"


# --- a zip and its CSV conversion ---------------------------------------------------------


def demo_as_2022(tmp_path: Path) -> tuple[bytes, Path, list[dict]]:
    """The demo's detection sample rewritten in the 2022 layout, and a public clip list."""
    files = demo.generate_demo(tmp_path / "demo")
    records = json.loads(files.detection.read_text())
    dims = {r["id"]: r["dim"] for r in records}
    rows = list(csv.DictReader(io.StringIO(files.detection_sample.read_text())))
    per = collections.defaultdict(lambda: collections.defaultdict(dict))
    for r in rows:
        cls = int(r["class"]) if r["class"].isdigit() else CLASSES.index(r["class"])
        per[r["video_id"]][cls + 1].setdefault(int(r["tube_id"]), []).append(r)
    members = {}
    for video, classes in per.items():
        n, w, h = dims[video]
        out = {}
        for cid, tubes in classes.items():
            arr = np.full((len(tubes), 4 * n + 1), -1.0)
            for i, (_, members_rows) in enumerate(sorted(tubes.items())):
                for r in members_rows:
                    f = int(r["frame"])
                    arr[i, 4 * f : 4 * f + 4] = [
                        float(r["x1"]) / w,
                        float(r["y1"]) / h,
                        float(r["x2"]) / w,
                        float(r["y2"]) / h,
                    ]
                arr[i, -1] = np.mean([float(r["score"]) for r in members_rows])
            out[cid] = arr
        members[f"{video}/pred.pkl"] = pickle.dumps(out)
    public = tmp_path / "public.json"
    public.write_text(json.dumps([{"id": r["id"], "dim": r["dim"]} for r in records]))
    return zip_of(members), public, records


def test_a_2022_zip_and_its_csv_conversion_score_identically(tmp_path):
    data, public, records = demo_as_2022(tmp_path)
    zip_path, csv_path = tmp_path / "preds.zip", tmp_path / "preds.csv"
    zip_path.write_bytes(data)
    out, err = io.StringIO(), io.StringIO()
    code = client.main(
        ["convert-2022", "--labels", str(public), str(zip_path), "-o", str(csv_path)],
        out=out,
        err=err,
    )
    assert code == client.EXIT_OK, err.getvalue()
    assert out.getvalue() == f"wrote {csv_path}\n"
    gt = detection.load_labels(json.dumps(records).encode(), CLASSES)
    for protocol in ("voc", "act"):
        from_zip = detection.score(gt, data, protocol=protocol)
        from_csv = detection.score(gt, csv_path.read_bytes(), protocol=protocol)
        assert from_zip == from_csv
        assert 0.3 < from_zip["video_map"] < 0.9


def test_convert_reports_problems_and_warnings_on_stderr(tmp_path):
    public = tmp_path / "public.json"
    public.write_text(json.dumps([{"id": r["id"], "dim": r["dim"]} for r in RECORDS]))
    bad = tmp_path / "bad.zip"
    bad.write_bytes(zip_of({"12345/pred.pkl": pickle.dumps(GOOD)}))
    out, err = io.StringIO(), io.StringIO()
    args = ["convert-2022", "--labels", str(public), str(bad), "-o", str(tmp_path / "x.csv")]
    assert client.main(args, out=out, err=err) == client.EXIT_LOCAL
    assert f"{bad}: 12345/pred.pkl: clip '12345' is not in this phase's clip list" in err.getvalue()
    assert not (tmp_path / "x.csv").exists()

    flat = {9: np.stack([tube({2: [10, 40, 30, 40], 3: [10, 10, 30, 40]}, 0.7)])}
    ok = tmp_path / "ok.zip"
    ok.write_bytes(zip_of({"00000/pred.pkl": pickle.dumps(flat)}))
    out, err = io.StringIO(), io.StringIO()
    args = ["convert-2022", "--labels", str(public), str(ok), "-o", str(tmp_path / "ok.csv")]
    assert client.main(args, out=out, err=err) == client.EXIT_OK
    assert err.getvalue().startswith("warning: 1 degenerate boxes")
    lines = (tmp_path / "ok.csv").read_text().splitlines()
    assert lines == [detection.HEADER, "00000,0,3,Talking,0.7,10.0,10.0,30.0,40.0"]

    out, err = io.StringIO(), io.StringIO()
    args = ["convert-2022", "--labels", str(bad), str(ok), "-o", str(tmp_path / "y.csv")]
    assert client.main(args, out=out, err=err) == client.EXIT_LOCAL
    assert str(bad) in err.getvalue()


def test_the_client_is_still_importable_without_touching_numpy():
    # The client's other commands are stdlib-only; convert-2022 imports numpy lazily.
    code = "import sys, evalserver.client; print('numpy' in sys.modules)"
    done = subprocess.run(
        [os.sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "False"


# --- the hostile pickle zoo ---------------------------------------------------------------


class Reduce:
    """Pickles as a call of ``func(*args)``: what an attacker's pickle does."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


# 10**12 as a pickle LONG1: far more bytes than any test machine has.
TERA = b"\x8a\x06" + (10**12).to_bytes(6, "little", signed=True)


def _global(module: str, name: str, arg: bytes = b"x") -> bytes:
    """A protocol-0 pickle calling module.name(arg), for names pickle.dumps would not write."""
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n(S'" + arg + b"'\ntR."


def zoo(marker: Path) -> dict[str, bytes]:
    import builtins
    import subprocess as sp

    touch = f"touch {marker}"
    evil = pickle.dumps(Reduce(os.system, touch))
    arr = GOOD[9]
    raw = arr.tobytes()
    return {
        "os.system": evil,
        "posix.system": _global("posix", "system", touch.encode()),
        "nt.system": _global("nt", "system", touch.encode()),
        "builtins.eval": pickle.dumps(Reduce(builtins.eval, f"open({str(marker)!r}, 'w')")),
        "builtins.exec": pickle.dumps(Reduce(builtins.exec, f"open({str(marker)!r}, 'w')")),
        "__builtin__.eval (protocol 0)": _global("__builtin__", "eval", b"1"),
        "builtins.getattr": _global("builtins", "getattr"),
        "builtins.__import__": _global("builtins", "__import__", b"os"),
        "builtins.open": pickle.dumps(Reduce(builtins.open, str(marker), "w")),
        "subprocess.Popen": pickle.dumps(Reduce(sp.Popen, ["touch", str(marker)])),
        "subprocess.call": pickle.dumps(Reduce(sp.call, ["touch", str(marker)])),
        "nested pickle.loads": pickle.dumps(Reduce(pickle.loads, evil)),
        "nested _pickle.loads": _global("_pickle", "loads", b"x"),
        "numpy.load": _global("numpy", "load", str(marker).encode()),
        "copyreg._reconstructor": _global("copyreg", "_reconstructor"),
        "INST os.system": b"(S'" + touch.encode() + b"'\nios\nsystem\n.",
        "OBJ os.system": b"\x80\x02(cos\nsystem\nX\x05\x00\x00\x00touchob.",
        "defaultdict(os.system)": pickle.dumps(
            Reduce(collections.defaultdict, Reduce(os.system, touch))
        ),
        "REDUCE on the ndarray marker": b"\x80\x02cnumpy\nndarray\nJ\x00\xca\x9a;\x85R.",
        "REDUCE on a factory marker": b"\x80\x02c__builtin__\nlist\n)R.",
        "bytes(10**12)": b"\x80\x02c__builtin__\nbytes\n\x8a\x05\x00\x10\xa5\xd4\xe8\x85R.",
        "_codecs.encode utf-16": b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00aX\x06\x00\x00"
        b"\x00utf-16\x86R.",
        "_reconstruct of a huge array": b"\x80\x02cnumpy.core.multiarray\n_reconstruct\n"
        b"cnumpy\nndarray\n" + TERA + b"\x85C\x01b\x87R.",
        "_reconstruct of a memmap": _global("numpy", "memmap"),
        "huge declared shape, tiny data": _array_pickle((10**9, 401), "f8", raw[:16]),
        "shape and data disagree": _array_pickle((2, 25), "f8", raw),
        "object dtype": _array_pickle((1, 1), "O8", b"x" * 8),
        "structured dtype": _global("numpy", "dtype", b"V8"),
        "three dimensions": _array_pickle((1, 1, 25), "f8", raw),
        "_frombuffer with a huge shape": b"\x80\x05cnumpy._core.numeric\n_frombuffer\n"
        b"(\x96\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
        b"cnumpy\ndtype\nX\x02\x00\x00\x00f8\x89\x88\x87R" + TERA + b"\x85"
        b"X\x01\x00\x00\x00Ct\x94R.",
        "persistent id": b"\x80\x02X\x01\x00\x00\x00xQ.",
        "extension code": b"\x80\x02\x82\x01.",
        "an opcode flood": b"\x80\x04(" + b"}" * (MAX_OPCODES + 10) + b"l.",
        "deep nesting": b"\x80\x04" + b"(" * 200_000 + b"].",
        "truncated": pickle.dumps(GOOD)[:-30],
        "truncated in the array data": pickle.dumps(GOOD)[:120],
        "empty": b"",
    }


def _array_pickle(shape: tuple, dtype: str, raw: bytes) -> bytes:
    """numpy's own array pickle (protocol 2), with a shape/dtype/data of our choosing."""
    dims = b"".join(b"\x8a\x08" + n.to_bytes(8, "little", signed=True) for n in shape)
    tuple_op = {1: b"\x85", 2: b"\x86", 3: b"\x87"}[len(shape)]
    return (
        b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85C\x01b\x87R"
        b"(K\x01"
        + dims
        + tuple_op
        + b"cnumpy\ndtype\nX"
        + len(dtype).to_bytes(4, "little")
        + dtype.encode()
        + b"\x89\x88\x87R(K\x03X\x01\x00\x00\x00<NNNJ\xff\xff\xff\xffJ\xff\xff"
        b"\xff\xffK\x00tb\x89B" + len(raw).to_bytes(4, "little") + raw + b"tb."
    )


def test_the_zoo_is_refused_without_executing_anything_or_using_memory(tmp_path):
    marker = tmp_path / "executed"
    samples = zoo(marker)
    tracemalloc.start()
    try:
        for name, data in samples.items():
            with pytest.raises((UnsafePickle, ValueError)) as info:
                load_pickle(data)
            assert str(info.value), name
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert not marker.exists()
    # The largest sample is the opcode flood (100 kB); nothing may blow up from it.
    assert peak < 32 << 20, peak


def test_refused_globals_are_named(tmp_path):
    samples = zoo(tmp_path / "executed")
    for name, expected in [
        ("os.system", "it asks for posix.system"),
        ("builtins.eval", "it asks for builtins.eval"),
        ("subprocess.Popen", "it asks for subprocess.Popen"),
        ("nested pickle.loads", "it asks for _pickle.loads"),
        ("numpy.load", "it asks for numpy.load"),
        ("object dtype", "a dtype 'O8'"),
        ("huge declared shape, tiny data", "declaring shape (1000000000, 401)"),
        ("an opcode flood", f"more than {MAX_OPCODES} pickle operations"),
    ]:
        with pytest.raises(UnsafePickle, match=None) as info:
            load_pickle(samples[name])
        assert expected in str(info.value), (name, str(info.value))


def test_the_zoo_in_a_submission_names_each_file_and_executes_nothing(tmp_path):
    marker = tmp_path / "executed"
    samples = zoo(marker)
    # One file per clip: each sample in a zip of its own.
    for name, data in samples.items():
        found = problems(zip_of({"00001/pred.pkl": data}))
        assert found[0].startswith("00001/pred.pkl: "), (name, found)
        assert "refused, never unpickled" in found[0] or "cannot be read" in found[0]
    assert not marker.exists()


def test_a_pickle_over_the_byte_cap_is_refused_before_reading(tmp_path):
    big = pickle.dumps({9: np.zeros((3000, 4 * T + 1))})
    with pytest.raises(UnsafePickle, match="larger than the limit"):
        load_pickle(big, max_bytes=len(big) - 1)
    upload = zip_of({"00001/pred.pkl": big})
    with pytest.raises(SubmissionInvalid, match="larger than the limit"):
        read_zip(upload, labels(), max_bytes=1 << 30, max_pickle_bytes=1000)


def test_a_zip_bomb_of_pickles_stops_at_the_cap():
    bomb = zip_of({f"0000{i}/pred.pkl": b"\x00" * (4 << 20) for i in range(3)})
    tracemalloc.start()
    try:
        with pytest.raises(SubmissionInvalid, match="larger than the limit of 8 MiB"):
            detection.score(labels(), bomb, max_bytes=8 << 20)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 24 << 20


def test_deeply_nested_lists_under_the_operation_limit_are_just_the_wrong_shape():
    nested = b"\x80\x04" + b"]" * 40_000 + b"a" * 39_999 + b"."
    found = problems(zip_of({"00001/pred.pkl": nested}))
    assert found == [
        "00001/pred.pkl (clip 00001): holds a list, expected a dict from class id to an "
        "array of tubes"
    ]


def random_2022_case(seed: int):
    """Random ground truth and a 2022-layout zip with gaps, ties, twins and bad boxes."""
    import random

    from tests.scoring.detection_helpers import random_case

    rng = random.Random(seed)
    case = random_case(seed, max_clips=6)
    names = case.class_names
    members, n_degenerate = {}, 0
    for record in case.records:
        n, w, h = record["dim"]
        arrays = {}
        for cid in rng.sample(range(1, len(names) + 1), rng.randint(0, len(names))):
            same = [t for t in record["tubes"] if names.index(t["label"]) == cid - 1]
            rows = []
            for _ in range(rng.randint(0, 4)):
                row = np.full(4 * n + 1, -1.0)
                source = rng.choice(same) if same and rng.random() < 0.7 else None
                if source:
                    lo = max(source["start"] - rng.randint(0, 1), 0)
                    hi = min(source["end"] + rng.randint(0, 1), n - 1)
                else:
                    lo = rng.randint(0, n - 1)
                    hi = rng.randint(lo, n - 1)
                for f in range(lo, hi + 1):
                    if f > lo and rng.random() < 0.1:
                        continue  # a gap
                    if source and source["start"] <= f <= source["end"]:
                        x1, y1, x2, y2 = source["boxes"][f - source["start"]]
                        dx = rng.choice((0.0, 0.5, 1.0, 3.0))
                        box = [x1 + dx, y1, x2 + dx, y2]
                    else:
                        x, y = rng.uniform(0, w - 5), rng.uniform(0, h - 5)
                        box = [x, y, x + rng.uniform(2, 20), y + rng.uniform(2, 20)]
                    if rng.random() < 0.05:
                        box[2] = box[0]  # degenerate once in pixels
                    row[4 * f : 4 * f + 4] = [box[0] / w, box[1] / h, box[2] / w, box[3] / h]
                row[-1] = rng.choice((0.5, 0.75, 1.0)) if rng.random() < 0.5 else rng.random()
                rows.append(row)
                if rows and rng.random() < 0.15:
                    rows.append(row.copy())  # a twin tube
            arrays[cid] = np.stack(rows) if rows else np.zeros((0, 4 * n + 1))
            for row in rows:
                for f in range(n):
                    x1, y1, x2, y2 = (float(v) for v in row[4 * f : 4 * f + 4])
                    if (x1, y1, x2, y2) != (-1, -1, -1, -1) and (
                        x2 * w <= x1 * w or y2 * h <= y1 * h
                    ):
                        n_degenerate += 1
        members[f"{record['id']}/pred.pkl"] = pickle.dumps(arrays, protocol=rng.choice((2, 4, 5)))
    return case, zip_of(members), n_degenerate


@pytest.mark.parametrize("seed", range(25))
def test_random_2022_zips_score_like_their_csv_and_the_references(seed):
    from tests.scoring.test_detection_act import check_both

    case, data, n_degenerate = random_2022_case(seed)
    gt = detection.load_labels(case.labels(), case.class_names)
    read = read_zip(data, gt, max_bytes=1 << 30)
    out = io.StringIO()
    from evalserver.scoring.detection_2022 import write_csv

    write_csv(read.rows, gt, out)
    csv_data = out.getvalue().encode()
    act, voc = check_both(case.records, case.class_names, csv_data)
    for protocol, expected in (("act", act), ("voc", voc)):
        from_zip = detection.score(gt, data, protocol=protocol)
        assert from_zip.pop("warnings", []) == read.warnings
        assert from_zip == expected
    if n_degenerate:
        assert read.warnings[0].startswith(f"{n_degenerate} degenerate boxes")
    else:
        assert read.warnings == []


def test_the_random_2022_cases_reach_matches_and_degenerate_boxes():
    with_warnings = matched = 0
    for seed in range(25):
        case, data, n_degenerate = random_2022_case(seed)
        gt = detection.load_labels(case.labels(), case.class_names)
        with_warnings += n_degenerate > 0
        matched += detection.score(gt, data, protocol="act")["video_map"] > 0
    assert with_warnings >= 8
    assert matched >= 12
