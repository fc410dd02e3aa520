"""The pre-gen hook: every bad answer stops the real CLI with an ERROR line and leaves nothing behind."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from helpers import TEMPLATE, answers_for, render_hook, run

# (answers, the key the ERROR line must name). One case per rule of CONTRACT §2.
INVALID = [
    pytest.param({"project_name": ""}, "project_name", id="empty-name"),
    pytest.param({"project_name": "Daily\nReports"}, "project_name", id="name-on-two-lines"),
    pytest.param({"project_slug": "Daily-Reports"}, "project_slug", id="slug-uppercase"),
    pytest.param({"project_slug": "daily--reports"}, "project_slug", id="slug-double-hyphen"),
    pytest.param({"project_slug": "-daily"}, "project_slug", id="slug-leading-hyphen"),
    pytest.param({"project_slug": "daily-"}, "project_slug", id="slug-trailing-hyphen"),
    pytest.param({"project_slug": "9lives"}, "project_slug", id="slug-leading-digit"),
    pytest.param({"project_slug": "d"}, "project_slug", id="slug-one-letter"),
    pytest.param({"project_slug": "daily_reports"}, "project_slug", id="slug-underscore"),
    # cookiecutter itself would fail with `OSError: File name too long` and a traceback.
    pytest.param({"project_name": "Reports " * 40}, "project_slug", id="name-of-320-characters"),
    pytest.param({"project_slug": "a" * 65}, "project_slug", id="slug-of-65-characters"),
    pytest.param({"package_name": "a" * 65}, "package_name", id="package-of-65-characters"),
    pytest.param({"package_name": "class"}, "package_name", id="package-keyword"),
    pytest.param({"package_name": "match"}, "package_name", id="package-soft-keyword"),
    pytest.param({"package_name": "1reports"}, "package_name", id="package-not-identifier"),
    pytest.param({"package_name": "daily-reports"}, "package_name", id="package-hyphen"),
    pytest.param({"package_name": "Daily"}, "package_name", id="package-uppercase"),
    pytest.param({"package_name": "json"}, "package_name", id="package-shadows-stdlib"),
    pytest.param({"package_name": "polars"}, "package_name", id="package-shadows-polars"),
    pytest.param({"package_name": "tests"}, "package_name", id="package-shadows-tests"),
    pytest.param(
        {"secret_backend": "prefect-secret", "secret_name": "Polars_Cloud"},
        "secret_name",
        id="prefect-secret-bad-block-name",
    ),
    pytest.param({"secret_name": "my secret"}, "secret_name", id="aws-secret-id-with-space"),
    pytest.param({"secret_name": ""}, "secret_name", id="secret-name-empty"),
    pytest.param({"aws_region": "US-EAST-1"}, "aws_region", id="region-uppercase"),
    pytest.param({"aws_region": "useast1"}, "aws_region", id="region-no-hyphens"),
    pytest.param({"small_cpus": "two"}, "small_cpus", id="cpus-not-integer"),
    pytest.param({"small_cpus": "0"}, "small_cpus", id="cpus-zero"),
    pytest.param({"small_memory": "-4"}, "small_memory", id="memory-negative"),
    pytest.param({"large_cpus": "4.5"}, "large_cpus", id="cpus-fraction"),
    pytest.param({"large_memory": ""}, "large_memory", id="memory-empty"),
    pytest.param({"large_cluster_size": "0"}, "large_cluster_size", id="cluster-size-zero"),
    pytest.param({"large_cpus": "1"}, "large_cpus", id="large-cpus-below-small"),
    pytest.param({"small_memory": "32"}, "large_memory", id="large-memory-below-small"),
    pytest.param({"idle_timeout_mins": "9"}, "idle_timeout_mins", id="idle-timeout-9"),
    pytest.param({"idle_timeout_mins": "ten"}, "idle_timeout_mins", id="idle-timeout-not-integer"),
    pytest.param({"workspace": "team\nother"}, "workspace", id="workspace-on-two-lines"),
    pytest.param({"data_uri": "/srv/daily-reports"}, "data_uri", id="data-uri-local-path"),
    pytest.param({"data_uri": "s3://my-bucket/reports/"}, "data_uri", id="data-uri-trailing-slash"),
    pytest.param({"data_uri": "https://example.com/reports"}, "data_uri", id="data-uri-http"),
    pytest.param({"data_uri": "s3://my bucket/reports"}, "data_uri", id="data-uri-space"),
    pytest.param({"work_pool": "docker pool"}, "work_pool", id="work-pool-space"),
    pytest.param({"work_pool": "-pool"}, "work_pool", id="work-pool-leading-hyphen"),
    pytest.param({"image": "Daily-Reports"}, "image", id="image-uppercase"),
    pytest.param({"image": "daily-reports:latest"}, "image", id="image-with-tag"),
    pytest.param({"schedule_cron": "0 6 * *"}, "schedule_cron", id="cron-four-fields"),
    pytest.param({"schedule_cron": "at six daily"}, "schedule_cron", id="cron-words"),
    pytest.param({"schedule_cron": "60 6 * * *"}, "schedule_cron", id="cron-minute-60"),
    pytest.param({"schedule_cron": "0 24 * * *"}, "schedule_cron", id="cron-hour-24"),
    pytest.param({"schedule_cron": "0 6 * 13 *"}, "schedule_cron", id="cron-month-13"),
    pytest.param({"ecs_task_role_arn": "daily-reports-task"}, "ecs_task_role_arn", id="ecs-role-not-arn"),
    pytest.param(
        {"ecs_execution_role_arn": "arn:aws:iam::12345:role/x"},
        "ecs_execution_role_arn",
        id="ecs-role-short-account",
    ),
    pytest.param(
        {"ecs_task_role_arn": "arn:aws:iam::123456789012:user/x"}, "ecs_task_role_arn", id="ecs-role-is-a-user"
    ),
    pytest.param({"kubernetes_namespace": "Data"}, "kubernetes_namespace", id="namespace-uppercase"),
    pytest.param({"kubernetes_namespace": "a" * 64}, "kubernetes_namespace", id="namespace-64-chars"),
    pytest.param({"kubernetes_namespace": "data.jobs"}, "kubernetes_namespace", id="namespace-dot"),
    pytest.param(
        {"kubernetes_service_account": "runner_1"}, "kubernetes_service_account", id="service-account-underscore"
    ),
    pytest.param({"environments": "staging"}, "environments", id="environments-without-production"),
    pytest.param({"environments": "Staging,production"}, "environments", id="environments-uppercase"),
    pytest.param({"environments": "qa,production,qa"}, "environments", id="environments-duplicate"),
    pytest.param({"environments": "staging,,production"}, "environments", id="environments-empty-name"),
    pytest.param({"environments": "pre_prod,production"}, "environments", id="environments-underscore"),
]

# Answers at the edge of each rule that must still be accepted.
ACCEPTED = [
    pytest.param({}, id="defaults"),
    pytest.param({"project_name": "Zoë's \"Daily\" \\ Reports — 日報"}, id="unicode-name"),
    pytest.param({"project_slug": "r2-d2", "package_name": "r2_d2"}, id="slug-with-digits"),
    pytest.param({"project_slug": "a" * 64}, id="slug-of-64-characters"),
    pytest.param(
        {"secret_name": "arn:aws:secretsmanager:eu-west-2:123456789012:secret:prod/polars-AbCdEf"},
        id="secret-arn",
    ),
    pytest.param({"secret_backend": "prefect-secret", "secret_name": "sa-2"}, id="block-name"),
    pytest.param({"aws_region": "us-gov-west-1"}, id="region-govcloud"),
    pytest.param({"small_cpus": "4", "small_memory": "16"}, id="large-equals-small"),
    pytest.param({"idle_timeout_mins": "10"}, id="idle-timeout-10"),
    pytest.param({"data_uri": "abfss://container@account.dfs.core.windows.net/x"}, id="data-uri-azure"),
    pytest.param({"image": "registry.example.com:5000/acme/daily_reports"}, id="image-registry-port"),
    pytest.param({"work_pool": "k8s.pool_1"}, id="work-pool-dots"),
    pytest.param({"work_pool_type": "ecs"}, id="ecs-pool-roles"),
    pytest.param(
        {
            "work_pool_type": "ecs",
            "ecs_task_role_arn": "arn:aws-us-gov:iam::123456789012:role/path/to/task",
            "ecs_execution_role_arn": "arn:aws:iam::123456789012:role/exec",
        },
        id="ecs-role-arns-with-path-and-partition",
    ),
    pytest.param(
        {"work_pool_type": "kubernetes", "kubernetes_namespace": "a" * 63, "kubernetes_service_account": "a.b-c"},
        id="kubernetes-names-at-the-edge",
    ),
    pytest.param({"work_pool_type": "process", "alerts": "webhook"}, id="process-with-webhook-alerts"),
    pytest.param({"schedule_cron": "*/15 0-23/2 1,15 jan-dec mon-fri"}, id="cron-steps-lists-names"),
    pytest.param({"schedule_cron": "0 6 * * 7"}, id="cron-sunday-as-7"),
    pytest.param({"output_format": "iceberg"}, id="output-format-iceberg"),
    pytest.param({"environments": "staging, production"}, id="environments-with-space"),
    pytest.param({"environments": "production,qa-2"}, id="environments-hyphen-digit"),
]


def cookiecutter_cli(*arguments: str, cwd: Path) -> tuple[int, str]:
    """Run the real CLI from this environment, with no stdin; return exit code and all output."""
    result = run([sys.executable, "-m", "cookiecutter", *arguments], cwd, timeout=120)
    return result.returncode, result.stdout + result.stderr


def error_lines(output: str) -> list[str]:
    """Return the lines that start with ERROR:."""
    return [line for line in output.splitlines() if line.startswith("ERROR:")]


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    """Return an empty directory to run cookiecutter in, with `-o out`."""
    (tmp_path / "sandbox").mkdir()
    return tmp_path / "sandbox"


def left_behind(sandbox: Path) -> list[str]:
    """Return whatever generation left in the sandbox besides an empty output directory `out`."""
    return sorted(
        path.relative_to(sandbox).as_posix()
        for path in sandbox.rglob("*")
        if not (path == sandbox / "out" and not any(path.iterdir()))
    )


@pytest.mark.parametrize(("answers", "key"), INVALID)
def test_bad_answer_stops_generation(answers: dict[str, str], key: str, sandbox: Path) -> None:
    pairs = [f"{name}={value}" for name, value in answers.items()]
    code, output = cookiecutter_cli("--no-input", str(TEMPLATE), *pairs, "-o", "out", cwd=sandbox)
    assert code != 0, output
    assert [line for line in error_lines(output) if re.search(rf"\b{key}\b", line)], output
    assert left_behind(sandbox) == []


def test_every_problem_is_reported_at_once(sandbox: Path) -> None:
    pairs = ["aws_region=mars", "idle_timeout_mins=5", "image=Bad Image"]
    code, output = cookiecutter_cli("--no-input", str(TEMPLATE), *pairs, "-o", "out", cwd=sandbox)
    assert code != 0
    named = {key for key in ("aws_region", "idle_timeout_mins", "image") for line in error_lines(output) if key in line}
    assert named == {"aws_region", "idle_timeout_mins", "image"}, output


@pytest.mark.parametrize(
    ("key", "value"),
    [("secret_backend", "vault"), ("register_blocks", "maybe"), ("output_format", "delta")],
    ids=["backend", "register", "output-format"],
)
def test_unknown_choice_on_the_command_line_is_refused_by_cookiecutter(
    key: str, value: str, sandbox: Path
) -> None:
    # cookiecutter checks choice answers itself, before the hook runs: its refusal is a
    # ValueError naming the key and the choices, not an ERROR: line.
    code, output = cookiecutter_cli("--no-input", str(TEMPLATE), f"{key}={value}", "-o", "out", cwd=sandbox)
    assert code != 0
    assert f"{value} provided for choice variable {key}" in output, output
    assert left_behind(sandbox) == []


@pytest.mark.parametrize(
    ("key", "value"),
    [("secret_backend", "vault"), ("register_blocks", "maybe"), ("output_format", "delta")],
    ids=["backend", "register", "output-format"],
)
def test_unknown_choice_in_a_replay_file_is_refused_by_the_hook(key: str, value: str, sandbox: Path) -> None:
    replay = sandbox.parent / "replay.json"
    answers = {**answers_for(), key: value}
    replay.write_text(json.dumps({"cookiecutter": answers}), encoding="utf-8")
    code, output = cookiecutter_cli("--replay-file", str(replay), str(TEMPLATE), "-o", "out", cwd=sandbox)
    assert code != 0
    assert [line for line in error_lines(output) if key in line], output
    assert left_behind(sandbox) == []


def test_slug_climbing_out_of_the_output_dir_leaves_nothing(sandbox: Path) -> None:
    code, output = cookiecutter_cli("--no-input", str(TEMPLATE), "project_slug=../escape", "-o", "out", cwd=sandbox)
    assert code != 0
    assert [line for line in error_lines(output) if "project_slug" in line], output
    assert left_behind(sandbox) == []


# cookiecutter creates the project directory (parents included) before the pre-gen hook runs,
# and on failure removes only the project directory itself. local_extensions.checked_slug
# stops such a slug while the answers render, before any directory exists.
SLASHED_SLUGS = [
    pytest.param("a/b", id="nested-inside-out"),
    pytest.param("../escape/inside", id="nested-outside-out"),
    pytest.param("{sandbox}/absolute/inside", id="absolute"),
]


@pytest.mark.parametrize("slug", SLASHED_SLUGS)
def test_slashed_slug_leaves_nothing(slug: str, sandbox: Path) -> None:
    slug = slug.format(sandbox=sandbox)
    code, output = cookiecutter_cli("--no-input", str(TEMPLATE), f"project_slug={slug}", "-o", "out", cwd=sandbox)
    assert code != 0
    assert [line for line in error_lines(output) if "project_slug" in line], output
    assert left_behind(sandbox) == []


@pytest.mark.parametrize("overrides", ACCEPTED)
def test_good_answers_pass_every_check(
    overrides: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hook = render_hook("pre_gen_project.py", answers_for(overrides), tmp_path)
    assert hook.main() == 0, capsys.readouterr().err
    assert error_lines(capsys.readouterr().err) == []
