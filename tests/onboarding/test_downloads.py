"""Downloads (issue 14 item 1): declared in the YAML, checked at import, served by audience."""

import hashlib
import json
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from evalserver.challenges.models import Challenge, Download
from tests.clients import logged_in
from tests.factories import MembershipFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db

LABELS = [
    {"id": f"{i:05d}", "video_id": "v", "path": f"v/{i:05d}.mp4", "dim": [40, 40, 40],
     "label": ["activity_walking"]}
    for i in range(4)
]  # fmt: skip

YAML = """\
slug: dl-challenge
title: Downloads
downloads:
  - name: clips.json
    file: public/clips.json
    description: The clip list.
  - name: kit.py
    file: kit.py
    description: The starting kit.
    audience: participants
phases:
  - slug: dev
    name: Validation
    track: classification
    labels: hidden/labels.json
    starts_at: 2021-03-01T00:00:00Z
    ends_at: 2099-12-31T23:59:59Z
    downloads:
      - name: answer.txt
        file: answer.txt
        description: A sample.
"""


@pytest.fixture
def folder(tmp_path) -> Path:
    folder = tmp_path / "def"
    (folder / "public").mkdir(parents=True)
    (folder / "hidden").mkdir()
    (folder / "challenge.yaml").write_text(YAML)
    (folder / "hidden" / "labels.json").write_text(json.dumps(LABELS))
    public = [{k: v for k, v in r.items() if k != "label"} for r in LABELS]
    (folder / "public" / "clips.json").write_text(json.dumps(public))
    (folder / "kit.py").write_text("print('kit')\n")
    (folder / "answer.txt").write_text("00000 " + " ".join("0" * 26) + "\n")
    return folder


def _import(folder: Path) -> str:
    out = StringIO()
    call_command("import_challenge", str(folder / "challenge.yaml"), stdout=out)
    return out.getvalue()


def _refused(folder: Path) -> str:
    with pytest.raises(CommandError) as excinfo:
        _import(folder)
    return str(excinfo.value)


def _edit(folder: Path, old: str, new: str) -> None:
    path = folder / "challenge.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


@pytest.fixture
def imported(folder):
    _import(folder)
    return Challenge.objects.get(slug="dl-challenge")


def _member(challenge, username="pat"):
    user = UserFactory(username=username)
    team = TeamFactory(challenge=challenge, name=f"team-{username}", created_by=user)
    MembershipFactory(team=team, user=user)
    return user


# --- Import ---------------------------------------------------------------------------------


def test_import_stores_each_download_on_the_labels_storage_without_a_url(folder, imported):
    rows = {(d.phase.slug if d.phase else None, d.name): d for d in Download.objects.all()}
    assert set(rows) == {(None, "clips.json"), (None, "kit.py"), ("dev", "answer.txt")}
    kit = rows[(None, "kit.py")]
    assert kit.audience == "participants"
    assert kit.sha256 == hashlib.sha256(b"print('kit')\n").hexdigest()
    assert kit.size == len(b"print('kit')\n")
    stored = Path(settings.LABELS_ROOT) / kit.file.name
    assert stored.read_bytes() == b"print('kit')\n"
    assert not Path(settings.UPLOAD_ROOT).joinpath(kit.file.name).exists()


def test_reimport_is_a_no_op_and_a_dropped_declaration_is_removed_with_its_file(
    folder, imported, django_capture_on_commit_callbacks
):
    assert "download" not in _import(folder)
    kit = Download.objects.get(name="kit.py")
    stored = Path(settings.LABELS_ROOT) / kit.file.name
    _edit(folder, "  - name: kit.py\n    file: kit.py\n    description: The starting kit.\n"
          "    audience: participants\n", "")  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        out = _import(folder)
    assert "download dl-challenge: kit.py: removed" in out
    assert not Download.objects.filter(name="kit.py").exists()
    assert not stored.exists()


