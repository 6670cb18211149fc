"""Rough edges (issue 14 item 6) that a user sees: logs, install warnings, schema names."""

import logging
import logging.config
import tomllib
from pathlib import Path

import yaml
from django.conf import settings
from django.utils.log import DEFAULT_LOGGING

ROOT = Path(__file__).resolve().parents[2]


def _handlers_reached(name: str, level: int) -> int:
    """How many handlers a record of ``level`` on logger ``name`` is written by."""
    logger = logging.getLogger(name)
    if not logger.isEnabledFor(level):
        return 0
    count = 0
    while logger is not None:
        count += sum(1 for h in logger.handlers if level >= h.level and h.filter(_record(level)))
        if not logger.propagate:
            break
        logger = logger.parent
    return count


def _record(level: int) -> logging.LogRecord:
    return logging.LogRecord("x", level, __file__, 1, "m", None, None)


def test_each_django_record_is_printed_once_and_axes_is_quiet(settings):
    settings.DEBUG = True
    # As django.setup() does: Django's defaults, then ours.
    logging.config.dictConfig(DEFAULT_LOGGING)
    logging.config.dictConfig(settings.LOGGING)
    try:
        assert _handlers_reached("django.request", logging.WARNING) == 1
        assert _handlers_reached("django.server", logging.INFO) == 1
        assert _handlers_reached("django.utils.autoreload", logging.INFO) == 1
        assert _handlers_reached("axes.handlers.database", logging.INFO) == 0
        assert _handlers_reached("axes.handlers.database", logging.WARNING) == 1
    finally:
        logging.config.dictConfig(settings.LOGGING)


def test_the_license_is_a_pep_639_string():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["license"] == "MIT"
    assert any(r.startswith("setuptools>=77") for r in project["build-system"]["requires"])


def test_no_schema_component_is_named_request_request(client, db):
    schema = yaml.safe_load(client.get("/api/schema/").content)
    names = set(schema["components"]["schemas"])
    assert not [n for n in names if n.endswith("RequestRequest")]
    assert {"RegisterRequest", "SubmissionCreateRequest", "SubmissionCheckRequest"} <= names


def test_make_run_installs_the_runtime_dependencies_only():
    makefile = (ROOT / "Makefile").read_text()
    run_stamp = makefile.split("$(BIN)/.runtime: pyproject.toml", 1)[1].split("\n\n", 1)[0]
    assert "pip install --quiet -e .\n" in run_stamp + "\n"
    assert "[dev]" not in run_stamp


def test_the_run_banner_names_the_url_and_every_demo_account():
    import importlib.util

    spec = importlib.util.spec_from_file_location("run_demo", ROOT / "scripts" / "run_demo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from evalserver.challenges.management.commands.seed_demo import DEMO_USERS

    banner = module._banner("http://127.0.0.1:8000/")
    assert "http://127.0.0.1:8000/" in banner
    for username, password, _ in DEMO_USERS:
        assert f"{username:<10} {password}" in banner
    assert settings.ROOT_URLCONF
