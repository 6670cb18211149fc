"""The README documents every API call and every environment variable the settings read."""

import re
from pathlib import Path

import pytest
from drf_spectacular.generators import SchemaGenerator

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def _shape(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


def test_every_api_call_is_in_the_readme():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    documented = {
        (method.upper(), _shape(path))
        for method, path in re.findall(r"`(GET|POST|PUT|PATCH|DELETE) (/api/v1/[^` ]+)", README)
    }
    missing = [
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        for method in operations
        if (method.upper(), _shape(path)) not in documented
    ]
    assert missing == []


@pytest.mark.parametrize(
    "variable",
    sorted(
        set(
            re.findall(
                r"env_\w+\(\s*\"([A-Z_]+)\"", (ROOT / "evalserver" / "settings.py").read_text()
            )
        )
    ),
)
def test_every_setting_read_from_the_environment_is_in_the_readme(variable):
    assert f"`{variable}`" in README
