"""Errors raised by the scoring library.

The library knows nothing of Django; callers (the ``score`` command, the worker)
turn these into an exit code or a failed submission.
"""


class ScoringError(Exception):
    """A file could not be scored; ``errors`` lists every problem for a person to read."""

    def __init__(self, errors: list[str]):
        self.errors = list(errors)
        super().__init__("; ".join(self.errors[:3]))


class SubmissionInvalid(ScoringError):
    """The participant's file is malformed or does not match the hidden labels."""


class SubmissionTooLarge(SubmissionInvalid):
    """The submission's content, counted after decompression, is over the byte cap.

    A subclass so callers can add advice about the cap without matching on wording.
    """


class LabelsInvalid(ScoringError):
    """The organizer's label file (or class map) is malformed."""


PUBLIC_LIST_MESSAGE = (
    "this file has no labels: it looks like the public clip list (no record has 'label' "
    "or 'tubes'); give the file with the hidden ground truth"
)


def refuse_public_list(records: list) -> None:
    """One message, not one per record, for a label file whose records carry no labels.

    The public test list (``tiny_test_v2_public.json``) is the hidden file without
    ``label``; given where labels are expected, fifty "has no 'label'" lines would hide
    what happened.
    """
    objects = [r for r in records if isinstance(r, dict)]
    if objects and not any("label" in r or "tubes" in r for r in objects):
        raise LabelsInvalid([PUBLIC_LIST_MESSAGE])
