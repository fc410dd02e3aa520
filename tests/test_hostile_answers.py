"""Answers full of quotes, backslashes, shell syntax and unicode land intact wherever they go."""

from __future__ import annotations

import ast
import json
import re
import tomllib

import pytest
import yaml
from helpers import Baked, answers_for, bake, generated_files, settings_defaults

HOSTILE_NAME = "Zoë's \"Daily\" \\ Reports $(rm -rf /) `whoami` — 日報"
# The free-text answers the pre-gen hook lets through with quotes and shell syntax in them.
HOSTILE_ANSWERS = {
    "project_name": HOSTILE_NAME,
    "workspace": "Zoë's \"team\" \\ $(rm -rf /) `id` — 日報",
    # data_uri allows anything but spaces after the scheme and bucket.
    "data_uri": "s3://zoë's-bucket/\"daily\"\\reports/$(whoami)/`id`/日報",
    "secret_name": "arn:aws:secretsmanager:us-east-1:123456789012:secret:team/polars+cloud=sa@prod",
}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Baked:
    """Bake the hostile answers once."""
    output = tmp_path_factory.mktemp("hostile")
    return Baked(bake(output, HOSTILE_ANSWERS), answers_for(HOSTILE_ANSWERS))


def test_the_slug_is_still_a_plain_slug(hostile: Baked) -> None:
    assert hostile.path.name == "zoes-daily-reports-rm-rf-whoami-ri-bao"
    assert re.fullmatch(r"[a-z][a-z0-9-]*[a-z0-9]", hostile.path.name)
    assert hostile.answers["package_name"] == hostile.path.name.replace("-", "_")


def test_name_survives_in_toml(hostile: Baked) -> None:
    pyproject = tomllib.loads((hostile.path / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["description"].startswith(HOSTILE_NAME + ":")


def test_name_survives_in_markdown(hostile: Baked) -> None:
    readme = (hostile.path / "README.md").read_text(encoding="utf-8")
    assert readme.splitlines()[0] == f"# {HOSTILE_NAME}"


def test_name_survives_in_json(hostile: Baked) -> None:
    recorded = json.loads((hostile.path / ".cookiecutter.json").read_text(encoding="utf-8"))
    assert {key: recorded[key] for key in HOSTILE_ANSWERS} == HOSTILE_ANSWERS


def test_name_survives_in_prefect_yaml(hostile: Baked) -> None:
    prefect_yaml = hostile.path / "prefect.yaml"
    assert prefect_yaml.is_file(), "the generated repository has no prefect.yaml (CONTRACT §3)"
    assert yaml.safe_load(prefect_yaml.read_text(encoding="utf-8"))["name"] == HOSTILE_NAME


def test_data_uri_survives_in_prefect_yaml(hostile: Baked) -> None:
    prefect = yaml.safe_load((hostile.path / "prefect.yaml").read_text(encoding="utf-8"))
    production = next(item for item in prefect["deployments"] if item["name"] == "daily-report")
    assert production["parameters"]["source_uri"] == HOSTILE_ANSWERS["data_uri"] + "/raw"


def test_workspace_data_uri_and_secret_name_survive_in_settings(hostile: Baked) -> None:
    defaults = settings_defaults(hostile.package / "settings.py")
    for key in ("workspace", "data_uri", "secret_name"):
        assert defaults.get(key) == HOSTILE_ANSWERS[key], key


def test_every_file_still_parses(hostile: Baked) -> None:
    for relative in sorted(generated_files(hostile.path)):
        text = (hostile.path / relative).read_text(encoding="utf-8")
        if relative.endswith(".py"):
            ast.parse(text, filename=relative)
        elif relative.endswith(".toml"):
            tomllib.loads(text)
        elif relative.endswith((".yaml", ".yml")):
            yaml.safe_load(text)
        elif relative.endswith(".json"):
            json.loads(text)
