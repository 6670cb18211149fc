"""Strict readers for configuration from the environment.

Every setting that comes from the environment goes through one of these, so a
malformed value stops start-up with a message that names the variable, instead
of surfacing later as a confusing failure.
"""

import os
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    if value is None:
        return None
    value = value.strip()
    # An empty variable (FOO= in a compose file) means "not set", not "empty string".
    return value or None


def env_str(name: str, default: str | None = None) -> str | None:
    value = _raw(name)
    return default if value is None else value


def env_bool(name: str, default: bool) -> bool:
    value = _raw(name)
    if value is None:
        return default
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name}={value!r} is not a boolean; use one of {sorted(_TRUE | _FALSE)}"
    )


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    value = _raw(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a whole number") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}={number} must be at least {minimum}")
    return number


def env_list(name: str, default: list[str]) -> list[str]:
    value = _raw(name)
    if value is None:
        return list(default)
    items = [item.strip() for item in value.split(",")]
    if any(not item for item in items):
        raise ImproperlyConfigured(f"{name}={value!r} has an empty item; separate with commas")
    return items


def env_path(name: str, default: Path) -> Path:
    value = _raw(name)
    path = default if value is None else Path(value).expanduser()
    if not path.is_absolute():
        raise ImproperlyConfigured(f"{name}={value!r} must be an absolute path")
    return path


def _redacted(url: str) -> str:
    """The URL with any password replaced, fit for an error message in a log."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in userinfo:
        return url
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"


def env_url(name: str, *, schemes: tuple[str, ...]) -> str | None:
    """A URL whose scheme is one we know how to use, or None when unset."""
    value = _raw(name)
    if value is None:
        return None
    scheme, sep, rest = value.partition("://")
    if not sep or scheme.lower() not in schemes or not rest:
        raise ImproperlyConfigured(
            f"{name}={_redacted(value)!r} is not a URL with one of the schemes {', '.join(schemes)}"
        )
    return value


_REDIS_SCHEMES = ("redis", "rediss", "unix")


def env_redis_url(name: str) -> str | None:
    """A Redis URL (``redis://[:password@]host[:port][/db]``, ``rediss://``, or
    ``unix:///path?db=N``), or None when unset.

    redis-py quietly ignores a database path it cannot read and connects to database 0,
    which would share keys with whatever else lives there: refuse it instead.
    """
    value = env_url(name, schemes=_REDIS_SCHEMES)
    if value is None:
        return None

    def refuse(why: str):
        return ImproperlyConfigured(f"{name}={_redacted(value)!r} is not a usable Redis URL: {why}")

    try:
        parts = urlsplit(value)
        if parts.port == 0:  # .port raises ValueError itself for text or out-of-range
            raise ValueError("port 0")
    except ValueError as exc:
        raise refuse(str(exc)) from None
    scheme = parts.scheme.lower()
    if scheme == "unix":
        if parts.hostname or not parts.path.startswith("/"):
            raise refuse("a unix:// URL needs an absolute socket path")
        db = parse_qs(parts.query).get("db", ["0"])[-1]
    else:
        if not parts.hostname:
            raise refuse("no host")
        db = parts.path.lstrip("/") or "0"
    if not (db.isascii() and db.isdigit()):
        raise refuse(f"the database {db!r} is not a whole number")
    return value


def env_networks(name: str, default: list[str]) -> list:
    """A comma-separated list of IP networks in CIDR notation (``10.0.0.0/8,::1/128``).

    A bare address is one host. Host bits set (``10.0.0.1/8``) are refused: they usually
    mean a typo, and silently widening or narrowing who is let in is worse than stopping.
    """
    import ipaddress

    networks = []
    for item in env_list(name, default):
        try:
            networks.append(ipaddress.ip_network(item, strict=True))
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"{name} has {item!r}, which is not a network in CIDR notation ({exc})"
            ) from None
    return networks
