"""``tinyactions``: the participants' command-line client for the evaluation server.

Uses only the public REST API (CONTRACT section 3) and the standard library, so it
runs anywhere the project is installed, without Django settings or a database::

    tinyactions token --username alice                # prints your API token
    export TINYACTIONS_TOKEN=...
    tinyactions challenges                            # phases and their ids
    tinyactions submit --phase 3 answer.txt --wait --public-list tiny_test_v2_public.json
    tinyactions status 42
    tinyactions leaderboard --phase 3

Exit codes: 0 done (scored, listed), 1 the server refused or the scoring failed,
2 a problem found before sending anything (bad arguments, local format check),
3 gave up waiting for the scorer.
"""

from __future__ import annotations

import argparse
import getpass
import gzip
import json
import mimetypes
import os
import secrets
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from pathlib import Path
from typing import Any, TextIO

DEFAULT_SERVER = "http://127.0.0.1:8000"
DONE = {"finished", "failed", "cancelled"}
EXIT_OK, EXIT_REFUSED, EXIT_LOCAL, EXIT_TIMEOUT = 0, 1, 2, 3
# The scorer needs a moment; polling faster only loads the server.
MIN_POLL_SECONDS = 0.2
HTTP_TIMEOUT_SECONDS = 60


class ApiError(Exception):
    """The server answered with a refusal (its JSON ``detail``) or could not be reached."""

    def __init__(self, message: str, status: int | None = None, errors: Any = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.errors = errors


class LocalCheckFailed(Exception):
    def __init__(self, problems: list[str]):
        super().__init__(f"{len(problems)} problem(s)")
        self.problems = problems


class Client:
    def __init__(self, server: str, token: str | None = None):
        self.server = server.rstrip("/")
        self.token = token

    def _request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        content_type: str | None = None,
        auth: bool = True,
    ) -> Any:
        url = self.server + path
        if not url.startswith(("http://", "https://")):
            raise ApiError(f"--server must be an http:// or https:// URL, not {self.server!r}")
        headers = {
            "Accept": "application/json",
            # The leaderboard of a big phase is ~7x smaller gzipped (4.2 MB to 582 KiB at
            # 1,000 teams); the server compresses only what it may (no secrets in it).
            "Accept-Encoding": "gzip",
            "User-Agent": "tinyactions-client",
        }
        if content_type:
            headers["Content-Type"] = content_type
        if auth:
            if not self.token:
                raise ApiError(
                    "This needs your API token: pass --token or set TINYACTIONS_TOKEN "
                    "(get one with `tinyactions token --username NAME`)."
                )
            headers["Authorization"] = f"Token {self.token}"
        request = urllib.request.Request(url, data=body, headers=headers, method=method)  # noqa: S310 - scheme checked above
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as response:  # noqa: S310
                raw = _decoded(response.read(), response.headers)
        except urllib.error.HTTPError as exc:
            raise _api_error(exc) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ApiError(f"Could not reach {self.server}: {reason}") from None
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise ApiError(f"The server at {self.server} did not answer with JSON.") from None

    def get(self, path: str, *, auth: bool = True) -> Any:
        return self._request("GET", path, auth=auth)

    def post_json(self, path: str, data: dict, *, auth: bool = True) -> Any:
        return self._request(
            "POST",
            path,
            body=json.dumps(data).encode(),
            content_type="application/json",
            auth=auth,
        )

    def post_multipart(self, path: str, fields: dict[str, str], file_field: str, file: Path):
        boundary = "tinyactions-" + secrets.token_hex(16)
        parts: list[bytes] = []
        for name, value in fields.items():
            parts.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
                + value.encode()
                + b"\r\n"
            )
        mime = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        filename = file.name.replace('"', "_").replace("\r", "_").replace("\n", "_")
        parts.append(
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; '
                f'filename="{filename}"\r\nContent-Type: {mime}\r\n\r\n'
            ).encode()
            + file.read_bytes()
            + b"\r\n"
        )
        parts.append(f"--{boundary}--\r\n".encode())
        return self._request(
            "POST",
            path,
            body=b"".join(parts),
            content_type=f"multipart/form-data; boundary={boundary}",
        )

    # --- The API -------------------------------------------------------------------------

    def obtain_token(self, username: str, password: str) -> str:
        data = self.post_json(
            "/api/v1/auth/token/", {"username": username, "password": password}, auth=False
        )
        return data["token"]

    def challenges(self) -> list[dict]:
        return list(self._pages("/api/v1/challenges/", auth=False))

    def phase(self, phase_id: int) -> tuple[dict, dict]:
        """The phase and its challenge, from the public challenge list."""
        for challenge in self.challenges():
            for phase in challenge["phases"]:
                if phase["id"] == phase_id:
                    return phase, challenge
        raise ApiError(f"No phase {phase_id}; `tinyactions challenges` lists them.", 404)

    def submit(
        self, phase_id: int, file: Path, *, method_name: str = "", description: str = ""
    ) -> dict:
        fields = {}
        if method_name:
            fields["method_name"] = method_name
        if description:
            fields["description"] = description
        return self.post_multipart(f"/api/v1/phases/{phase_id}/submissions/", fields, "file", file)

    def validate(self, phase_id: int, file: Path) -> dict:
        return self.post_multipart(f"/api/v1/phases/{phase_id}/validate/", {}, "file", file)

    def submission(self, submission_id: int) -> dict:
        return self.get(f"/api/v1/submissions/{submission_id}/")

    def wait(
        self, submission_id: int, *, timeout: float, interval: float, out: TextIO | None = None
    ) -> dict:
        deadline = time.monotonic() + timeout
        interval = max(interval, MIN_POLL_SECONDS)
        last_status = None
        while True:
            submission = self.submission(submission_id)
            if out is not None and submission["status"] != last_status:
                print(f"submission {submission_id}: {submission['status']}", file=out)
                last_status = submission["status"]
            if submission["status"] in DONE or time.monotonic() >= deadline:
                return submission
            time.sleep(interval)

    def leaderboard(self, phase_id: int) -> dict:
        # Public leaderboards need no token; send it when we have one (private phases).
        return self.get(f"/api/v1/phases/{phase_id}/leaderboard/", auth=bool(self.token))

    def _pages(self, path: str, *, auth: bool):
        while path:
            page = self.get(path, auth=auth)
            if isinstance(page, list):
                yield from page
                return
            yield from page["results"]
            following = page.get("next")
            path = (
                urllib.parse.urlsplit(following)._replace(scheme="", netloc="").geturl()
                if following
                else ""
            )


