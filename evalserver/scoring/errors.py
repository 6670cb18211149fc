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
