"""Settings: a project's prefix on every variable, read once, refusals that say what to do."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from prefect_polars_cloud.compute.presets import PresetError, load_presets
from prefect_polars_cloud.config.project import env_prefix, get_settings
from prefect_polars_cloud.local.cli import main

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
        ("QUERY_TIMEOUT_MINS", "0", f"{ENV_PREFIX}QUERY_TIMEOUT_MINS=0 is under the 1-minute"),
        ("QUERY_TIMEOUT_MINS", "0.0001", "every query would be cancelled before it could finish"),
        ("QUERY_TIMEOUT_MINS", "nan", "set it to 1 or more"),
        ("QUERY_RETRIES", "-1", "greater than or equal to 0"),
    ],
)
def test_bad_values_are_refused_with_the_reason(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(f"{ENV_PREFIX}{variable}", value)
    with pytest.raises(ValidationError, match=message):
        Settings()


def test_a_query_timeout_of_a_minute_or_more_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(f"{ENV_PREFIX}QUERY_TIMEOUT_MINS", "1")
    assert Settings().query_timeout_mins == 1


def test_future_and_empty_days_are_off_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    assert (Settings().allow_future_days, Settings().allow_empty_days) == (False, False)
    monkeypatch.setenv(f"{ENV_PREFIX}ALLOW_FUTURE_DAYS", "true")
    monkeypatch.setenv(f"{ENV_PREFIX}ALLOW_EMPTY_DAYS", "true")
    assert (Settings().allow_future_days, Settings().allow_empty_days) == (True, True)


def test_a_bad_variable_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(f"{ENV_PREFIX}QUERY_RETRIES", "abc")
    get_settings.cache_clear()

    assert main(["doctor"]) == 1

    err = capsys.readouterr().err
    assert err.count("ERROR:") == 1 and len(err.strip().splitlines()) == 1, err
    assert f"{ENV_PREFIX}QUERY_RETRIES: " in err and "abc" not in err


def test_a_bad_override_names_the_override_not_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(f"{ENV_PREFIX}PRESET_LARGE_CPUS", "abc")

    with pytest.raises(PresetError) as refused:
        load_presets(get_settings())

    assert str(refused.value).startswith(f"{ENV_PREFIX}PRESET_LARGE_CPUS (overriding [large] cpus")
