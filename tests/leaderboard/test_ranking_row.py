"""RankingRow.placed is dataclasses.replace of the two fields a patch of the live board
changes, for every field the row has now or gets later."""

from __future__ import annotations

import dataclasses
import datetime as dt

from leaderboard.selectors import RankingRow

# A value for each field, none of them its default, by the field's declared type.
_VALUES = {
    "int | None": 7,
    "int": 11,
    "str": "text",
    "float": 0.625,
    "float | None": 0.125,
    "bool": True,
    "dt.datetime": dt.datetime(2026, 12, 3, 9, 0, tzinfo=dt.UTC),
}


def test_placed_equals_replace_of_rank_and_separability_with_every_field_set():
    fields = dataclasses.fields(RankingRow)
    row = RankingRow(**{f.name: _VALUES[f.type] for f in fields})
    assert all(getattr(row, f.name) != f.default for f in fields)
    for rank, separable in ((3, False), (None, True), (7, True)):
        placed = row.placed(rank=rank, separable_from_next=separable)
        assert placed == dataclasses.replace(row, rank=rank, separable_from_next=separable)
        assert type(placed) is RankingRow
    assert row.rank == 7  # the row itself is not changed
