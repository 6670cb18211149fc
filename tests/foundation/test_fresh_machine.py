"""Issue 11 item 6: `make test` installs what the tests need on a fresh machine."""

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INSTALL = ROOT / "scripts" / "install-system-packages.sh"
README_HEADINGS = set(re.findall(r"^#+ (.+)$", (ROOT / "README.md").read_text(), re.MULTILINE))


def test_make_test_installs_the_system_packages_before_running_pytest():
    dry_run = subprocess.run(
        ["make", "-n", "test"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    install = dry_run.index("scripts/install-system-packages.sh")
    assert install < dry_run.index("scripts/services.sh") < dry_run.index("pytest")
    # CI runs the README's commands and installs nothing of its own.
    ci = (ROOT / ".ci" / "run").read_text()
    assert "apt-get" not in ci
    assert "make test" in ci


def test_the_browser_tests_chromium_is_in_the_list():
    packages = (ROOT / "scripts" / "system-packages.txt").read_text().split()
    assert {"chromium", "chromium-driver", "redis-server", "postgresql"} <= set(packages)


@pytest.mark.parametrize("script", sorted((ROOT / "scripts").glob("*.sh")), ids=lambda p: p.name)
def test_the_readme_sections_the_scripts_name_exist(script):
    for section in re.findall(r'README "([^"]+)"', script.read_text()):
        assert section in README_HEADINGS, f"{script.name} points to README {section!r}"


@pytest.mark.skipif(not shutil.which("dpkg-query"), reason="not a Debian system")
def test_with_everything_installed_the_script_does_nothing():
    done = subprocess.run(["bash", str(INSTALL)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert done.stdout == done.stderr == ""


@pytest.mark.skipif(not shutil.which("dpkg-query"), reason="not a Debian system")
def test_without_root_a_missing_package_is_named_with_the_command():
    # Under /tmp itself: pytest's tmp_path sits in a folder only its owner may enter.
    folder = Path(tempfile.mkdtemp(prefix="i11a-install-", dir="/tmp"))
    try:
        folder.chmod(0o755)
        scripts = folder / "scripts"
        scripts.mkdir(mode=0o755)
        shutil.copy(INSTALL, scripts / INSTALL.name)
        (scripts / "system-packages.txt").write_text(
            "chromium\n# not installed on purpose:\nno-such-package-i11a  \n"
        )
        for path in scripts.iterdir():
            path.chmod(0o644)
        command = ["bash", str(scripts / INSTALL.name)]
        if os.geteuid() == 0:
            command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    finally:
        shutil.rmtree(folder)
    assert done.returncode == 1
    assert "no-such-package-i11a" in done.stderr
    assert "apt-get install -y no-such-package-i11a" in done.stderr
    assert "chromium" not in done.stderr.split("Run:")[1]
