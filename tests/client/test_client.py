"""The ``tinyactions`` client against a running server (pytest-django's live_server).

The server scores in-process (no broker), exactly as the embedded default does, so
``submit --wait`` goes through upload, queue, scoring and polling for real.
"""

from __future__ import annotations

import email.message
import gzip
import io
import json
import os
import subprocess
import sys
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from sklearn.metrics import f1_score

from evalserver import client
from evalserver.accounts.services import token_get_or_create
from evalserver.challenges.services import phase_set_labels
from submissions import queue
from submissions.models import Submission
from tests.factories import PhaseFactory, SubmissionFactory, TeamFactory, UserFactory
from tests.recognition_data import answer_bytes, answer_txt, clip_ids, labels_json, random_matrix

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
N_CLIPS = 40
IDS = clip_ids(N_CLIPS)
TRUTH = random_matrix(N_CLIPS, seed=1)
PREDICTION = random_matrix(N_CLIPS, seed=2)


def _public_list() -> bytes:
    """The public list of the test clips: the hidden labels' records without the labels."""
    records = json.loads(labels_json(TRUTH))
    for record in records:
        del record["label"]
    return json.dumps(records).encode()


@pytest.fixture
def server(live_server, challenge, alice_team):
    phase = PhaseFactory(challenge=challenge, slug="test", name="Test")
    phase_set_labels(phase=phase, data=labels_json(TRUTH), filename="tiny_test.json")
    yield live_server.url, phase
    # The server scores in its own threads: let them finish before the test database is
    # flushed, or the flush and a scoring transaction can deadlock each other.
    queue.wait_for_in_process_scoring()


@pytest.fixture
def public_list(tmp_path) -> Path:
    path = tmp_path / "tiny_test_v2_public.json"
    path.write_bytes(_public_list())
    return path