def test_a_changed_file_is_replaced(folder, imported):
    (folder / "kit.py").write_text("print('kit v2')\n")
    assert "download dl-challenge: kit.py: updated" in _import(folder)
    kit = Download.objects.get(name="kit.py")
    assert (Path(settings.LABELS_ROOT) / kit.file.name).read_text() == "print('kit v2')\n"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("../kit.py", "must be a plain file name"),
        ("sub/kit.py", "must be a plain file name"),
        (".hidden", "must be a plain file name"),
        ("kit py", "must be a plain file name"),
    ],
)
def test_names_must_be_plain_file_names(folder, name, message):
    _edit(folder, "name: kit.py", f"name: {json.dumps(name)}")
    assert message in _refused(folder)
    assert not Challenge.objects.exists()


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("../outside.txt", "without '..'"),
        ("public/../../outside.txt", "without '..'"),
        ("/etc/hostname", "must be a path relative to the YAML file"),
        ("link.txt", "leads outside the YAML file's folder"),
        ("missing.txt", "not found"),
    ],
)
def test_paths_stay_inside_the_yaml_folder(folder, path, message):
    (folder.parent / "outside.txt").write_text("secret")
    (folder / "link.txt").symlink_to(folder.parent / "outside.txt")
    _edit(folder, "file: kit.py", f"file: {path}")
    assert message in _refused(folder)
    assert not Download.objects.exists()


def test_a_name_given_twice_and_a_bad_audience_are_refused(folder):
    _edit(folder, "name: kit.py", "name: clips.json")
    _edit(folder, "audience: participants", "audience: friends")
    problems = _refused(folder)
    assert "name 'clips.json' is used twice" in problems
    assert "audience must be one of everyone, participants, not 'friends'" in problems


def test_a_hidden_label_file_can_never_be_declared(folder):
    _edit(folder, "file: kit.py", "file: hidden/labels.json")
    assert "is a hidden label file of a phase; it can never be a download" in _refused(folder)


def test_a_copy_of_a_label_file_is_refused_by_its_content(folder):
    (folder / "copy.json").write_bytes((folder / "hidden" / "labels.json").read_bytes())
    _edit(folder, "file: kit.py", "file: copy.json")
    assert "copy.json is a hidden label file" in _refused(folder)


def test_a_copy_of_another_challenges_stored_labels_is_refused(folder, phase_labelled):
    phase_labelled.labels_file.open("rb")
    stored = phase_labelled.labels_file.read()
    phase_labelled.labels_file.close()
    (folder / "other.json").write_bytes(stored)
    _edit(folder, "file: kit.py", "file: other.json")
    assert "other.json is a hidden label file" in _refused(folder)


CLIPS_URL = "/api/v1/challenges/dl-challenge/downloads/clips.json"


# --- Serving --------------------------------------------------------------------------------


def test_everyone_gets_a_public_file_with_its_bytes(imported):
    response = APIClient().get("/api/v1/challenges/dl-challenge/downloads/clips.json")
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    assert json.loads(body)[0] == {"id": "00000", "video_id": "v", "path": "v/00000.mp4",
                                   "dim": [40, 40, 40]}  # fmt: skip
    assert "attachment" in response["Content-Disposition"]


def test_participants_files_refuse_the_anonymous_and_outsiders(imported):
    url = "/api/v1/challenges/dl-challenge/downloads/kit.py"
    anonymous = APIClient().get(url)
    assert anonymous.status_code == 401
    assert "sign in first" in anonymous.json()["detail"]
    outsider = APIClient()
    outsider.force_authenticate(UserFactory(username="outsider"))
    refused = outsider.get(url)
    assert refused.status_code == 403
    assert "join or create a team" in refused.json()["detail"]
    member = APIClient()
    member.force_authenticate(_member(imported))
    response = member.get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"print('kit')\n"


def test_a_member_of_another_challenge_is_an_outsider(imported, alice_team, alice):
    client = APIClient()
    client.force_authenticate(alice)
    assert client.get("/api/v1/challenges/dl-challenge/downloads/kit.py").status_code == 403


