"""docker-compose.yml and the Dockerfile hold together (no Docker engine runs here)."""

import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
APP_SERVICES = ("migrate", "web", "worker", "beat")


def _command(service: str) -> str:
    command = SERVICES[service]["command"]
    return " ".join(command) if isinstance(command, list) else command


def _interpolate(value: str, given: dict[str, str]) -> str:
    """Compose's ${VAR:-default} and ${VAR:?error}, with the given variables set."""

    def one(match):
        name, op, arg = match.group(1), match.group(2), match.group(3)
        if name in given:
            return given[name]
        if op == ":?":
            raise AssertionError(f"{name} is required: {arg}")
        return arg or ""

    return re.sub(r"\$\{(\w+)(?:(:-|:\?)([^}]*))?\}", one, value)


def test_the_stack_has_the_expected_services():
    assert set(SERVICES) == {"postgres", "redis", *APP_SERVICES}


@pytest.mark.parametrize(
    ("service", "expected"),
    [
        ("web", "gunicorn evalserver.wsgi"),
        ("worker", "celery -A evalserver worker"),
        ("beat", "celery -A evalserver beat"),
        ("migrate", "python manage.py migrate --noinput"),
    ],
)
def test_each_service_runs_its_command(service, expected):
    assert expected in _command(service)


def test_the_app_services_wait_for_the_migration_to_complete():
    assert SERVICES["migrate"]["restart"] == "no"
    assert SERVICES["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for service in ("web", "worker", "beat"):
        depends = SERVICES[service]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert depends["redis"]["condition"] == "service_healthy"
    assert "healthcheck" in SERVICES["postgres"]
    assert "healthcheck" in SERVICES["redis"]


def test_the_app_services_share_the_data_volume_at_the_data_dir():
    for service in APP_SERVICES:
        config = SERVICES[service]
        data_dir = config["environment"]["EVALSERVER_DATA_DIR"]
        assert f"data:{data_dir}" in config["volumes"]
    assert "data" in COMPOSE["volumes"]


def test_the_app_environment_points_at_the_compose_services():
    env = SERVICES["web"]["environment"]
    given = {"DJANGO_SECRET_KEY": "k" * 50}
    assert "@postgres:5432/" in _interpolate(env["DATABASE_URL"], given)
    assert _interpolate(env["CELERY_BROKER_URL"], given).startswith("redis://redis:6379/")
    assert env["DJANGO_DEBUG"] == "false"
    # The database password is the same on both sides, whatever the operator sets.
    pg = SERVICES["postgres"]["environment"]
    for password in ({}, {"POSTGRES_PASSWORD": "s3cret"}):
        url = _interpolate(env["DATABASE_URL"], {**given, **password})
        assert f":{_interpolate(pg['POSTGRES_PASSWORD'], password)}@" in url


def test_the_secret_key_must_be_given():
    env = SERVICES["web"]["environment"]
    with pytest.raises(AssertionError, match="DJANGO_SECRET_KEY is required"):
        _interpolate(env["DJANGO_SECRET_KEY"], {})


def test_the_compose_environment_is_accepted_by_the_settings(tmp_path):
    given = {"DJANGO_SECRET_KEY": "compose-" + "x" * 50}
    env = {k: _interpolate(str(v), given) for k, v in SERVICES["web"]["environment"].items()}
    env["EVALSERVER_DATA_DIR"] = str(tmp_path)  # /data does not exist outside the image
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "EVALSERVER_"))}
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings as s; "
            "print(s.DATABASES['default']['HOST'], s.CELERY_BROKER_URL, s.DEBUG, "
            "s.CACHES['default']['BACKEND'])",
        ],
        cwd=ROOT,
        env={**clean, **env, "DJANGO_SETTINGS_MODULE": "evalserver.settings"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "postgres",
        "redis://redis:6379/0",
        "False",
        "evalserver.cache.FailOpenRedisCache",
    ]


def test_the_cache_and_the_broker_use_separate_redis_databases():
    env = SERVICES["web"]["environment"]
    cache, broker = urlsplit(env["EVALSERVER_CACHE_URL"]), urlsplit(env["CELERY_BROKER_URL"])
    assert cache.netloc == broker.netloc == "redis:6379"
    assert cache.path != broker.path


def test_the_dockerfile_copies_what_exists_and_serves_the_wsgi_app():
    dockerfile = (ROOT / "Dockerfile").read_text()
    for line in dockerfile.splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), f"{source} in the Dockerfile does not exist"
    assert "evalserver.wsgi" in dockerfile
    assert (ROOT / "evalserver" / "wsgi.py").is_file()
    assert (ROOT / "evalserver" / "celery.py").is_file()
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".venv" in ignored
    assert "var" in ignored


def _install_step() -> str:
    dockerfile = (ROOT / "Dockerfile").read_text()
    return next(chunk for chunk in dockerfile.split("\nRUN ") if "pip install -e ." in chunk)


def test_the_image_builds_the_compiled_detection_reader():
    """pyproject.toml builds it optionally (a machine without a compiler still installs);
    the image installs a compiler for that step and fails if the module is missing."""
    step = _install_step()
    assert "apt-get install -y --no-install-recommends gcc libc6-dev" in step
    assert step.index("gcc libc6-dev") < step.index("pip install -e .")
    assert step.index("pip install -e .") < step.index("n.available()")
    assert (ROOT / "evalserver/scoring/_detection_csv.c").is_file()
    # A module compiled on the host never enters the build context.
    assert "**/*.so" in (ROOT / ".dockerignore").read_text().split()


def test_the_image_step_builds_the_module_where_the_services_import_it(tmp_path):
    """The services run /app's code (the working directory comes before site-packages), so
    the install step must leave the module next to its sources there: a plain `pip
    install .` left it in site-packages only, and /app's detection_native found nothing.
    Here the image's layout without Docker: the Dockerfile's COPY sources as the
    .dockerignore leaves them, the install step's pip command in a fresh virtualenv (the
    dependencies lent from this one), then the check the image runs, from /app."""
    import shutil
    import sysconfig

    dockerfile = (ROOT / "Dockerfile").read_text()
    app = tmp_path / "app"
    app.mkdir()
    ignored = shutil.ignore_patterns("__pycache__", "*.pyc", "*.so", "*.egg-info", "build")
    for line in dockerfile.splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                path = ROOT / source
                if path.is_dir():
                    shutil.copytree(path, app / source, ignore=ignored)
                else:
                    shutil.copy2(path, app / source)
    assert not list(app.rglob("*.so"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    # numpy and the rest from this environment; the project itself as the image installs it.
    (Path(purelib) / "lent.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    install = ["pip", "install", "-e", ".", "--no-deps", "--quiet"]
    assert " ".join(install[:4]) in _install_step()
    subprocess.run([python, "-m", *install], cwd=app, env=env, check=True, timeout=600)
    check = subprocess.run(
        [python, "-c", "from evalserver.scoring import detection_native as n; "
         "print(n.available(), getattr(n._detection_csv, '__file__', None))"],
        cwd=app, env=env, check=True, capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    assert check[0] == "True"
    assert Path(check[1]).parent == app / "evalserver" / "scoring"
