"""phase_set_labels and phase_labels: hidden labels in, compact labels out, cached."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings

from evalserver.challenges import selectors
from evalserver.challenges.selectors import PhaseHasNoLabels, phase_labels
from evalserver.challenges.services import phase_set_labels
from evalserver.scoring.errors import LabelsInvalid
from tests.factories import PhaseFactory

pytestmark = pytest.mark.django_db

LABELS = [
    {"id": "00000", "label": ["activity_walking"]},
    {"id": "00001", "label": ["Opening", "Misc"]},
]


def _bytes(records) -> bytes:
    return json.dumps(records).encode()


@pytest.fixture(autouse=True)
def _empty_cache():
    selectors.phase_labels_cache_clear()
    yield
    selectors.phase_labels_cache_clear()


def _stored(name: str) -> Path:
    return Path(settings.LABELS_ROOT) / name


def test_set_labels_stores_raw_and_compact_files_and_the_sha(phase):
    data = _bytes(LABELS)
    phase_set_labels(phase=phase, data=data, filename="tiny_val_v2.json")

    phase.refresh_from_db()
    sha = hashlib.sha256(data).hexdigest()
    assert phase.labels_sha256 == sha
    assert phase.n_items == 2
    assert phase.labels_file.name == f"phase-{phase.pk}/labels-{sha[:12]}.json"
    assert _stored(phase.labels_file.name).read_bytes() == data
    assert phase.labels_compact_file.name.startswith(f"phase-{phase.pk}/labels-")
    assert phase.labels_compact_file.name.endswith(".npz")
    assert _stored(phase.labels_compact_file.name).is_file()


def test_invalid_labels_are_refused_and_nothing_is_stored(phase):
    with pytest.raises(LabelsInvalid) as excinfo:
        phase_set_labels(phase=phase, data=_bytes([{"id": "00000", "label": ["Dancing"]}]))
    assert "unknown class 'Dancing'" in excinfo.value.errors[0]
    phase.refresh_from_db()
    assert phase.labels_sha256 == ""
    assert not Path(settings.LABELS_ROOT).exists() or not any(
        Path(settings.LABELS_ROOT).rglob("*.*")
    )


def test_labels_are_checked_against_the_challenge_classes(phase):
    phase.challenge.class_names = ["walk", "run"]
    phase.challenge.save(update_fields=["class_names"])
    with pytest.raises(LabelsInvalid):
        phase_set_labels(phase=phase, data=_bytes(LABELS))
    phase_set_labels(phase=phase, data=_bytes([{"id": "00000", "label": ["run"]}]))
    assert phase_labels(phase=phase).class_names == ("walk", "run")


def test_setting_the_same_labels_again_is_a_no_op(phase):
    phase_set_labels(phase=phase, data=_bytes(LABELS))
    phase.refresh_from_db()
    before = (phase.labels_file.name, phase.labels_compact_file.name, phase.updated_at)

    phase_set_labels(phase=phase, data=_bytes(LABELS))

    phase.refresh_from_db()
    assert (phase.labels_file.name, phase.labels_compact_file.name, phase.updated_at) == before
    assert len(list(Path(settings.LABELS_ROOT).rglob("*.*"))) == 2


def test_phase_labels_reads_the_compact_form(phase):
    phase_set_labels(phase=phase, data=_bytes(LABELS))
    labels = phase_labels(phase=phase)
    assert labels.ids.tolist() == ["00000", "00001"]
    walking = phase.challenge.class_names.index("activity_walking")
    opening, misc = (phase.challenge.class_names.index(n) for n in ("Opening", "Misc"))
    expected = np.zeros((2, len(phase.challenge.class_names)), dtype=np.uint8)
    expected[0, walking] = expected[1, opening] = expected[1, misc] = 1
    assert np.array_equal(labels.Y, expected)


def test_phase_labels_are_cached_until_the_labels_change(phase, django_capture_on_commit_callbacks):
    phase_set_labels(phase=phase, data=_bytes(LABELS))
    first = phase_labels(phase=phase)
    # Served from memory: the stored file is not read again.
    _stored(phase.labels_compact_file.name).unlink()
    assert phase_labels(phase=phase) is first

    with django_capture_on_commit_callbacks(execute=True):
        phase_set_labels(phase=phase, data=_bytes(LABELS[:1]))
    fresh = phase_labels(phase=phase)
    assert fresh is not first
    assert fresh.n_items == 1


def test_a_phase_without_labels_is_a_clear_error(phase):
    with pytest.raises(PhaseHasNoLabels, match="has no hidden labels yet"):
        phase_labels(phase=phase)


def test_the_cache_is_bounded(challenge):
    for i in range(selectors.LABELS_CACHE_SIZE + 3):
        phase = PhaseFactory(challenge=challenge, slug=f"p{i}")
        phase_set_labels(phase=phase, data=_bytes(LABELS[: 1 + i % 2]))
        phase_labels(phase=phase)
    assert len(selectors._cache) == selectors.LABELS_CACHE_SIZE
