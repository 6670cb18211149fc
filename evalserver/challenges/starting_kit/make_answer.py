#!/usr/bin/env python3
"""TinyActions starting kit: turn per-clip class probabilities into a valid answer.txt.

Usage:
    python make_answer.py --clips tiny_test_v2_public.json --probs probs.json -o answer.txt

--clips   the phase's public clip list (JSON records with "id"), from the challenge page.
--probs   your model's output: JSON {"00000": [p_0, ..., p_25], ...}, one list of class
          probabilities per clip id, in class-id order (class_map.json gives the order).
--threshold  a class is predicted (1) when its probability is at least this (default 0.5).

Every clip of the list gets exactly one line, in the list's order, even the clips your
model skipped (they get all zeros and a warning): a missing clip makes the whole file
invalid. Each line is the clip id as written in the list (keep its leading zeros), then
one 0 or 1 per class, separated by single spaces. Unless --no-top1 is given, a clip with
no class over the threshold gets its most probable class, since every clip shows an action.
Only the Python standard library is needed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def clip_ids(path: Path) -> list[str]:
    records = json.loads(path.read_text(encoding="utf-8"))
    return [str(record["id"]) for record in records]


def answer_lines(
    ids: list[str],
    probs: dict[str, list[float]],
    n_classes: int,
    *,
    threshold: float = 0.5,
    top1: bool = True,
) -> tuple[list[str], list[str]]:
    """The answer.txt lines for ``ids`` and the ids that had no probabilities."""
    lines, skipped = [], []
    for cid in ids:
        p = probs.get(cid)
        if p is None:
            skipped.append(cid)
            p = [0.0] * n_classes
        if len(p) != n_classes:
            raise SystemExit(f"clip {cid}: {len(p)} probabilities, expected {n_classes}")
        values = [1 if v >= threshold else 0 for v in p]
        if top1 and not any(values) and any(v > 0 for v in p):
            values[max(range(n_classes), key=lambda k: p[k])] = 1
        lines.append(cid + " " + " ".join(str(v) for v in values))
    return lines, skipped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=Path, required=True, help="the public clip list (JSON)")
    parser.add_argument("--probs", type=Path, required=True, help="JSON {clip id: [probs]}")
    parser.add_argument("--classes", type=int, default=26, help="number of classes (26)")
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--no-top1", action="store_true", help="allow all-zero lines")
    parser.add_argument("-o", "--output", type=Path, default=Path("answer.txt"))
    args = parser.parse_args(argv)

    ids = clip_ids(args.clips)
    probs = {str(k): v for k, v in json.loads(args.probs.read_text(encoding="utf-8")).items()}
    unknown = sorted(set(probs) - set(ids))
    if unknown:
        print(f"warning: {len(unknown)} ids are not in the clip list, e.g. {unknown[0]}",
              file=sys.stderr)  # fmt: skip
    lines, skipped = answer_lines(
        ids, probs, args.classes, threshold=args.threshold, top1=not args.no_top1
    )
    if skipped:
        print(f"warning: {len(skipped)} clips had no probabilities and get all zeros, "
              f"e.g. {skipped[0]}", file=sys.stderr)  # fmt: skip
    args.output.write_text("\n".join(lines) + "\n", encoding="ascii")
    print(f"wrote {args.output}: {len(lines)} clips x {args.classes} classes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