def _decoded(raw: bytes, headers) -> bytes:
    """The body as the server meant it: urllib leaves a gzip body compressed."""
    encoding = (headers.get("Content-Encoding") or "").strip().lower() if headers else ""
    if encoding not in ("gzip", "x-gzip"):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error):
        raise ApiError("The server sent a gzip body that does not decompress.") from None


def _api_error(exc: urllib.error.HTTPError) -> ApiError:
    try:
        data = json.loads(_decoded(exc.read(), exc.headers) or b"{}")
    except (ValueError, ApiError):
        data = {}
    detail = data.get("detail") if isinstance(data, dict) else None
    message = str(detail) if detail else f"HTTP {exc.code} {exc.reason}"
    retry_after = exc.headers.get("Retry-After") if exc.headers else None
    if exc.code == 429 and retry_after:
        message += f" (retry after {retry_after} s)"
    return ApiError(message, exc.code, data.get("errors") if isinstance(data, dict) else None)


# --- Local format check ------------------------------------------------------------------


def check_locally(file: Path, public_list: Path, n_classes: int) -> list[str]:
    """Problems the server would find in ``file`` that the public clip list can reveal."""
    # Imported here: numpy is only needed when a clip list is given.
    from evalserver.scoring.errors import ScoringError
    from evalserver.scoring.recognition import check_format, load_clip_ids

    try:
        clip_ids = load_clip_ids(public_list.read_bytes())
    except ScoringError as exc:
        raise LocalCheckFailed([f"{public_list}: {e}" for e in exc.errors]) from None
    with file.open("rb") as fh:
        return check_format(fh, clip_ids, n_classes)


