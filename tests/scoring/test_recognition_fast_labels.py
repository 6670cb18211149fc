"""The fast readers behind ``manage.py score`` at a million clips, held to the careful ones.

The label fast path (msgspec into Enum members, ids checked as bytes) must read exactly
what the record-by-record reader reads, and decline (so the careful reader words the
problem, unchanged) whenever the file has one. The id index (a numpy hash table) must
find exactly what a dictionary finds.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from evalserver.scoring import recognition
from evalserver.scoring.classes import TINYVIRAT_V2_CLASSES
from evalserver.scoring.errors import LabelsInvalid, SubmissionInvalid
from evalserver.scoring.recognition import _HashTable, _IdIndex
from evalserver.scoring.splits import PRIVATE, PUBLIC, SPLITS

CLASSES = tuple(TINYVIRAT_V2_CLASSES)


def _careful(data: bytes, names: tuple[str, ...] = CLASSES):
    column = {n: c for c, n in enumerate(names)}
    try:
        return recognition._load_labels_carefully(data, names, column)
    except LabelsInvalid as exc:
        return exc.errors


def _records(ids: list[str], *, seed: int = 0, split: bool = False) -> list[dict]:
    rng = np.random.default_rng(seed)
    out = []
    for n, cid in enumerate(ids):
        k = int(rng.integers(1, 4))
        names = [CLASSES[c] for c in rng.choice(len(CLASSES), size=k, replace=False)]
        record = {"id": cid, "label": names, "dim": [120, 80, 80]}
        if split:
            record["split"] = "private" if n % 3 == 0 else "public"
        out.append(record)
    return out


def _same(plain: recognition.RecognitionLabels, careful) -> None:
    assert isinstance(careful, recognition.RecognitionLabels), careful
    assert plain.ids.dtype.kind == careful.ids.dtype.kind == "U"
    assert plain.ids.tolist() == careful.ids.tolist()
    assert np.array_equal(plain.Y, careful.Y)
    assert plain.Y.dtype == careful.Y.dtype
    if careful.split is None:
        assert plain.split is None
    else:
        assert np.array_equal(plain.split, careful.split)


ID_SETS = {
    "short": [f"{i:05d}" for i in range(300)],
    "long": [f"VIRAT_S_{i:06d}" for i in range(300)],
    "very long": [f"{'x' * 70}{i:05d}" for i in range(300)],
    "mixed widths": [f"c{i}" for i in range(300)],
    "non-ascii": [f"ü{i:04d}" for i in range(300)],
}


@pytest.mark.parametrize("split", [False, True])
@pytest.mark.parametrize("kind", list(ID_SETS))
def test_the_fast_label_reader_reads_what_the_careful_one_reads(kind: str, split: bool) -> None:
    data = json.dumps(_records(ID_SETS[kind], split=split)).encode()
    plain = recognition._plain_labels(data, CLASSES)
    assert plain is not None
    _same(plain, _careful(data))
    # Through the public entry point too, and the index it left behind finds every id.
    labels = recognition.load_labels(data, CLASSES)
    rows, known = labels._id_index.lookup(np.array([i.encode() for i in ID_SETS[kind]]))
    assert known.all()
    assert rows.tolist() == list(range(len(ID_SETS[kind])))


def _mutations() -> dict[str, bytes]:
    long_ids = ID_SETS["long"][:20]
    base = _records(long_ids)
    cases = {}

    def case(name: str, records: list) -> None:
        cases[name] = json.dumps(records).encode()

    dup = [dict(r) for r in base]
    dup[7]["id"] = dup[3]["id"]
    case("duplicate long id", dup)
    dup_short = _records(ID_SETS["short"][:20])
    dup_short[19]["id"] = dup_short[0]["id"]
    case("duplicate short id", dup_short)
    dup_very_long = _records(ID_SETS["very long"][:20])
    dup_very_long[5]["id"] = dup_very_long[6]["id"]
    case("duplicate very long id", dup_very_long)
    empty = [dict(r) for r in base]
    empty[2]["id"] = ""
    case("empty id", empty)
    for name, bad in [("space", "a b"), ("tab", "a\tb"), ("control", "a\x01"), ("del", "a\x7f")]:
        records = [dict(r) for r in base]
        records[4]["id"] = bad
        case(f"id with {name}", records)
    unknown = [dict(r) for r in base]
    unknown[9]["label"] = ["Opening", "not_a_class"]
    case("unknown class", unknown)
    no_label = [dict(r) for r in base]
    no_label[1]["label"] = []
    case("empty label list", no_label)
    half_split = _records(long_ids, split=True)
    del half_split[3]["split"]
    case("a record without a split", half_split)
    one_split = _records(long_ids)
    for r in one_split:
        r["split"] = "public"
    case("only the public split", one_split)
    bad_split = _records(long_ids, split=True)
    bad_split[0]["split"] = "hidden"
    case("unknown split", bad_split)
    case("not a record", [*base, 5])
    case("no id", [*base, {"label": ["Opening"]}])
    case("numeric id", [*base, {"id": 7, "label": ["Opening"]}])
    case("label a string", [*base, {"id": "zz", "label": "Opening"}])
    return cases


MUTATIONS = _mutations()


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_a_file_with_a_problem_is_left_to_the_careful_reader(name: str) -> None:
    data = MUTATIONS[name]
    assert recognition._plain_labels(data, CLASSES) is None
    careful = _careful(data)
    assert isinstance(careful, list), careful
    assert careful
    # load_labels words it exactly as the careful reader does.
    with pytest.raises(LabelsInvalid) as exc:
        recognition.load_labels(data, CLASSES)
    assert exc.value.errors == careful


def test_duplicate_ids_are_worded_unchanged() -> None:
    data = MUTATIONS["duplicate long id"]
    with pytest.raises(LabelsInvalid) as exc:
        recognition.load_labels(data, CLASSES)
    assert exc.value.errors == [
        "record 8 (id 'VIRAT_S_000003'): duplicate id, already used by record 4"
    ]


def test_class_maps_with_odd_names_are_read_alike() -> None:
    names = ("a b", "", "Ünï", "x,y", "Opening")
    records = [
        {"id": "1", "label": ["a b", ""]},
        {"id": "2", "label": ["Ünï", "x,y", "a b"]},
        {"id": "3", "label": ["Opening"]},
    ]
    data = json.dumps(records).encode()
    plain = recognition._plain_labels(data, names)
    assert plain is not None
    _same(plain, _careful(data, names))


def test_repeated_class_names_keep_the_last_column_as_the_careful_reader_does() -> None:
    names = ("a", "b", "a")
    data = json.dumps([{"id": "1", "label": ["a"]}, {"id": "2", "label": ["b"]}]).encode()
    plain = recognition._plain_labels(data, names)
    assert plain is not None
    _same(plain, _careful(data, names))
    assert plain.Y.tolist() == [[0, 0, 1], [0, 1, 0]]


# --- the id index ---------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 7, 1000, 20_000])
def test_the_hash_table_finds_what_a_dictionary_finds(n: int) -> None:
    rng = np.random.default_rng(n)
    keys = np.unique(rng.integers(0, 2**64, size=n, dtype=np.uint64))
    keys = keys[rng.permutation(len(keys))]
    # Also consecutive small keys, the packed ids of "00001", "00002", ...
    for chosen in (keys, np.arange(len(keys), dtype=np.uint64) + np.uint64(0x3030303030)):
        table = _HashTable(chosen)
        assert not table.clash
        absent = rng.integers(0, 2**64, size=200, dtype=np.uint64)
        queries = np.concatenate([chosen[rng.permutation(len(chosen))], absent, chosen[:3]])
        row_of = {int(k): r for r, k in enumerate(chosen.tolist())}
        expected = [row_of.get(int(q), -1) for q in queries.tolist()]
        assert table.rows(queries).tolist() == expected


def test_the_hash_table_refuses_equal_keys() -> None:
    keys = np.array([5, 9, 123, 9], dtype=np.uint64)
    assert _HashTable(keys).clash
    many = np.arange(5000, dtype=np.uint64)
    many[4321] = many[17]
    assert _HashTable(many).clash


@pytest.mark.parametrize("prefix", ["", "VIRAT_S_", "x" * 70])
def test_the_index_knows_its_duplicates(prefix: str) -> None:
    ids = [f"{prefix}{i:05d}" for i in range(500)]
    assert not _IdIndex(ids).has_duplicates  # increasing: known without a table
    shuffled = [ids[i] for i in np.random.default_rng(1).permutation(500)]
    assert not _IdIndex(shuffled).has_duplicates
    ids[400] = ids[12]
    assert _IdIndex(ids).has_duplicates
    shuffled[0] = shuffled[499]
    assert _IdIndex(shuffled).has_duplicates


@pytest.mark.parametrize("prefix", ["", "VIRAT_S_", "x" * 70])
def test_lookups_in_the_labels_order_and_in_any_other_agree(prefix: str) -> None:
    ids = [f"{prefix}{i:05d}" for i in np.random.default_rng(2).permutation(400)]
    keys = np.array([i.encode() for i in ids])
    for queries in (keys, keys[::-1], keys[:-1], np.concatenate([keys[:5], keys[:5]])):
        rows, known = _IdIndex(ids).lookup(queries)
        assert known.all()
        assert [ids[r] for r in rows.tolist()] == [q.decode() for q in queries.tolist()]
    other = keys.copy()
    other[7] = b"nope"
    rows, known = _IdIndex(ids).lookup(other)
    assert np.flatnonzero(~known).tolist() == [7]
    assert np.array_equal(rows[known], np.flatnonzero(known))


@pytest.mark.parametrize("prefix", ["", "VIRAT_S_"])
def test_submission_problems_are_worded_alike_for_short_and_long_ids(prefix: str) -> None:
    ids = [f"{prefix}{i:05d}" for i in range(30)]
    labels = recognition.RecognitionLabels(
        class_names=CLASSES, ids=np.array(ids), Y=np.zeros((30, len(CLASSES)), np.uint8)
    )
    zeros = " ".join("0" * len(CLASSES))
    lines = [f"{cid} {zeros}" for cid in ids]
    lines[3] = lines[5]  # a repeat, and so one missing
    lines[8] = f"{prefix}99999 {zeros}"  # unknown
    with pytest.raises(SubmissionInvalid) as exc:
        recognition.validate(labels, ("\n".join(lines) + "\n").encode())
    assert exc.value.errors == [
        f"line 6: clip id '{prefix}00005' already given on line 4",
        f"line 9: unknown clip id '{prefix}99999'",
        f"2 clip ids missing: {prefix}00003, {prefix}00008",
    ]


# --- the metrics' counts ----------------------------------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 254, 255, 256, 510, 511, 2000])
@pytest.mark.parametrize("c", [0, 1, 26, 300])
def test_blocked_counts_equal_plain_sums(n: int, c: int) -> None:
    m = np.random.default_rng(n + c).random((n, c)) < 0.9
    assert np.array_equal(recognition._column_sums(m), m.sum(axis=0, dtype=np.int64))
    assert np.array_equal(recognition._row_sums(m), m.sum(axis=1, dtype=np.int64))
    ones = np.ones((n, c), dtype=bool)  # the most a uint8 block could hold
    assert recognition._column_sums(ones).tolist() == [n] * c
    assert recognition._row_sums(ones).tolist() == [c] * n


@pytest.mark.parametrize(
    "variant",
    [
        "escaped split key",  # "spl\u0069t" is the key "split"
        "split only as a value",
        "escape elsewhere, no split",
    ],
)
def test_the_split_is_found_however_its_key_is_written(variant: str) -> None:
    records = _records(ID_SETS["long"][:30], split=variant == "escaped split key")
    text = json.dumps(records)
    if variant == "escaped split key":
        text = text.replace('"split"', '"spl\\u0069t"')
        assert '"split"' not in text
    elif variant == "split only as a value":
        text = text.replace('"dim"', '"note": "split", "dim"')
    else:
        text = text.replace('"dim"', '"note": "caf\\u00e9", "dim"')
    data = text.encode()
    plain = recognition._plain_labels(data, CLASSES)
    assert plain is not None
    careful = _careful(data)
    _same(plain, careful)
    assert (careful.split is not None) == (variant == "escaped split key")


def test_the_fast_reader_knows_the_splits_by_their_codes() -> None:
    assert tuple(m.value for m in recognition._Split) == SPLITS
    assert recognition._Split.PUBLIC.value == SPLITS[PUBLIC]
    assert recognition._Split.PRIVATE.value == SPLITS[PRIVATE]
