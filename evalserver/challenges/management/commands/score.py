"""``python manage.py score``: score one submission offline (CONTRACT section 1).

The same scoring library runs inside the worker; this is its other front door. It
needs no database, broker or server: it reads three files and prints the result.

Exit status:

- 0: the submission is valid; stdout holds exactly one JSON object, the scores.
- 2: the submission is invalid; stdout is empty, stderr lists the problems one per
  line (the library caps the list and ends it with the count of the rest).
- 1: anything else: a missing or unreadable file, invalid labels or class map, or a
  usage error. So 2 always means "read, and found wrong", never "could not start".
"""

from __future__ import annotations

import json
import os
import stat
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from django.core.management.base import (
    BaseCommand,
    CommandError,
    CommandParser,
    handle_default_options,
)

from evalserver import scoring
from evalserver.scoring.classes import TINYVIRAT_V2_CLASSES, parse_class_map
from evalserver.scoring.errors import LabelsInvalid, SubmissionInvalid

# evalserver.scoring.detection.PROTOCOLS (a test keeps them equal).
DETECTION_PROTOCOLS = ("voc", "act")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INVALID_SUBMISSION = 2


class _Stop(Exception):
    """Abort with a message for stderr and an exit status."""

    def __init__(self, lines: list[str], status: int = EXIT_FAILED) -> None:
        super().__init__(lines[0] if lines else "")
        self.lines = lines
        self.status = status


@contextmanager
def _reading(path: Path, what: str) -> Iterator[None]:
    """Turn a failure to open or read ``path`` into a one-line message and exit 1."""
    try:
        yield
    except FileNotFoundError:
        raise _Stop([f"{what} not found: {path}"]) from None
    except IsADirectoryError:
        raise _Stop([f"{what} is a directory, not a file: {path}"]) from None
    except OSError as exc:
        raise _Stop([f"cannot read {what} {path}: {exc.strerror or exc}"]) from None


def _read(path: Path, what: str) -> bytes:
    with _reading(path, what):
        return path.read_bytes()


