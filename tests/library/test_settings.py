"""Settings: a project's prefix on every variable, read once, refusals that say what to do."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from prefect_polars_cloud.settings import env_prefix, get_settings

from toy_pipeline.project import ENV_PREFIX, LABEL, Settings


def test_the_current_projects_subclass_is_what_everything_reads() -> None:
    settings = get_settings()
    assert type(settings) is Settings and settings.label == LABEL
    assert env_prefix() == ENV_PREFIX == Settings.prefix()


def test_the_environment_overrides_with_the_projects_prefix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(f"{ENV_PREFIX}COMPUTE_MODE", "local")
    monkeypatch.setenv(f"{ENV_PREFIX}SECRET_BACKEND", "prefect-secret")
    monkeypatch.setenv(f"{ENV_PREFIX}SECRET_NAME", "other-account")
    monkeypatch.setenv(f"{ENV_PREFIX}QUERY_RETRIES", "4")
    monkeypatch.setenv(f"{ENV_PREFIX}DATA_URI", "s3://elsewhere/reports-root/")
    monkeypatch.setenv("COMPUTE_MODE", "cluster")  # without the prefix: not this project's

    settings = get_settings()

    assert (settings.compute_mode, settings.secret_backend) == ("local", "prefect-secret")
    assert settings.secret_name == "other-account"
    assert settings.query_retries == 4
    assert settings.source_uri == "s3://elsewhere/reports-root/raw"
    assert settings.output_uri == "s3://elsewhere/reports-root/reports"


def test_settings_are_read_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    first = get_settings()
    monkeypatch.setenv(f"{ENV_PREFIX}COMPUTE_MODE", "local")
    assert get_settings() is first


def test_an_empty_variable_means_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(f"{ENV_PREFIX}COMPUTE_MODE", "")
    monkeypatch.setenv(f"{ENV_PREFIX}WORKSPACE", "")
    assert Settings().compute_mode == "cloud"
    assert Settings().workspace is None


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("COMPUTE_MODE", "gpu", "'cloud', 'local' or 'cluster'"),
        ("SECRET_BACKEND", "vault", "'env'"),
        ("IDLE_TIMEOUT_MINS", "5", "greater than or equal to 10"),
        ("QUERY_TIMEOUT_MINS", "0", "greater than 0"),
        ("QUERY_RETRIES", "-1", "greater than or equal to 0"),
    ],
)
def test_bad_values_are_refused_with_the_reason(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(f"{ENV_PREFIX}{variable}", value)
    with pytest.raises(ValidationError, match=message):
        Settings()