def test_undeclared_names_and_other_phases_are_404(imported, phase):
    dev = imported.phases.get(slug="dev")
    client = APIClient()
    assert client.get("/api/v1/challenges/dl-challenge/downloads/nope.txt").status_code == 404
    assert client.get("/api/v1/challenges/dl-challenge/downloads/answer.txt").status_code == 404
    assert client.get(f"/api/v1/phases/{dev.pk}/downloads/answer.txt").status_code == 200
    assert client.get(f"/api/v1/phases/{phase.pk}/downloads/answer.txt").status_code == 404
    sneaky = "/api/v1/challenges/dl-challenge/downloads/..%2Fchallenge.yaml"
    assert client.get(sneaky).status_code == 404


def test_unpublished_challenges_serve_nothing(imported):
    imported.is_published = False
    imported.save()
    assert APIClient().get(CLIPS_URL).status_code == 404


def test_a_row_pointing_at_hidden_labels_is_never_served(imported):
    # Whatever slipped past the import, a file with a label file's digest is not served.
    dev = imported.phases.get(slug="dev")
    row = Download.objects.get(name="clips.json")
    row.file.name, row.sha256 = dev.labels_file.name, dev.labels_sha256
    row.save()
    assert APIClient().get(CLIPS_URL).status_code == 404


# --- Listing --------------------------------------------------------------------------------


def test_the_api_lists_downloads_of_the_challenge_and_its_phases(imported):
    body = APIClient().get("/api/v1/challenges/dl-challenge/").json()
    names = [d["name"] for d in body["downloads"]]
    assert names == ["clips.json", "kit.py"]
    first = body["downloads"][0]
    assert set(first) >= {"name", "description", "size", "sha256", "url"}
    assert first["url"] == "http://testserver/api/v1/challenges/dl-challenge/downloads/clips.json"
    dev = body["phases"][0]
    assert [d["name"] for d in dev["downloads"]] == ["answer.txt"]
    listed = APIClient().get("/api/v1/challenges/").json()["results"][0]
    assert [d["name"] for d in listed["downloads"]] == names
    assert APIClient().get("/api/v1/challenges/nope/").status_code == 404


def test_the_pages_list_downloads_and_link_only_what_the_viewer_may_fetch(imported, client):
    page = client.get("/challenges/dl-challenge/").content.decode()
    assert 'data-download="clips.json"' in page
    assert 'data-download="kit.py"' not in page
    assert "kit.py" in page
    assert "log in</a> and join a team" in page
    assert 'data-download="answer.txt"' in page
    member_page = logged_in(_member(imported)).get("/challenges/dl-challenge/").content.decode()
    assert 'data-download="kit.py"' in member_page


def test_the_phase_page_lists_the_same_downloads_as_two_page_lists_in_one_query(
    folder, django_assert_num_queries
):
    """downloads_for_phase_page: the challenge's files and the phase's, each in the model's
    order and with the viewer's access, exactly as downloads_for_page lists them; another
    phase's files are not among them."""
    from django.contrib.auth.models import AnonymousUser

    from evalserver.challenges.downloads import downloads_for_page, downloads_for_phase_page

    _edit(
        folder,
        "phases:\n  - slug: dev",
        "phases:\n  - slug: other\n    name: Other\n    track: classification\n"
        "    labels: hidden/labels.json\n    starts_at: 2021-03-01T00:00:00Z\n"
        "    ends_at: 2099-12-31T23:59:59Z\n    downloads:\n"
        "      - name: other.txt\n        file: answer.txt\n        description: Not dev's.\n"
        "  - slug: dev",
    )
    _import(folder)
    challenge = Challenge.objects.get(slug="dl-challenge")
    dev = challenge.phases.get(slug="dev")
    for user in (AnonymousUser(), _member(challenge)):
        expected = (
            downloads_for_page(challenge=challenge, phase=None, user=user),
            downloads_for_page(challenge=challenge, phase=dev, user=user),
        )
        with django_assert_num_queries(1 if not user.is_authenticated else 2):
            found = downloads_for_phase_page(phase=dev, user=user)
        assert found == expected
        assert [row["download"].name for row in found[0]] == ["clips.json", "kit.py"]
        assert [row["download"].name for row in found[1]] == ["answer.txt"]
        assert [row["allowed"] for row in found[0]] == [True, user.is_authenticated]