def convert_2022(zip_path: Path, labels_path: Path, out_path: Path, class_map: Path | None):
    """The 2022 layout (a zip of <clip_id>/pred.pkl) as the detection CSV; returns warnings.

    Reads with the server's own reader (safe unpickling, the same checks and order), so
    the CSV scores exactly like the zip. Raises LocalCheckFailed listing the problems.
    """
    try:
        import numpy  # noqa: F401
    except ImportError:
        raise LocalCheckFailed(
            ["convert-2022 needs numpy to read the pickles: pip install numpy"]
        ) from None
    import json

    from evalserver.scoring import detection_2022
    from evalserver.scoring.classes import TINYVIRAT_V2_CLASSES, parse_class_map
    from evalserver.scoring.errors import ScoringError

    try:
        class_names = (
            parse_class_map(class_map.read_bytes()) if class_map else list(TINYVIRAT_V2_CLASSES)
        )
    except ScoringError as exc:
        raise LocalCheckFailed([f"{class_map}: {e}" for e in exc.errors]) from None
    try:
        records = json.loads(labels_path.read_bytes().decode("utf-8-sig"))
        if not isinstance(records, list):
            raise ValueError("expected a JSON list of clip records")
        clips = detection_2022.public_clips(records, class_names)
    except (ValueError, UnicodeDecodeError) as exc:
        raise LocalCheckFailed([f"{labels_path}: {exc}"]) from None
    try:
        with zip_path.open("rb") as fh:
            read = detection_2022.read_zip(fh, clips, max_bytes=8 << 30)
    except ScoringError as exc:
        raise LocalCheckFailed([f"{zip_path}: {e}" for e in exc.errors]) from None
    with out_path.open("w", encoding="utf-8", newline="") as out:
        detection_2022.write_csv(read.rows, clips, out)
    return read.warnings


# --- Output ------------------------------------------------------------------------------


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "-" if value is None else str(value)


def print_submission(submission: dict, out: TextIO) -> None:
    print(
        f"submission {submission['id']} ({submission.get('team', '?')}): {submission['status']}",
        file=out,
    )
    scores = submission.get("scores")
    if submission["status"] == "finished" and scores:
        primary = scores.get("primary_metric")
        if primary:
            print(f"  {primary}: {_fmt(scores.get(primary))}  (ranking metric)", file=out)
        for key, value in scores.items():
            if (
                key == primary
                or isinstance(value, list | dict)
                or key in {"primary_metric", "track"}
            ):
                continue
            print(f"  {key}: {_fmt(value)}", file=out)
        per_class = scores.get("per_class") or []
        if per_class:
            metrics = [k for k in per_class[0] if k not in {"class_id", "name"}]
            print("  per class:", file=out)
            print(
                "    " + "  ".join(["id", f"{'name':<28}", *[f"{m:>9}" for m in metrics]]), file=out
            )
            for row in per_class:
                cells = [f"{row.get('class_id', ''):>2}", f"{row.get('name', ''):<28}"]
                cells += [f"{_fmt(row.get(m)):>9}" for m in metrics]
                print("    " + "  ".join(cells), file=out)
    for error in submission.get("errors") or []:
        print(f"  error: {error}", file=out)


def _rank(entry: dict) -> str:
    # Baselines have no rank, nor has the caller's own row on a private phase's board.
    rank = entry.get("rank")
    if rank is not None:
        return str(rank)
    return "base" if entry.get("is_baseline") else "-"


def print_leaderboard(board: dict, out: TextIO) -> None:
    entries = board.get("entries") or []
    if not entries:
        print(board.get("detail") or "No entries yet.", file=out)
        return
    if board.get("detail"):
        print(board["detail"], file=out)
    metric = board.get("primary_metric")
    print(f"{'rank':>4}  {'team':<30}  {metric or 'score':>10}  submission  submitted at", file=out)
    for entry in entries:
        scores = entry.get("scores") or {}
        value = scores.get(metric) if metric else scores.get(scores.get("primary_metric", ""))
        print(
            f"{_rank(entry):>4}  {_fmt(entry.get('team')):<30}  {_fmt(value):>10}  "
            f"{_fmt(entry.get('submission_id')):>10}  {_fmt(entry.get('submitted_at'))}",
            file=out,
        )


# --- Commands ----------------------------------------------------------------------------


def _cmd_token(client: Client, args, out: TextIO, err: TextIO) -> int:
    password = os.environ.get("TINYACTIONS_PASSWORD") or getpass.getpass("Password: ")
    print(client.obtain_token(args.username, password), file=out)
    return EXIT_OK


