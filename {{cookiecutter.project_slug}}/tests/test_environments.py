"""The environments of environments.toml: each run takes its own prefix, secret and presets,
and refuses another's, whatever started it.

How environments are read and overridden is the library's (config/environments.py); these
tests hold for this project's declaration, whichever environments it names.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from uuid import uuid4

import pytest
import yaml

from prefect_polars_cloud import Settings as LibrarySettings
from prefect_polars_cloud.compute.presets import PresetError, load_presets
from prefect_polars_cloud.config.environments import (
    EnvironmentsError,
    load_environments,
    refuse_other_environments,
)
from prefect_polars_cloud.config.project import get_settings
from prefect_polars_cloud.local.cli import main
from prefect_polars_cloud.operations.alerts import automation_names, automations
from prefect_polars_cloud.operations.deployments import (
    environment_drift,
    environment_names,
    environment_of,
    is_local,
    read_deployments,
)
from prefect_polars_cloud.operations.names import default_deployment
from prefect_polars_cloud.testing import SAMPLE_DAYS
from prefect_polars_cloud.testing.polars_cloud_sim import PolarsCloudSimulator

from {{ cookiecutter.package_name }}.settings import ENV_PREFIX, Settings

from flows.daily_report import daily_report

ROOT = Path(__file__).resolve().parent.parent
DECLARED = tomllib.loads((ROOT / "environments.toml").read_text(encoding="utf-8"))
OTHERS = sorted(name for name in DECLARED if name != "production")


def run_as(name: str, monkeypatch: pytest.MonkeyPatch) -> LibrarySettings:
    """Make this test's runs belong to environment name (<PREFIX>ENV); return their settings."""
    monkeypatch.setenv(f"{ENV_PREFIX}ENV", name)
    get_settings.cache_clear()
    return get_settings()


def test_production_is_the_answers_given_at_generation() -> None:
    production = load_environments(Settings())["production"]
    defaults = Settings()
    assert (production.data_uri, production.secret_name) == (
        defaults.data_uri,
        defaults.secret_name,
    )
    assert get_settings().env == "production", "unset means production"
    assert get_settings().data_uri == production.data_uri


