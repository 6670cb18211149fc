"""The environment readers: every malformed value stops start-up naming the variable."""

import re
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from evalserver.env import (
    env_bool,
    env_int,
    env_list,
    env_path,
    env_redis_url,
    env_str,
    env_url,
)


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


def test_a_refused_url_never_shows_its_password(monkeypatch):
    monkeypatch.setenv("EV_URL", "mysql://admin:hunter2@db/x")
    with pytest.raises(ImproperlyConfigured) as refused:
        env_url("EV_URL", schemes=("postgres",))
    assert "hunter2" not in str(refused.value)
    assert "mysql://admin:***@db/x" in str(refused.value)


@pytest.mark.parametrize(
    "raw",
    [
        "redis://127.0.0.1:6379/1",
        "redis://redis",
        "rediss://:s3cret@cache.internal:6380/2",
        "redis://user:pw@cache/15",
        "unix:///run/redis.sock?db=3",
        "unix:///run/redis.sock",
    ],
)
def test_env_redis_url_accepts_the_redis_url_forms(monkeypatch, raw):
    monkeypatch.setenv("EV_CACHE", raw)
    assert env_redis_url("EV_CACHE") == raw


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("memcached://h:11211", "is not a URL with one of the schemes redis, rediss, unix"),
        ("redis://h:port/1", "Port could not be cast to integer"),
        ("redis://h:70000/1", "Port out of range"),
        ("redis://h:0/1", "port 0"),
        ("redis:///1", "no host"),
        ("redis://h:6379/cache", "the database 'cache' is not a whole number"),
        ("redis://h:6379/1/2", "the database '1/2' is not a whole number"),
        ("unix://run/redis.sock", "needs an absolute socket path"),
        ("unix:///run/redis.sock?db=one", "the database 'one' is not a whole number"),
        ("redis://:pw@h/x", "EV_CACHE='redis://:***@h/x'"),
    ],
)
def test_env_redis_url_refuses_what_redis_py_would_misread(monkeypatch, raw, why):
    monkeypatch.setenv("EV_CACHE", raw)
    with pytest.raises(ImproperlyConfigured, match=re.escape(why)) as refused:
        env_redis_url("EV_CACHE")
    assert str(refused.value).startswith("EV_CACHE=")


def test_env_redis_url_is_none_when_unset(monkeypatch):
    monkeypatch.delenv("EV_CACHE", raising=False)
    assert env_redis_url("EV_CACHE") is None
