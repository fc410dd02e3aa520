"""This project's settings: the generated defaults, read through its own prefix.

How settings are read, cached and refused is the library's (the template's tests/library).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from prefect_polars_cloud.config.project import get_settings

from {{ cookiecutter.package_name }}.settings import (
    ENV_PREFIX,
    Settings,
)


def test_defaults_are_the_answers_given_at_generation() -> None:
    settings = Settings()
    assert settings.compute_mode == "cloud"
    assert settings.secret_backend == {{ cookiecutter.secret_backend | tojson }}
    assert settings.secret_name == {{ cookiecutter.secret_name | tojson }}
    assert settings.idle_timeout_mins == {{ cookiecutter.idle_timeout_mins | int }}
    assert settings.source_uri == {{ (cookiecutter.data_uri ~ "/raw") | tojson }}
    assert settings.output_uri == {{ (cookiecutter.data_uri ~ "/reports") | tojson }}


def test_the_environment_overrides_with_the_package_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(f"{ENV_PREFIX}COMPUTE_MODE", "local")
    monkeypatch.setenv(f"{ENV_PREFIX}SECRET_BACKEND", "prefect-secret")
    monkeypatch.setenv(f"{ENV_PREFIX}SECRET_NAME", "other-account")
    monkeypatch.setenv(f"{ENV_PREFIX}QUERY_RETRIES", "4")
    monkeypatch.setenv(f"{ENV_PREFIX}DATA_URI", "s3://elsewhere/reports-root/")

    settings = get_settings()  # the library's, through the project's entry point

    assert type(settings) is Settings
    assert (settings.compute_mode, settings.secret_backend) == ("local", "prefect-secret")
    assert settings.secret_name == "other-account"
    assert settings.query_retries == 4
    assert settings.source_uri == "s3://elsewhere/reports-root/raw"


def test_the_label_is_the_tag_every_deployment_carries() -> None:
    # Renaming the project's label is two edits (README): settings.py's `label` and the tag in
    # prefect.yaml's definitions, which the alerts match. They must agree.
    label = Settings.model_fields["label"].default
    prefect_yaml = Path(__file__).resolve().parent.parent / "prefect.yaml"
    loaded = yaml.safe_load(prefect_yaml.read_text(encoding="utf-8"))
    assert loaded["definitions"]["tags"] == [label]
    untagged = [d["name"] for d in loaded["deployments"] if label not in (d.get("tags") or [])]
    assert not untagged, f"deployments without the project's tag {label!r}: {untagged}"