@pytest.mark.parametrize("name", OTHERS)
def test_a_run_of_an_environment_takes_its_prefix_secret_and_smaller_presets(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    production = load_presets(get_settings())
    settings = run_as(name, monkeypatch)
    declared = DECLARED[name]
    assert (settings.data_uri, settings.secret_name) == (
        declared["data_uri"],
        declared["secret_name"],
    )
    assert settings.source_uri == f"{declared['data_uri']}/raw"
    assert settings.data_uri != DECLARED["production"]["data_uri"]
    presets = load_presets(settings)
    for preset, fields in declared.get("presets", {}).items():
        for field, value in fields.items():
            assert getattr(presets[preset], field) == value
            assert value <= getattr(production[preset], field), (
                f"{name} is not larger than production"
            )


def test_one_field_is_overridden_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    name = OTHERS[0]
    variable = f"{ENV_PREFIX}ENVIRONMENT_{name.upper().replace('-', '_')}_DATA_URI"
    monkeypatch.setenv(variable, "s3://another-bucket/reports")
    run_as(name, monkeypatch)
    assert get_settings().output_uri == "s3://another-bucket/reports/reports"


def test_a_wrong_value_names_the_file_the_environment_and_the_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    broken = tmp_path / "environments.toml"
    text = (ROOT / "environments.toml").read_text(encoding="utf-8")
    broken.write_text(text.replace('schedule = "off"', 'schedule = "daily"', 1), encoding="utf-8")
    monkeypatch.setenv(f"{ENV_PREFIX}ENVIRONMENTS_FILE", str(broken))
    with pytest.raises(EnvironmentsError, match=rf"{broken}: \[{OTHERS[0]}\] schedule"):
        load_environments(Settings())


def test_a_wrong_preset_value_of_an_environment_names_its_table_in_environments_toml(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    name = OTHERS[0]
    preset = next(iter(tomllib.loads((ROOT / "presets.toml").read_text(encoding="utf-8"))))
    lines = []
    for environment, fields in DECLARED.items():  # the declaration, one preset value made wrong
        lines.append(f"[{environment}]")
        lines += [
            f"{key} = {json.dumps(value)}" for key, value in fields.items() if key != "presets"
        ]
    broken = tmp_path / "environments.toml"
    broken.write_text("\n".join([*lines, f"[{name}.presets.{preset}]", "cpus = 0", ""]))
    monkeypatch.setenv(f"{ENV_PREFIX}ENVIRONMENTS_FILE", str(broken))
    run_as(name, monkeypatch)
    table = rf"\[{name}\.presets\.{preset}\]"
    with pytest.raises(PresetError, match=rf"^{re.escape(str(broken))}: {table} cpus "):
        load_presets(get_settings())


def test_an_undeclared_environment_is_refused_with_the_declared_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(f"{ENV_PREFIX}ENV", "qa-nowhere")
    assert main(["doctor"]) == 1


def test_a_run_pointed_at_production_fails_before_any_cluster_with_one_error_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = OTHERS[0]
    production = tmp_path / "production"
    monkeypatch.setenv(f"{ENV_PREFIX}ENVIRONMENT_PRODUCTION_DATA_URI", str(production))
    monkeypatch.setenv(f"{ENV_PREFIX}ENV", name)

    code = main(["run", "--output", str(production / "reports"), "--days", "1"])

    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("ERROR:")]
    assert code == 1
    assert len(errors) == 1, errors
    assert f"a {name} run may not use" in errors[0] and "production's prefix" in errors[0]
    assert f"{ENV_PREFIX}ENV=production" in errors[0], "says what to do"
    assert not production.exists(), "nothing written under production's prefix"


@pytest.mark.parametrize("by", ["parameter", "variable"])
def test_a_cloud_run_may_not_cross_into_production_however_it_is_pointed(
    by: str, monkeypatch: pytest.MonkeyPatch, cloud_mode: PolarsCloudSimulator, s3_data: str
) -> None:
    name = OTHERS[0]
    monkeypatch.setenv(f"{ENV_PREFIX}ENVIRONMENT_PRODUCTION_DATA_URI", s3_data)
    monkeypatch.setenv(
        f"{ENV_PREFIX}ENVIRONMENT_{name.upper().replace('-', '_')}_DATA_URI", f"{s3_data}-{name}"
    )
    monkeypatch.setenv(f"{ENV_PREFIX}ENV", name)
    parameters = {"source_uri": f"{s3_data}/raw", "output_uri": f"{s3_data}/reports"}
    if by == "variable":
        monkeypatch.setenv(f"{ENV_PREFIX}DATA_URI", s3_data)
        parameters = {}
    get_settings.cache_clear()

    with pytest.raises(EnvironmentsError, match=f"a {name} run may not use .* production's prefix"):
        daily_report(start="2024-01-01", **parameters)

    assert cloud_mode.calls == [], "no login, no cluster"


def test_a_run_may_not_use_production_s_secret(
    monkeypatch: pytest.MonkeyPatch, cloud_mode: PolarsCloudSimulator, s3_data: str
) -> None:
    name = OTHERS[0]
    monkeypatch.setenv(
        f"{ENV_PREFIX}ENVIRONMENT_{name.upper().replace('-', '_')}_DATA_URI", s3_data
    )
    monkeypatch.setenv(f"{ENV_PREFIX}ENV", name)
    monkeypatch.setenv(f"{ENV_PREFIX}SECRET_NAME", DECLARED["production"]["secret_name"])
    get_settings.cache_clear()

    with pytest.raises(EnvironmentsError, match="may not use production's secret"):
        daily_report(start="2024-01-01")

    assert cloud_mode.calls == []


def test_prefect_yaml_holds_each_deployment_once_per_environment() -> None:
    # Derived, never written twice: a deployment missing, extra, or on another prefix, pool or
    # schedule than environments.toml says fails here with prefect.yaml's file and line.
    environments = load_environments(Settings())
    assert environment_drift(ROOT / "prefect.yaml", environments, ENV_PREFIX) == []
    for name in environments:
        assert environment_names(ROOT / "prefect.yaml", name, ENV_PREFIX), name


def test_a_deployment_that_drifts_is_named_with_its_file_and_line(tmp_path: Path) -> None:
    name = OTHERS[0]
    declared = DECLARED[name]["data_uri"]
    drifted = tmp_path / "prefect.yaml"
    text = (ROOT / "prefect.yaml").read_text(encoding="utf-8")
    drifted.write_text(
        text.replace(f"{declared}/reports", "s3://somewhere-else/reports"), encoding="utf-8"
    )
    line = next(
        number
        for number, row in enumerate(text.splitlines(), start=1)
        if row.strip() == f"- name: daily-report-{name}"
    )

    problems = environment_drift(drifted, load_environments(Settings()), ENV_PREFIX)

    assert problems == [
        f"{drifted}:{line}: daily-report-{name}: parameter output_uri is "
        f"'s3://somewhere-else/reports', not '{declared}/reports'"
    ]
    missing = tmp_path / "missing.yaml"
    missing.write_text(
        text.replace(f"- name: daily-report-{name}", "- name: daily-report-qa"), encoding="utf-8"
    )
    problems = environment_drift(missing, load_environments(Settings()), ENV_PREFIX)
    assert any(f"has no {name} twin" in problem for problem in problems), problems
    assert any("daily-report-qa belongs to no declared environment" in p for p in problems), (
        problems
    )


def test_the_alerts_of_an_environment_name_it_and_match_its_runs_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    name = OTHERS[0]
    settings = run_as(name, monkeypatch)

    assert all(f"({name})" in automation for automation in automation_names(settings))
    for automation in automations(settings, uuid4(), "http://prefect.example"):
        related = [
            spec.model_dump()["prefect.resource.id"] for spec in automation.trigger.match_related
        ]
        assert related == [f"prefect.tag.{settings.label}", f"prefect.tag.{name}"]
        notification = automation.actions[0]
        assert notification.subject.startswith(f"[{name}] ")
        assert notification.body.startswith(f"Environment: {name}\n")


def test_clusters_and_manifests_of_an_environment_carry_its_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    name = OTHERS[0]
    settings = run_as(name, monkeypatch)
    for preset in load_presets(settings).values():
        assert name in preset.context_keywords(settings)["labels"]
        assert preset.compute_name(settings) == f"{settings.label}-{name}-{preset.name}"


@pytest.mark.parametrize("name", ["production", OTHERS[0]])
def test_a_run_of_an_environment_labels_its_queries_and_clusters_with_it(
    name: str, monkeypatch: pytest.MonkeyPatch, cloud_mode: PolarsCloudSimulator, s3_data: str
) -> None:
    variable = f"{ENV_PREFIX}ENVIRONMENT_{name.upper().replace('-', '_')}_DATA_URI"
    monkeypatch.setenv(variable, s3_data)  # its prefix: where the sample inputs are
    run_as(name, monkeypatch)

    daily_report(start=SAMPLE_DAYS[0])

    assert cloud_mode.queries, "the run sent its queries"
    for query in cloud_mode.queries.values():
        assert query.labels is not None and query.labels[-1] == name, query.labels
        assert name in query.cluster.labels, query.cluster.labels
        assert query.cluster.preset in load_presets(get_settings()), query.cluster.labels


def test_production_is_promoted_on_an_image_already_built(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # CI's release job: production's deployments alone, no build or push, on the digest given.
    image = "registry.example.com/reports@sha256:" + "0" * 64

    assert main(["promote", "--env", "production", "--image", image]) == 0

    promoted = yaml.safe_load(capsys.readouterr().out)
    production = [
        item
        for item in read_deployments(ROOT / "prefect.yaml")
        if environment_of(item, ENV_PREFIX) == "production" and not is_local(item)
    ]
    assert [item["name"] for item in promoted["deployments"]] == [d["name"] for d in production]
    for deployment in promoted["deployments"]:
        assert (deployment["build"], deployment["push"]) == ([], []), "nothing built"
        assert deployment["work_pool"]["job_variables"]["image"] == image
        assert deployment["work_pool"]["job_variables"]["env"][f"{ENV_PREFIX}ENV"] == "production"
    assert promoted.get("build") is None and promoted.get("push") is None


def test_the_release_job_reads_the_image_staging_runs_from_the_api(
    prefect_api: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from prefect import get_client

    name = OTHERS[0]
    image = f"registry.example.com/reports:{uuid4().hex}"
    with get_client(sync_client=True) as client:
        flow_id = client.create_flow_from_name("daily-report")
        for deployment in environment_names(ROOT / "prefect.yaml", name, ENV_PREFIX):
            client.create_deployment(flow_id, deployment, job_variables={"image": image})

    assert main(["deployed-image", "--env", name]) == 0
    assert capsys.readouterr().out.strip() == image
    assert main(["deployed-image", "--env", "nowhere"]) == 1, "no deployment, no image"
    assert "deploy nowhere first (`make deploy ENV=nowhere`)" in capsys.readouterr().err


@pytest.mark.skipif(
    "iceberg_table" not in DECLARED["production"], reason="the report is not an Iceberg table"
)
def test_each_environment_writes_an_iceberg_table_of_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    name = OTHERS[0]
    run_as(name, monkeypatch)
    assert get_settings().iceberg_table == DECLARED[name]["iceberg_table"]
    assert get_settings().iceberg_table != DECLARED["production"]["iceberg_table"]

    monkeypatch.setenv(f"{ENV_PREFIX}ICEBERG_TABLE", DECLARED["production"]["iceberg_table"])
    get_settings.cache_clear()
    with pytest.raises(EnvironmentsError, match="may not write production's Iceberg table"):
        refuse_other_environments(get_settings(), f"{DECLARED[name]['data_uri']}/reports")


def test_a_backfill_goes_to_its_environment_s_deployment() -> None:
    for name in DECLARED:
        wanted = "daily-report" if name == "production" else f"daily-report-{name}"
        found = default_deployment(environment=name, prefix=ENV_PREFIX)
        assert found == f"daily-report/{wanted}", name
