"""Class maps: the ordered list of class names a phase is scored over."""

import json

from .errors import LabelsInvalid

# TinyVIRAT-v2 ``class_map.json``, in class-id order. A challenge may ship its own map.
TINYVIRAT_V2_CLASSES: tuple[str, ...] = (
    "Opening",
    "Interacts",
    "Pull",
    "activity_carrying",
    "Entering",
    "vehicle_moving",
    "Exiting",
    "Loading",
    "Talking",
    "activity_running",
    "vehicle_turning_left",
    "vehicle_stopping",
    "Riding",
    "Closing",
    "activity_walking",
    "Push",
    "specialized_using_tool",
    "vehicle_starting",
    "specialized_miscellaneous",
    "activity_standing",
    "Transport_HeavyCarry",
    "activity_gesturing",
    "vehicle_turning_right",
    "specialized_talking_phone",
    "specialized_texting_phone",
    "Misc",
)


def parse_class_map(data: bytes) -> list[str]:
    """Read a ``class_map.json`` (name -> id) into names ordered by id.

    Ids must be exactly 0..C-1 with no gaps or repeats, so that column c of a
    submission always means the same class.
    """
    try:
        obj = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LabelsInvalid([f"class map is not valid JSON: {exc}"]) from None
    if not isinstance(obj, dict) or not obj:
        raise LabelsInvalid(["class map must be a non-empty JSON object mapping name to id"])
    problems = []
    by_id: dict[int, str] = {}
    for name, idx in obj.items():
        if not isinstance(idx, int) or isinstance(idx, bool) or idx < 0:
            problems.append(f"class {name!r}: id {idx!r} is not a non-negative integer")
        elif idx in by_id:
            problems.append(f"class {name!r}: id {idx} is already used by {by_id[idx]!r}")
        else:
            by_id[idx] = name
    if not problems:
        missing = sorted(set(range(len(obj))) - set(by_id))
        if missing:
            problems.append(f"class ids must run 0..{len(obj) - 1}; missing {missing[:10]}")
    if problems:
        raise LabelsInvalid(problems)
    return [by_id[i] for i in range(len(by_id))]
