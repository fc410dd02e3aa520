"""This project's settings: the generated defaults, read through its own prefix.

How settings are read, cached and refused is the library's (the template's tests/library).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from prefect_polars_cloud.config.project import get_settings
from prefect_polars_cloud.operations.deployments import is_local

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


def test_the_label_is_declared_once_and_every_deployment_carries_it() -> None:
    # Renaming the project's label is one edit (README): `label:` in prefect.yaml's definitions,
    # which every deployment's tag (the alerts match it) and its runs' variable alias.
    prefect_yaml = Path(__file__).resolve().parent.parent / "prefect.yaml"
    loaded = yaml.safe_load(prefect_yaml.read_text(encoding="utf-8"))
    label = loaded["definitions"]["label"]
    answered = {{ cookiecutter.project_slug | tojson }}
    assert Settings().label == label == answered
    untagged = [d["name"] for d in loaded["deployments"] if label not in (d.get("tags") or [])]
    assert not untagged, f"deployments without the project's tag {label!r}: {untagged}"
    # A production run may start where no prefect.yaml is (an image): its deployment sets it.
    unlabelled = [
        d["name"]
        for d in loaded["deployments"]
        if not is_local(d)
        and d["work_pool"]["job_variables"].get("env", {}).get(f"{ENV_PREFIX}LABEL") != label
    ]
    assert not unlabelled, (
        f"production deployments whose runs do not get {ENV_PREFIX}LABEL={label!r}: {unlabelled}; "
        "give them `work_pool: *production-pool`"
    )


def test_a_run_outside_the_checkout_takes_the_label_its_deployment_sets(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The package installed, not checked out (the image): no prefect.yaml beside it. The
    # deployment's job variables set the variable; without it, the working directory's
    # prefect.yaml (the image's copy) is read. (Exploded, with a trailing comma, so that ruff
    # keeps a 64-character slug's line as it is.)
    monkeypatch.setattr(
        "{{ cookiecutter.package_name }}.settings.PREFECT_FILE",
        tmp_path / "installed" / "prefect.yaml",
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(f"{ENV_PREFIX}LABEL", "from-the-deployment")
    assert Settings().label == "from-the-deployment"

    monkeypatch.delenv(f"{ENV_PREFIX}LABEL")
    with pytest.raises(ValueError, match=f"{ENV_PREFIX}LABEL is unset") as refused:
        Settings()
    assert str(tmp_path / "prefect.yaml") in str(refused.value)

    # The image's copy, in the directory its deployments' pull step changes into.
    (tmp_path / "prefect.yaml").write_text("definitions:\n  label: &project-label in-the-image\n")
    assert Settings().label == "in-the-image"
