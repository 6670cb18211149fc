"""The environment readers: every malformed value stops start-up naming the variable."""

import re
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from evalserver.env import env_bool, env_int, env_list, env_path, env_str, env_url


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1", True), ("true", True), ("YES", True), (" on ", True), ("0", False), ("False", False)],
)
def test_env_bool_reads_the_usual_spellings(monkeypatch, raw, expected):
    monkeypatch.setenv("EV_FLAG", raw)
    assert env_bool("EV_FLAG", default=not expected) is expected


@pytest.mark.parametrize("raw", ["maybe", "2", "tru", "enabled"])
def test_env_bool_refuses_anything_else_naming_the_variable(monkeypatch, raw):
    monkeypatch.setenv("EV_FLAG", raw)
    with pytest.raises(ImproperlyConfigured, match=rf"EV_FLAG='{raw}' is not a boolean"):
        env_bool("EV_FLAG", default=True)


@pytest.mark.parametrize("raw", [None, "", "   "])
def test_unset_or_empty_variables_take_the_default(monkeypatch, raw):
    if raw is None:
        monkeypatch.delenv("EV_ANY", raising=False)
    else:
        monkeypatch.setenv("EV_ANY", raw)
    assert env_bool("EV_ANY", default=True) is True
    assert env_int("EV_ANY", 7) == 7
    assert env_str("EV_ANY", "dflt") == "dflt"
    assert env_list("EV_ANY", ["a"]) == ["a"]
    assert env_url("EV_ANY", schemes=("redis",)) is None
    assert env_path("EV_ANY", Path("/srv/x")) == Path("/srv/x")


def test_env_int_reads_whole_numbers(monkeypatch):
    monkeypatch.setenv("EV_N", " 42 ")
    assert env_int("EV_N", 1, minimum=1) == 42


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("abc", "EV_N='abc' is not a whole number"),
        ("1.5", "EV_N='1.5' is not a whole number"),
        ("0", "EV_N=0 must be at least 1"),
        ("-3", "EV_N=-3 must be at least 1"),
    ],
)
def test_env_int_refuses_malformed_and_too_small_values(monkeypatch, raw, message):
    monkeypatch.setenv("EV_N", raw)
    with pytest.raises(ImproperlyConfigured, match=re.escape(message)):
        env_int("EV_N", 5, minimum=1)


def test_env_list_splits_on_commas_and_trims(monkeypatch):
    monkeypatch.setenv("EV_HOSTS", "example.org, www.example.org ,api.example.org")
    assert env_list("EV_HOSTS", []) == ["example.org", "www.example.org", "api.example.org"]


@pytest.mark.parametrize("raw", ["a,,b", "a,", ",a"])
def test_env_list_refuses_empty_items(monkeypatch, raw):
    monkeypatch.setenv("EV_HOSTS", raw)
    with pytest.raises(ImproperlyConfigured, match=r"EV_HOSTS=.* has an empty item"):
        env_list("EV_HOSTS", [])


def test_env_path_accepts_absolute_and_home_paths(monkeypatch, tmp_path):
    monkeypatch.setenv("EV_DIR", str(tmp_path))
    assert env_path("EV_DIR", Path("/nowhere")) == tmp_path
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("EV_DIR", "~/data")
    assert env_path("EV_DIR", Path("/nowhere")) == tmp_path / "data"


def test_env_path_refuses_relative_paths(monkeypatch):
    monkeypatch.setenv("EV_DIR", "var/data")
    with pytest.raises(ImproperlyConfigured, match="EV_DIR='var/data' must be an absolute path"):
        env_path("EV_DIR", Path("/nowhere"))


@pytest.mark.parametrize("raw", ["redis://127.0.0.1:6379/0", "REDIS://h/1", "amqp://u:p@h//"])
def test_env_url_accepts_known_schemes(monkeypatch, raw):
    monkeypatch.setenv("EV_URL", raw)
    assert env_url("EV_URL", schemes=("redis", "amqp")) == raw


@pytest.mark.parametrize("raw", ["mysql://x", "127.0.0.1:6379", "redis://", "redis:/h"])
def test_env_url_refuses_other_schemes_and_shapes(monkeypatch, raw):
    monkeypatch.setenv("EV_URL", raw)
    with pytest.raises(
        ImproperlyConfigured, match=r"EV_URL=.* is not a URL with one of the schemes"
    ):
        env_url("EV_URL", schemes=("redis", "amqp"))
