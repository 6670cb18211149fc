"""Text no participant should be able to smuggle in: NUL bytes (PostgreSQL refuses them in
text columns) and names that render as nothing on the leaderboard."""

import pytest

from submissions.models import Submission
from tests.clients import logged_in
from tests.recognition_data import LABELLED_CLIPS, answer_bytes, random_matrix

pytestmark = pytest.mark.django_db


def _multipart(filename: bytes, content: bytes, boundary: str = "B0uNd") -> bytes:
    return (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="'.encode()
        + filename
        + b'"\r\nContent-Type: text/plain\r\n\r\n'
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )


@pytest.mark.parametrize("filename", [b"ans\x00wer.txt", b"ans\x01wer.txt", b"a\r\nb.txt"])
def test_control_characters_in_the_filename_are_no_server_error(
    alice, alice_team, phase_labelled, filename
):
    browser = logged_in(alice)
    response = browser.generic(
        "POST",
        f"/api/v1/phases/{phase_labelled.pk}/submissions/",
        _multipart(filename, answer_bytes(random_matrix(LABELLED_CLIPS, seed=1))),
        content_type="multipart/form-data; boundary=B0uNd",
    )
    assert response.status_code in (201, 400), response.content
    if response.status_code == 201:
        submission = Submission.objects.get()
        assert "\x00" not in submission.original_filename
        download = browser.get(f"/submissions/{submission.pk}/file/")
        assert download.status_code == 200
        assert "\n" not in download["Content-Disposition"]


@pytest.mark.parametrize(
    "name", ["\u200b", "\u200b\u200b", "\u2063", "\x00team", "Alpha\u200b", "\u202eahplA"]
)
def test_a_team_name_must_show_what_it_is(alice_api, challenge, name):
    response = alice_api.post(f"/api/v1/challenges/{challenge.slug}/teams/", {"name": name})
    assert response.status_code == 400, response.content
    assert response.json()["detail"]


def test_the_team_page_says_why_an_invisible_name_is_refused(alice, challenge):
    response = logged_in(alice).post(
        f"/challenges/{challenge.slug}/team/create/", {"create-name": "\u200b"}
    )
    assert response.status_code == 400
    assert "invisible characters" in response.content.decode()


PERSIAN_WITH_ZWNJ = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"


@pytest.mark.parametrize("name", ["Équipe Ω", "👨\u200d👩\u200d👧", PERSIAN_WITH_ZWNJ, "A  Team"])
def test_names_in_any_script_are_still_welcome(alice_api, challenge, name):
    response = alice_api.post(f"/api/v1/challenges/{challenge.slug}/teams/", {"name": name})
    assert response.status_code == 201, response.content
