"""What a participant can get wrong when uploading, through the API and the page: each
gets a clear refusal (a JSON ``detail`` on the API), never a server error."""

import gzip
import io
import stat
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from submissions.models import Submission
from tests.factories import ChallengeFactory, PhaseFactory
from tests.recognition_data import LABELLED_CLIPS, answer_bytes, random_matrix

pytestmark = pytest.mark.django_db


def _url(phase_id) -> str:
    return f"/api/v1/phases/{phase_id}/submissions/"


def _answer(n: int = LABELLED_CLIPS) -> bytes:
    return answer_bytes(random_matrix(n, seed=3))


def _zip(members: dict[str, bytes], *, symlinks: tuple[str, ...] = ()) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name)
            if name in symlinks:
                info.create_system = 3
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, data)
    return out.getvalue()


def _detail(response) -> str:
    body = response.json()
    assert isinstance(body.get("detail"), str), body
    assert body["detail"], body
    return body["detail"]


def test_missing_file_field_is_400_with_detail(alice_api, alice_team, phase_labelled):
    response = alice_api.post(_url(phase_labelled.pk), {"method_name": "x"}, format="multipart")
    assert response.status_code == 400
    assert "file" in _detail(response)
    assert Submission.objects.count() == 0


def test_json_body_is_415_with_detail(alice_api, alice_team, phase_labelled):
    response = alice_api.post(_url(phase_labelled.pk), {"file": "00000 0 1"}, format="json")
    assert response.status_code == 415
    assert "application/json" in _detail(response)


def test_file_sent_as_a_text_field_is_400(alice_api, alice_team, phase_labelled):
    response = alice_api.post(_url(phase_labelled.pk), {"file": "00000 0 0 1"}, format="multipart")
    assert response.status_code == 400
    assert "file" in _detail(response)


def test_too_long_method_name_is_400(alice_api, alice_team, phase_labelled):
    upload = SimpleUploadedFile("answer.txt", _answer())
    response = alice_api.post(
        _url(phase_labelled.pk), {"file": upload, "method_name": "m" * 201}, format="multipart"
    )
    assert response.status_code == 400
    assert "method_name" in response.json()["errors"]


def test_too_long_description_is_400(alice_api, alice_team, phase_labelled):
    upload = SimpleUploadedFile("answer.txt", _answer())
    response = alice_api.post(
        _url(phase_labelled.pk), {"file": upload, "description": "d" * 5001}, format="multipart"
    )
    assert response.status_code == 400
    assert "description" in response.json()["errors"]


def test_unknown_phase_is_404_with_detail(alice_api, alice_team):
    upload = SimpleUploadedFile("answer.txt", _answer())
    response = alice_api.post(_url(999_999), {"file": upload}, format="multipart")
    assert response.status_code == 404
    _detail(response)


def test_phase_of_another_challenge_is_403_not_in_team(alice_api, alice_team):
    other = PhaseFactory(challenge=ChallengeFactory(slug="other"))
    upload = SimpleUploadedFile("answer.txt", _answer())
    response = alice_api.post(_url(other.pk), {"file": upload}, format="multipart")
    assert response.status_code == 403
    assert response.json()["code"] == "not_in_team"


def test_phase_of_an_unpublished_challenge_is_404(alice_api, alice_team):
    hidden = ChallengeFactory(slug="hidden", is_published=False)
    phase = PhaseFactory(challenge=hidden)
    upload = SimpleUploadedFile("answer.txt", _answer())
    response = alice_api.post(_url(phase.pk), {"file": upload}, format="multipart")
    assert response.status_code == 404


def test_path_tricks_in_the_filename_are_kept_out_of_storage(
    alice_api, alice_team, phase_labelled, settings
):
    upload = SimpleUploadedFile("../../../etc/passwd", _answer())
    response = alice_api.post(_url(phase_labelled.pk), {"file": upload}, format="multipart")
    assert response.status_code == 201
    submission = Submission.objects.get()
    assert ".." not in submission.file.name
    assert ".." not in submission.original_filename
    assert submission.file.name.startswith(f"submissions/phase-{phase_labelled.pk}/")


def test_non_utf8_filename_is_a_400_naming_the_file_field(alice, alice_team, phase_labelled):
    # Django's multipart parser drops a part whose filename is not UTF-8; the refusal
    # must still be a JSON 400 about the ``file`` field, not a server error.
    from tests.clients import logged_in

    browser = logged_in(alice)
    boundary = "XyZ"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="'.encode()
        + b"r\xe9ponse\xff.txt"
        + b'"\r\nContent-Type: text/plain\r\n\r\n'
        + _answer()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    response = browser.generic(
        "POST",
        _url(phase_labelled.pk),
        body,
        content_type=f"multipart/form-data; boundary={boundary}",
    )
    assert response.status_code == 400
    assert "file" in response.json()["errors"]
    assert Submission.objects.count() == 0


def test_utf8_filename_is_kept_and_served_back(alice, alice_team, phase_labelled):
    from tests.clients import logged_in

    browser = logged_in(alice)
    upload = SimpleUploadedFile("réponse «v2».txt", _answer())
    response = browser.post(_url(phase_labelled.pk), {"file": upload})
    assert response.status_code == 201
    submission = Submission.objects.get()
    assert submission.original_filename == "réponse «v2».txt"
    download = browser.get(reverse("submission-file", args=[submission.pk]))
    assert download.status_code == 200
    assert "filename*=utf-8''r%C3%A9ponse" in download["Content-Disposition"]
    assert b"".join(download.streaming_content) == _answer()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (_zip({"answer.txt": b"/etc/passwd"}, symlinks=("answer.txt",)), "unknown clip id"),
        (_zip({"folder/": b""}), "empty"),
        (gzip.compress(_zip({"answer.txt": b"00000 0"})), "binary"),
        (_zip({"../answer.txt": b"00000 0"}), "climbs out"),
    ],
    ids=["symlink-member", "directory-only", "gzip-of-zip", "dotdot-member"],
)
def test_odd_archives_fail_with_a_clear_error(
    alice,
    alice_api,
    alice_team,
    phase_labelled,
    inprocess_sync,
    content,
    expected,
    django_capture_on_commit_callbacks,
):
    upload = SimpleUploadedFile("answer.zip", content)
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_api.post(_url(phase_labelled.pk), {"file": upload}, format="multipart")
    assert response.status_code == 201
    detail = alice_api.get(f"/api/v1/submissions/{response.json()['id']}/").json()
    assert detail["status"] == "failed"
    assert any(expected in error for error in detail["errors"]), detail["errors"]