def _run(*argv: str, token: str | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    args = list(argv)
    if token:
        args += ["--token", token]
    code = client.main(args, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def _submit_args(url, phase, file, *extra):
    return ("submit", "--server", url, "--phase", str(phase.pk), str(file), *extra)


def test_submit_wait_prints_the_score(server, alice, tmp_path, public_list):
    url, phase = server
    answer = tmp_path / "answer.txt"
    answer.write_bytes(answer_bytes(PREDICTION))
    token = token_get_or_create(user=alice).key

    code, out, err = _run(
        *_submit_args(url, phase, answer, "--wait", "--poll-interval", "0.2", "--timeout", "60"),
        "--public-list",
        str(public_list),
        "--method-name",
        "I3D",
        token=token,
    )

    assert code == 0, err
    expected = f1_score(TRUTH, PREDICTION, average="macro", zero_division=0)
    assert f"macro_f1: {expected:.4f}  (ranking metric)" in out
    assert "format checked against tiny_test_v2_public.json" in out
    assert "Opening" in out  # the per-class table
    submission = Submission.objects.get()
    assert submission.status == Submission.Status.FINISHED
    assert submission.method_name == "I3D"
    assert submission.submitted_by == alice


def test_the_local_check_refuses_a_bad_file_and_sends_nothing(server, alice, tmp_path, public_list):
    url, phase = server
    ids = list(IDS)
    ids[7] = ids[6]  # the baseline writer's duplicate: 00006 twice, 00007 missing
    answer = tmp_path / "answer.txt"
    answer.write_bytes(answer_txt(ids, PREDICTION))

    code, _, err = _run(
        *_submit_args(url, phase, answer, "--public-list", str(public_list)),
        token=token_get_or_create(user=alice).key,
    )

    assert code == 2
    assert "would be refused; nothing was sent" in err
    assert "line 8" in err
    assert "00007" in err
    assert not Submission.objects.exists()


def test_a_file_the_scorer_refuses_prints_its_errors(server, bob, tmp_path):
    url, phase = server
    answer = tmp_path / "answer.txt"
    answer.write_bytes(answer_bytes(PREDICTION[:, :-1]))  # 25 values per line

    code, out, _ = _run(
        *_submit_args(url, phase, answer, "--wait", "--poll-interval", "0.2", "--timeout", "60"),
        token=token_get_or_create(user=bob).key,
    )

    assert code == 1
    assert ": failed" in out
    assert "error: line 1" in out


def test_a_refusal_prints_the_servers_detail(server, charlie, tmp_path):
    url, phase = server
    answer = tmp_path / "answer.txt"
    answer.write_bytes(answer_bytes(PREDICTION))

    code, _, err = _run(
        *_submit_args(url, phase, answer), token=token_get_or_create(user=charlie).key
    )

    assert code == 1
    assert "not in a team" in err
    assert "(HTTP 403)" in err


def test_a_missing_or_wrong_token_is_explained(server, tmp_path, monkeypatch):
    url, phase = server
    monkeypatch.delenv("TINYACTIONS_TOKEN", raising=False)
    answer = tmp_path / "answer.txt"
    answer.write_bytes(b"x")
    code, _, err = _run(*_submit_args(url, phase, answer))
    assert code == 1
    assert "--token" in err
    code, _, err = _run(*_submit_args(url, phase, answer), token="not-a-token")
    assert code == 1
    assert "Invalid token" in err


def test_status_and_leaderboard(server, alice, tmp_path):
    url, phase = server
    token = token_get_or_create(user=alice).key
    answer = tmp_path / "answer.txt"
    answer.write_bytes(answer_bytes(TRUTH))
    code, out, _ = _run(
        *_submit_args(url, phase, answer, "--wait", "--poll-interval", "0.2"), token=token
    )
    assert code == 0
    submission = Submission.objects.get()

    code, out, _ = _run("status", str(submission.pk), "--server", url, token=token)
    assert code == 0
    assert "macro_f1: 1.0000" in out

    code, out, _ = _run("status", str(submission.pk), "--server", url, "--json", token=token)
    assert json.loads(out)["scores"]["macro_f1"] == 1.0

    code, out, _ = _run("leaderboard", "--phase", str(phase.pk), "--server", url)
    assert code == 0
    assert "Alpha" in out
    assert "1.0000" in out


def test_status_of_another_teams_submission_is_not_found(
    server, alice_team, alice, charlie_team, charlie, tmp_path
):
    url, phase = server
    answer = tmp_path / "answer.txt"
    answer.write_bytes(answer_bytes(TRUTH))
    _run(*_submit_args(url, phase, answer), token=token_get_or_create(user=alice).key)
    submission = Submission.objects.get()
    code, _, err = _run(
        "status", str(submission.pk), "--server", url, token=token_get_or_create(user=charlie).key
    )
    assert code == 1
    assert "No such submission" in err
    assert "HTTP 404" in err


def test_token_and_challenges(server, alice, monkeypatch):
    url, phase = server
    monkeypatch.setenv("TINYACTIONS_PASSWORD", "correct horse battery")
    code, out, _ = _run("token", "--username", "alice", "--server", url)
    assert code == 0
    assert out.strip() == token_get_or_create(user=alice).key

    code, out, _ = _run("challenges", "--server", url)
    assert code == 0
    assert f"phase {phase.pk:>4}  test" in out
    assert "open" in out


def test_an_unreachable_server_is_explained(tmp_path):
    code, _, err = _run("challenges", "--server", "http://127.0.0.1:9")
    assert code == 1
    assert "Could not reach http://127.0.0.1:9" in err


def test_the_console_script_is_declared_and_runs(server):
    url, _ = server
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["tinyactions"] == "evalserver.client:main"
    installed = Path(sys.executable).with_name("tinyactions")
    command = (
        [str(installed)] if installed.exists() else [sys.executable, "-m", "evalserver.client"]
    )
    result = subprocess.run(
        [*command, "challenges", "--server", url],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "TINYACTIONS_TOKEN": ""},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "tinyactions-test" in result.stdout


def _finished(phase, team, user, macro_f1: float, **extra) -> Submission:
    scores = {"track": "classification", "primary_metric": "macro_f1", "macro_f1": macro_f1}
    return SubmissionFactory(
        phase=phase,
        team=team,
        submitted_by=user,
        status=Submission.Status.FINISHED,
        scores=scores,
        primary_score=macro_f1,
        **extra,
    )


def test_the_leaderboard_lists_baselines_without_a_rank(server, alice, alice_team, charlie_team):
    url, phase = server
    _finished(phase, alice_team, alice, 0.5)
    organizers = TeamFactory(challenge=phase.challenge, name="Organizers")
    _finished(phase, organizers, UserFactory(username="olga"), 0.75, is_baseline=True)

    code, out, err = _run("leaderboard", "--phase", str(phase.pk), "--server", url)

    assert code == 0, err
    rows = [line.split() for line in out.splitlines()[1:]]
    assert [row[:3] for row in rows] == [["base", "Organizers", "0.7500"], ["1", "Alpha", "0.5000"]]


def test_on_a_private_phase_the_own_row_is_shown_without_a_rank(
    server, alice, alice_team, charlie, charlie_team
):
    url, public = server
    phase = PhaseFactory(
        challenge=public.challenge, slug="private", leaderboard_visibility="private"
    )
    _finished(phase, alice_team, alice, 0.5)
    _finished(phase, charlie_team, charlie, 0.9)

    code, out, err = _run(
        "leaderboard",
        "--phase",
        str(phase.pk),
        "--server",
        url,
        token=token_get_or_create(user=alice).key,
    )

    assert code == 0, err
    lines = out.splitlines()
    assert lines[0]  # the server's `detail`: why only the own row is shown
    assert [line.split()[:3] for line in lines[2:]] == [["-", "Alpha", "0.5000"]]
    assert "Charlie" not in out


def _wire_log(monkeypatch) -> list[tuple[str, str | None, str | None, bytes]]:
    """Record, for each answer the client gets, the URL, the Accept-Encoding it sent, the
    answer's Content-Encoding and its bytes on the wire (the real urlopen still runs)."""
    seen = []
    real_urlopen = urllib.request.urlopen

    def urlopen(request, *args, **kwargs):
        response = real_urlopen(request, *args, **kwargs)
        raw = response.read()
        seen.append(
            (
                request.full_url,
                request.get_header("Accept-encoding"),
                response.headers.get("Content-Encoding"),
                raw,
            )
        )
        # Hand the client the bytes as they came, compressed or not.
        response.read = lambda *a: raw
        return response

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    return seen


def test_every_request_asks_for_gzip_and_the_leaderboard_comes_compressed(
    server, alice, alice_team, charlie, charlie_team, monkeypatch
):
    url, phase = server
    _finished(phase, alice_team, alice, 0.5, method_name="I3D")
    mine = _finished(phase, charlie_team, charlie, 0.9, method_name="TinyNet")
    board_url = f"{url}/api/v1/phases/{phase.pk}/leaderboard/"
    with urllib.request.urlopen(board_url) as response:  # noqa: S310 - the live server
        assert response.headers.get("Content-Encoding") is None
        plain = response.read()
    token = token_get_or_create(user=charlie).key
    seen = _wire_log(monkeypatch)

    board = client.Client(url).leaderboard(phase.pk)
    code, out, err = _run("leaderboard", "--phase", str(phase.pk), "--server", url)
    code_c, out_c, _ = _run("challenges", "--server", url)
    code_s, out_s, _ = _run("status", str(mine.pk), "--server", url, token=token)

    assert board == json.loads(plain)
    assert code == 0, err
    assert [line.split()[:3] for line in out.splitlines()[1:]] == [
        ["1", "Charlie's", "0.9000"],
        ["2", "Alpha", "0.5000"],
    ]
    assert code_c == 0
    assert f"phase {phase.pk:>4}  test" in out_c
    assert code_s == 0
    assert "macro_f1: 0.9000" in out_s
    assert [encoding for _, encoding, _, _ in seen] == ["gzip"] * len(seen)
    boards = [row for row in seen if row[0] == board_url]
    assert len(boards) == 2
    for _, _, content_encoding, wire in boards:
        assert content_encoding == "gzip"
        assert gzip.decompress(wire) == plain
    assert all(row[2] is None for row in seen if row[0] != board_url)


def test_a_gzipped_error_body_is_read_for_its_detail():
    headers = email.message.Message()
    headers["Content-Encoding"] = "gzip"
    headers["Retry-After"] = "30"
    body = gzip.compress(json.dumps({"detail": "Request was throttled."}).encode())
    refusal = urllib.error.HTTPError(
        "http://server/api/v1/challenges/", 429, "Too Many Requests", headers, io.BytesIO(body)
    )
    error = client._api_error(refusal)
    assert (error.status, error.message) == (429, "Request was throttled. (retry after 30 s)")


def test_a_body_that_claims_gzip_but_is_not_is_explained():
    with pytest.raises(client.ApiError, match="gzip body that does not decompress"):
        client._decoded(b'{"detail": "plain"}', {"Content-Encoding": "gzip"})
    truncated = gzip.compress(b'{"entries": []}')[:-6]
    with pytest.raises(client.ApiError, match="gzip body that does not decompress"):
        client._decoded(truncated, {"Content-Encoding": "gzip"})
    assert client._decoded(b"{}", {}) == b"{}"


def test_print_leaderboard_never_trips_on_missing_values():
    board = {
        "primary_metric": "macro_f1",
        "entries": [
            {"rank": None, "team": None, "scores": None, "submission_id": None},
            {"rank": 2, "is_baseline": False, "team": "Beta"},
        ],
    }
    out = io.StringIO()
    client.print_leaderboard(board, out)
    rows = [line.split() for line in out.getvalue().splitlines()[1:]]
    assert rows == [["-", "-", "-", "-", "-"], ["2", "Beta", "-", "-", "-"]]


def test_validate_checks_on_the_server_and_uses_no_submission(server, alice, tmp_path):
    url, phase = server
    token = token_get_or_create(user=alice).key
    good = tmp_path / "answer.txt"
    good.write_bytes(answer_bytes(PREDICTION))
    code, out, err = _run("validate", "--server", url, "--phase", str(phase.pk), str(good),
                          token=token)  # fmt: skip
    assert code == 0, err
    assert f"valid for phase {phase.pk} ({N_CLIPS} clips)" in out

    ids = list(IDS)
    ids[7] = ids[6]
    bad = tmp_path / "bad.txt"
    bad.write_bytes(answer_txt(ids, PREDICTION))
    code, out, _ = _run("validate", "--server", url, "--phase", str(phase.pk), str(bad),
                        token=token)  # fmt: skip
    assert code == 1
    assert "would be refused" in out
    assert "line 8: clip id '00006' already given on line 7" in out
    assert not Submission.objects.exists()