class Command(BaseCommand):
    help = (
        "Score a submission against a ground-truth file, offline. Prints the score JSON "
        "on stdout (exit 0); an invalid submission exits 2 with its problems on stderr; "
        "any other failure (missing file, bad labels or class map, bad usage) exits 1."
    )
    # Nothing here uses the database or the app registry's checks; skip them so the
    # command works on a bare checkout with no database at all.
    requires_system_checks: list[str] = []
    requires_migrations_checks = False

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        argparse_exit = parser.exit

        def exit_keeping_2_for_invalid_submissions(status: int = 0, message: str | None = None):
            # argparse exits 2 on a usage error; here 2 means an invalid submission.
            argparse_exit(EXIT_FAILED if status == 2 else status, message)

        parser.exit = exit_keeping_2_for_invalid_submissions  # type: ignore[method-assign]
        return parser

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--track", required=True, choices=scoring.TRACKS)
        parser.add_argument(
            "--labels", required=True, type=Path, help="ground truth JSON (e.g. tiny_val_v2.json)"
        )
        parser.add_argument(
            "--submission",
            required=True,
            type=Path,
            help="answer.txt or dets.csv: plain, gzip, or the only file in a zip",
        )
        parser.add_argument(
            "--class-map",
            type=Path,
            default=None,
            help="class_map.json (name -> id); default: the 26 TinyVIRAT-v2 classes",
        )
        parser.add_argument(
            "--protocol",
            # Literal, not imported: the detection module pulls numpy in at start-up.
            choices=DETECTION_PROTOCOLS,
            default=None,
            help=(
                "detection only: the evaluation conventions, voc (default) or act "
                "(those of the ACT evaluation code; see the README)"
            ),
        )
        parser.add_argument(
            "--bootstrap",
            type=int,
            default=0,
            metavar="B",
            help="add ci_low/ci_high: the 95%% percentile interval of the primary metric over "
            "B resamples of the clips (the server uses 1000); default 0: none",
        )
        parser.add_argument(
            "--seed",
            default="0",
            metavar="S",
            help="the resamples' seed: an integer, or CHALLENGE/PHASE for the seed the server "
            "uses for that phase (so the interval matches the board's); default 0",
        )
        parser.add_argument(
            "--max-bytes",
            type=int,
            default=None,
            help="largest accepted submission once decompressed; default: the track's limit",
        )

    def run_from_argv(self, argv: list[str]) -> None:
        """BaseCommand's, less its closing of database connections at the end: this
        command opens none, and looking for them imports the project's settings (a
        tenth of the command's start-up)."""
        self._called_from_command_line = True
        parser = self.create_parser(argv[0], argv[1])
        options = parser.parse_args(argv[2:])
        cmd_options = vars(options)
        args = cmd_options.pop("args", ())
        handle_default_options(options)
        try:
            self.execute(*args, **cmd_options)
        except CommandError as exc:
            if options.traceback:
                raise
            self.stderr.write(f"{exc.__class__.__name__}: {exc}")
            sys.exit(exc.returncode)

    def execute(self, *args: Any, **options: Any) -> str | None:
        # Django prints "CommandError: " before messages and always exits 1; the exit
        # status matters to scripts here, so failures are written and exited directly.
        try:
            return super().execute(*args, **options)
        except _Stop as stop:
            for line in stop.lines:
                self.stderr.write(line)
            sys.exit(stop.status)

    def handle(self, *args: Any, **options: Any) -> None:
        track: str = options["track"]
        max_bytes: int | None = options["max_bytes"]
        if max_bytes is not None and max_bytes <= 0:
            raise _Stop(["--max-bytes must be a positive number of bytes"])
        protocol: str | None = options["protocol"]
        if protocol is not None and track != "detection":
            raise _Stop(["--protocol applies to --track detection only"])
        replicates: int = options["bootstrap"]
        if not 0 <= replicates <= MAX_REPLICATES:
            raise _Stop([f"--bootstrap must be between 0 and {MAX_REPLICATES}"])
        seed = _seed(options["seed"])
        if track == "detection":
            from evalserver.scoring.detection_arrow import reuse_freed_memory

            # This process only scores: its arrays may keep and reuse what earlier ones freed.
            reuse_freed_memory()

        class_names: list[str] = list(TINYVIRAT_V2_CLASSES)
        if options["class_map"] is not None:
            path = options["class_map"]
            try:
                class_names = parse_class_map(_read(path, "class map"))
            except LabelsInvalid as exc:
                raise _Stop([f"the class map {path} is invalid:", *exc.errors]) from None

        labels_path: Path = options["labels"]
        labels_data = _read(labels_path, "labels file")
        try:
            labels = scoring.load_labels(track, labels_data, class_names)
        except LabelsInvalid as exc:
            raise _Stop([f"the labels file {labels_path} is invalid:", *exc.errors]) from None
        # A million-clip label file is as large as the submission: not kept while scoring.
        del labels_data

        submission_path: Path = options["submission"]
        # Open first so a missing file is a usage failure (1), not an invalid submission.
        _check_readable(submission_path)
        try:
            with submission_path.open("rb") as fh:
                source: bytes | BinaryIO = fh
                limit = max_bytes or scoring.track_module(track).DEFAULT_MAX_BYTES
                info = os.fstat(fh.fileno())
                if (
                    track == "classification"
                    and stat.S_ISREG(info.st_mode)
                    and info.st_size <= limit
                ):
                    # One read into the bytes the parser works on, rather than chunks
                    # joined into a second copy. Larger files and pipes still stream, so
                    # the limit is enforced while reading (and archives unpack as before).
                    source = fh.read()
                evaluation = scoring.evaluate(
                    track,
                    labels,
                    source,
                    max_bytes=max_bytes,
                    protocol=protocol,
                    replicates=replicates,
                    seed=seed,
                )
        except SubmissionInvalid as exc:
            raise _Stop(exc.errors, EXIT_INVALID_SUBMISSION) from None
        except OSError as exc:
            raise _Stop([f"cannot read submission {submission_path}: {exc}"]) from None
        result = _with_interval(evaluation.scores, evaluation.replicates, replicates)
        if evaluation.splits is not None:
            # Labels with a public/private split: each split's scores (organizers' files).
            result["splits"] = {
                name: _with_interval(scores, reps, replicates)
                for name, (scores, reps) in evaluation.splits.items()
            }
        # allow_nan=False: a NaN would make invalid JSON; better to fail loudly.
        self.stdout.write(json.dumps(result, indent=2, allow_nan=False))


MAX_REPLICATES = 100_000


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        if "/" not in text:
            raise _Stop(
                [f"--seed must be an integer or CHALLENGE/PHASE (slugs), not {text!r}"]
            ) from None
        from evalserver.scoring import bootstrap  # numpy: loaded only when asked for

        return bootstrap.phase_seed(text)
    if value < 0:
        raise _Stop(["--seed must not be negative"])
    return value


def _with_interval(scores: dict, reps: Any, replicates: int) -> dict:
    if not replicates:
        return dict(scores)
    from evalserver.scoring import bootstrap

    return {**scores, **bootstrap.interval_fields(reps)}


def _check_readable(path: Path) -> None:
    with _reading(path, "submission"), path.open("rb"):
        pass
