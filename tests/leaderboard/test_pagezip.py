"""leaderboard.pagezip.segmented: a new version of a body keeps the deflate segments of the
chunks it shares with the previous version, compresses the others, and the gzip made of
them is the body."""

from __future__ import annotations

import gzip
import random
import zlib

from leaderboard import pagezip


def _body(teams: list[str]) -> tuple[bytes, list[tuple[int, int]]]:
    """A JSON-like board of ``teams`` in that order (rank = place), cut into chunks of four
    entries as leaderboard.encoded cuts its own, and each chunk's span."""
    entries = [
        f'{{"rank":{k + 1},"team":"{team}","scores":[{len(team) / 7:.6f}]}}'.encode()
        for k, team in enumerate(teams)
    ]
    data = b",".join(entries)
    spans, at = [], 0
    for k in range(0, len(entries), 4):
        end = at + len(b",".join(entries[k : k + 4])) + (1 if k + 4 < len(entries) else 0)
        spans.append((at, end))
        at = end
    assert at == len(data)
    return data, spans


TEAMS = [f"team-{k}" for k in range(1, 41)]


def _kept(first: pagezip.Segments, second: pagezip.Segments) -> list[bool]:
    return [a is b for a, b in zip(first.deflated, second.deflated, strict=False)]


def test_a_first_version_compresses_every_chunk_and_its_gzip_is_the_body():
    data, spans = _body(TEAMS)
    segments = pagezip.segmented(data, spans, None)
    assert len(segments.deflated) == 10
    assert gzip.decompress(pagezip.gzipped(segments.parts())) == data


def test_only_the_chunk_of_a_changed_entry_is_compressed_anew():
    first = pagezip.segmented(*_body(TEAMS), None)
    # The team at place 30 renamed (longer): chunk 7 changes; the chunks after it have
    # the same bytes at other offsets.
    teams = list(TEAMS)
    teams[29] = "a much longer name"
    data, spans = _body(teams)
    second = pagezip.segmented(data, spans, first)
    assert _kept(first, second) == [True] * 7 + [False] + [True] * 2
    assert gzip.decompress(pagezip.gzipped(second.parts())) == data


def test_a_jump_recompresses_the_chunks_between_its_places():
    first = pagezip.segmented(*_body(TEAMS), None)
    # The team at place 30 jumps to place 10: every place from 10 to 30 holds another
    # team (chunks 2-7, places 9-32); places 1-8 and 33-40 are as they were.
    teams = list(TEAMS)
    teams.insert(9, teams.pop(29))
    data, spans = _body(teams)
    second = pagezip.segmented(data, spans, first)
    assert _kept(first, second) == [True] * 2 + [False] * 6 + [True] * 2
    assert gzip.decompress(pagezip.gzipped(second.parts())) == data


def test_a_board_that_grew_or_shrank_compresses_what_it_does_not_share():
    first = pagezip.segmented(*_body(TEAMS), None)
    data, spans = _body([*TEAMS, "new-team"])
    grown = pagezip.segmented(data, spans, first)
    # The last chunk now ends in a comma before the new eleventh: both compressed.
    assert _kept(first, grown) == [True] * 9 + [False]
    assert len(grown.deflated) == 11
    assert gzip.decompress(pagezip.gzipped(grown.parts())) == data
    data, spans = _body(TEAMS[:6])
    shrunk = pagezip.segmented(data, spans, grown)
    # The second chunk now ends the board (no comma after it): other bytes.
    assert _kept(grown, shrunk) == [True, False]
    assert gzip.decompress(pagezip.gzipped(shrunk.parts())) == data


def test_random_versions_always_decompress_to_their_body():
    rng = random.Random(5)
    previous = None
    for _ in range(30):
        teams = rng.sample(TEAMS, rng.randint(0, len(TEAMS)))
        data, spans = _body(teams)
        previous = pagezip.segmented(data, spans, previous)
        assert gzip.decompress(pagezip.gzipped(previous.parts())) == data


def test_stored_parts_are_not_compressed_and_the_whole_is_one_gzip_member():
    # The viewer's own part (secrets: CSRF token, name) travels stored, byte for byte.
    secret = b"csrf=Zx81Zx81Zx81Zx81 " * 20
    data, spans = _body(TEAMS)
    segments = pagezip.segmented(data, spans, None)
    body = pagezip.gzipped([(secret, None), *segments.parts(), (secret, None)])
    assert secret in body  # not compressed, so its length says nothing about its content
    assert gzip.decompress(body) == secret + data + secret
    # One member whose trailer's CRC-32 and length are those of the whole (zlib's CRC).
    whole = secret + data + secret
    assert body[-8:] == (zlib.crc32(whole)).to_bytes(4, "little") + len(whole).to_bytes(4, "little")