def _cmd_challenges(client: Client, args, out: TextIO, err: TextIO) -> int:
    challenges = client.challenges()
    if args.json:
        print(json.dumps(challenges, indent=2), file=out)
        return EXIT_OK
    for challenge in challenges:
        print(f"{challenge['slug']}: {challenge['title']}", file=out)
        for phase in challenge["phases"]:
            state = "open" if phase["is_open"] else "closed"
            print(
                f"  phase {phase['id']:>4}  {phase['slug']:<20} {phase['track']:<15} {state:<7}"
                f" {phase['starts_at']} .. {phase['ends_at']}",
                file=out,
            )
    return EXIT_OK


def _cmd_submit(client: Client, args, out: TextIO, err: TextIO) -> int:
    file = Path(args.file)
    if not file.is_file():
        print(f"error: {file} is not a file", file=err)
        return EXIT_LOCAL
    if args.public_list:
        public_list = Path(args.public_list)
        if not public_list.is_file():
            print(f"error: {public_list} is not a file", file=err)
            return EXIT_LOCAL
        phase, challenge = client.phase(args.phase)
        if phase["track"] != "classification":
            print(
                f"note: the local check covers the classification track only; phase "
                f"{args.phase} is {phase['track']}, sending without it.",
                file=err,
            )
        else:
            try:
                problems = check_locally(file, public_list, challenge["n_classes"])
            except LocalCheckFailed as exc:
                problems = exc.problems
            if problems:
                print(f"{file} would be refused; nothing was sent:", file=err)
                for problem in problems:
                    print(f"  {problem}", file=err)
                return EXIT_LOCAL
            print(f"{file}: format checked against {public_list.name}", file=out)
    submission = client.submit(
        args.phase, file, method_name=args.method_name or "", description=args.description or ""
    )
    print(f"submission {submission['id']}: {submission['status']}", file=out)
    if not args.wait:
        return EXIT_OK
    return _finish(client, submission["id"], args, out, err)


def _cmd_validate(client: Client, args, out: TextIO, err: TextIO) -> int:
    file = Path(args.file)
    if not file.is_file():
        print(f"error: {file} is not a file", file=err)
        return EXIT_LOCAL
    result = client.validate(args.phase, file)
    if args.json:
        print(json.dumps(result, indent=2), file=out)
    elif result["valid"]:
        print(
            f"{file}: valid for phase {args.phase} ({result['n_items']} clips); "
            "nothing was stored and no submission was used",
            file=out,
        )
    else:
        print(f"{file} would be refused by phase {args.phase}:", file=out)
        for problem in result["errors"]:
            print(f"  {problem}", file=out)
    return EXIT_OK if result["valid"] else EXIT_REFUSED


def _finish(client: Client, submission_id: int, args, out: TextIO, err: TextIO) -> int:
    submission = client.wait(
        submission_id, timeout=args.timeout, interval=args.poll_interval, out=err
    )
    if args.json:
        print(json.dumps(submission, indent=2), file=out)
    else:
        print_submission(submission, out)
    if submission["status"] not in DONE:
        print(
            f"gave up waiting after {args.timeout:g} s; `tinyactions status {submission_id} "
            "--wait` picks up from here.",
            file=err,
        )
        return EXIT_TIMEOUT
    return EXIT_OK if submission["status"] == "finished" else EXIT_REFUSED


def _cmd_status(client: Client, args, out: TextIO, err: TextIO) -> int:
    if args.wait:
        return _finish(client, args.submission_id, args, out, err)
    submission = client.submission(args.submission_id)
    if args.json:
        print(json.dumps(submission, indent=2), file=out)
    else:
        print_submission(submission, out)
    return EXIT_REFUSED if submission["status"] in {"failed", "cancelled"} else EXIT_OK


def _cmd_leaderboard(client: Client, args, out: TextIO, err: TextIO) -> int:
    board = client.leaderboard(args.phase)
    if args.json:
        print(json.dumps(board, indent=2), file=out)
    else:
        print_leaderboard(board, out)
    return EXIT_OK


def _cmd_convert_2022(client: Client, args, out: TextIO, err: TextIO) -> int:
    try:
        warnings = convert_2022(
            Path(args.zip),
            Path(args.labels),
            Path(args.output),
            args.class_map and Path(args.class_map),
        )
    except LocalCheckFailed as exc:
        for problem in exc.problems:
            print(problem, file=err)
        return EXIT_LOCAL
    except OSError as exc:
        print(f"error: {exc}", file=err)
        return EXIT_LOCAL
    for warning in warnings:
        print(f"warning: {warning}", file=err)
    print(f"wrote {args.output}", file=out)
    return EXIT_OK


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--server",
        default=os.environ.get("TINYACTIONS_SERVER", DEFAULT_SERVER),
        help=f"the server's URL (env TINYACTIONS_SERVER; default {DEFAULT_SERVER})",
    )
    common.add_argument(
        "--token",
        default=os.environ.get("TINYACTIONS_TOKEN"),
        help="your API token (env TINYACTIONS_TOKEN)",
    )
    common.add_argument("--json", action="store_true", help="print the server's JSON")

    waiting = argparse.ArgumentParser(add_help=False)
    waiting.add_argument(
        "--timeout", type=_positive, default=600.0, help="seconds to wait (default 600)"
    )
    waiting.add_argument(
        "--poll-interval", type=_positive, default=2.0, help="seconds between checks"
    )

    parser = argparse.ArgumentParser(
        prog="tinyactions",
        description="Submit predictions to a TinyActions evaluation server and read scores.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    token = commands.add_parser(
        "token",
        parents=[common],
        help="print your API token (asks for the password, or env TINYACTIONS_PASSWORD)",
    )
    token.add_argument("--username", required=True)
    token.set_defaults(handler=_cmd_token)

    challenges = commands.add_parser(
        "challenges", parents=[common], help="list challenges and their phase ids"
    )
    challenges.set_defaults(handler=_cmd_challenges)

    submit = commands.add_parser(
        "submit", parents=[common, waiting], help="upload a prediction file to a phase"
    )
    submit.add_argument("--phase", type=int, required=True, help="the phase id")
    submit.add_argument("file", help="answer.txt (plain, .gz or .zip) or detections CSV")
    submit.add_argument("--wait", action="store_true", help="wait for the score and print it")
    submit.add_argument(
        "--public-list",
        help="the public clip list (e.g. tiny_test_v2_public.json): check the file "
        "locally first and send nothing if it would be refused",
    )
    submit.add_argument("--method-name", default="")
    submit.add_argument("--description", default="")
    submit.set_defaults(handler=_cmd_submit)

    validate = commands.add_parser(
        "validate",
        parents=[common],
        help="check a file against a phase on the server, without submitting it "
        "(no quota used, nothing stored)",
    )
    validate.add_argument("--phase", type=int, required=True, help="the phase id")
    validate.add_argument("file", help="answer.txt (plain, .gz or .zip) or detections CSV")
    validate.set_defaults(handler=_cmd_validate)

    status = commands.add_parser(
        "status", parents=[common, waiting], help="show a submission's status and scores"
    )
    status.add_argument("submission_id", type=int)
    status.add_argument("--wait", action="store_true", help="wait until it is scored")
    status.set_defaults(handler=_cmd_status)

    leaderboard = commands.add_parser(
        "leaderboard", parents=[common], help="show a phase's leaderboard"
    )
    leaderboard.add_argument("--phase", type=int, required=True)
    leaderboard.set_defaults(handler=_cmd_leaderboard)

    convert = commands.add_parser(
        "convert-2022",
        help="turn a TinyActions 2022 detection zip (<clip_id>/pred.pkl files) into the CSV",
    )
    convert.add_argument(
        "--labels", required=True, help="the public clip list with each clip's dim"
    )
    convert.add_argument("zip", help="the zip of <clip_id>/pred.pkl files")
    convert.add_argument("-o", "--output", required=True, help="the CSV to write")
    convert.add_argument(
        "--class-map", help="class_map.json (name -> id); default: the 26 TinyVIRAT-v2 classes"
    )
    convert.set_defaults(handler=_cmd_convert_2022, server=DEFAULT_SERVER, token=None)
    return parser


def main(argv: list[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None):
    out = out or sys.stdout
    err = err or sys.stderr
    args = build_parser().parse_args(argv)
    client = Client(args.server, args.token)
    try:
        return args.handler(client, args, out, err)
    except ApiError as exc:
        where = f" (HTTP {exc.status})" if exc.status else ""
        print(f"error: {exc.message}{where}", file=err)
        if isinstance(exc.errors, dict):
            for field, problems in exc.errors.items():
                listed = problems if isinstance(problems, list) else [problems]
                for problem in listed:
                    print(f"  {field}: {problem}", file=err)
        return EXIT_REFUSED
    except KeyboardInterrupt:
        print("interrupted", file=err)
        return 130


if __name__ == "__main__":
    sys.exit(main())
