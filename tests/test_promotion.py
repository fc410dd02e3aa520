"""Bakes of several environments: their files, and CI's promotion from staging to production.

A push to main deploys the environments before production (building the image once and tagging
its digest with the commit); a release tag deploys production in the `production` GitHub
environment on that digest, building nothing. The workflow is read as GitHub reads it, linted
with actionlint and zizmor, and its deploy scripts run under bash with stand-ins for uv and
docker that record what they were asked.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from helpers import Baked, answers_for, clean_environment, describe, generated_files, run, run_ok
from helpers import bake as bake_into
from test_bake import TEMPLATE_SYNTAX, expected_files
# The docs' and the library's checks of every bake, run again on these bakes (this module's `baked`).
from test_bake import (  # noqa: F401 - collected here by pytest
    test_every_make_target_the_docs_name_exists,
    test_every_relative_link_in_the_docs_resolves,
    test_no_jinja_is_left_in_the_readme_or_docs,
    test_the_library_is_the_same_bytes_in_every_bake,
    test_the_readme_is_short_and_links_every_doc,
)
from test_deploy import tool

CASES = {
    "staging-docker": {"environments": "staging,production"},
    "qa-staging-process": {"environments": "qa, staging,production", "work_pool_type": "process"},
    "staging-ecs": {
        "environments": "production,staging",
        "work_pool_type": "ecs",
        "image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/daily-reports",
    },
}
ENVIRONMENT_FILES = {"environments.toml", "tests/test_environments.py"}
COMMIT = "0123456789abcdef0123456789abcdef01234567"
DIGEST = "sha256:" + "ab" * 32


@pytest.fixture(scope="module", params=sorted(CASES))
def baked(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Baked:
    """Bake one case of several environments, once per module."""
    answers = CASES[request.param]
    return Baked(bake_into(tmp_path_factory.mktemp(f"env-{request.param}"), answers), answers_for(answers))


def workflow(baked: Baked) -> dict:
    """Return the bake's CI workflow as GitHub reads it."""
    return yaml.safe_load((baked.path / ".github/workflows/ci.yml").read_text(encoding="utf-8"))


def before_production(baked: Baked) -> list[str]:
    """Return the environments other than production, in the order answered."""
    names = [name.strip() for name in baked.answers["environments"].split(",")]
    return [name for name in names if name != "production"]


def test_the_bake_adds_the_environments_files(baked: Baked) -> None:
    assert generated_files(baked.path) == expected_files(baked.answers) | ENVIRONMENT_FILES
    leftovers = [
        f"{relative}: {marker!r}"
        for relative in sorted(generated_files(baked.path))
        for marker in TEMPLATE_SYNTAX
        if marker in (baked.path / relative).read_text(encoding="utf-8")
    ]
    assert not leftovers


def test_actionlint_and_zizmor_find_nothing(baked: Baked) -> None:
    run_ok([tool("actionlint"), "-no-color", ".github/workflows/ci.yml"], baked.path)
    run_ok([tool("zizmor"), "--offline", "--no-progress", ".github/workflows/ci.yml"], baked.path)


def test_main_deploys_staging_and_a_release_tag_deploys_production_in_its_environment(
    baked: Baked,
) -> None:
    jobs = workflow(baked)["jobs"]
    staging, production = jobs["deploy-staging"], jobs["deploy-production"]

    assert set(jobs) == {"check", "deploy-staging", "deploy-production"}
    assert staging["needs"] == production["needs"] == "check", "nothing deploys untested code"
    assert staging["if"] == "github.event_name == 'push' && github.ref == 'refs/heads/main'"
    assert production["if"] == "github.event_name == 'push' && startsWith(github.ref, 'refs/tags/v')"
    assert staging["environment"] == before_production(baked)[0]
    assert production["environment"] == "production", "where reviewers can be required"
    for job in (staging, production):
        assert job["permissions"] == {"contents": "read"}, "least privilege"
        assert job["concurrency"]["cancel-in-progress"] is False
        for step in job["steps"]:
            uses = step.get("uses")
            assert uses is None or len(uses.split("@")[1].split()[0]) == 40, f"pinned by SHA: {uses}"
    deployed = " ".join(step.get("run", "") for step in staging["steps"])
    for name in before_production(baked):
        assert f"deployments --env {name})" in deployed
    assert "--env production" not in deployed and "--production" not in deployed


def deploy_scripts(baked: Baked, job: str) -> list[str]:
    """Return the run scripts of one job's steps that talk to Prefect or the registry."""
    steps = workflow(baked)["jobs"][job]["steps"]
    return [step["run"] for step in steps if "run" in step and ("prefect" in step["run"] or "imagetools" in step["run"])]


# Stand-ins for uv and docker: each records its command line in $CALLS; `deployed-image` prints
# the image the staging deployments run, `deployments --env` a name, `imagetools inspect` the
# digest (or fails, when NO_DIGEST is set, as for a commit staging never ran).
FAKE_UV = """#!/usr/bin/env bash
printf 'uv %s\\n' "$*" >> "$CALLS"
if [[ " $* " == *" deployed-image "* ]]; then echo "registry.example.com/reports:2026-01-01t00-00-00"; fi
if [[ " $* " == *" deployments --env "* ]]; then echo "daily-report-${*: -1}"; fi
exit 0
"""
FAKE_DOCKER = """#!/usr/bin/env bash
printf 'docker %s\\n' "$*" >> "$CALLS"
if [[ "$*" == "buildx imagetools inspect"* ]]; then
    [[ -n "${NO_DIGEST:-}" ]] && { echo "ERROR: not found" >&2; exit 1; }
    echo "\\"$DIGEST\\""
fi
exit 0
"""


def run_job(baked: Baked, job: str, tmp_path: Path, **env: str) -> tuple[int, list[str], str]:
    """Run a job's deploy scripts in order under `bash -eo pipefail`, as GitHub does; return calls."""
    bin_dir, calls = tmp_path / "bin", tmp_path / "calls"
    bin_dir.mkdir(exist_ok=True)
    for name, text in (("uv", FAKE_UV), ("docker", FAKE_DOCKER)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    calls.write_text("")
    environment = clean_environment(
        PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", CALLS=str(calls), COMMIT=COMMIT, DIGEST=DIGEST, **env
    )
    for script in deploy_scripts(baked, job):
        result = run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], baked.path, env=environment)
        if result.returncode != 0:
            return result.returncode, calls.read_text().splitlines(), describe(result)
    return 0, calls.read_text().splitlines(), ""


def test_production_deploys_the_digest_staging_ran_and_builds_nothing(baked: Baked, tmp_path: Path) -> None:
    slug = baked.answers["project_slug"]
    code, calls, output = run_job(baked, "deploy-production", tmp_path)

    assert code == 0, output
    deploys = [call for call in calls if " prefect " in f" {call} " and " deploy " in f"{call} "]
    assert len(deploys) == 1, calls
    assert not [call for call in calls if call.startswith(("docker build ", "docker buildx build"))], "no rebuild"
    if baked.answers["work_pool_type"] == "process":
        assert deploys[0].endswith("deploy --name daily-report-production"), calls
        return
    # The commit's tag, written by the staging job, names the digest production deploys.
    repository = "registry.example.com/reports"
    assert f"docker buildx imagetools inspect {repository}:commit-{COMMIT} --format {{{{json .Manifest.Digest}}}}" in calls
    assert f"uv run --locked {slug} promote --env production --image {repository}@{DIGEST}" in calls
    assert deploys == ["uv run --locked prefect --no-prompt deploy --prefect-file prefect.promoted.yaml --all"]


@pytest.mark.parametrize("case", ["staging-docker"])
def test_a_commit_staging_never_ran_deploys_nothing(case: str, tmp_path: Path) -> None:
    baked = Baked(bake_into(tmp_path / "bake", CASES[case]), answers_for(CASES[case]))
    code, calls, output = run_job(baked, "deploy-production", tmp_path, NO_DIGEST="1")

    assert code != 0, calls
    assert not [call for call in calls if "prefect --no-prompt deploy" in call], calls


def test_staging_tags_its_digest_with_the_commit_and_deploys_staging_alone(baked: Baked, tmp_path: Path) -> None:
    code, calls, output = run_job(baked, "deploy-staging", tmp_path)

    assert code == 0, output
    deploys = [call for call in calls if "prefect --no-prompt deploy" in call]
    assert deploys == [f"uv run --locked prefect --no-prompt deploy --name daily-report-{name}" for name in before_production(baked)]
    if baked.answers["work_pool_type"] != "process":
        repository = "registry.example.com/reports"
        assert f"docker buildx imagetools create --tag {repository}:commit-{COMMIT} {repository}@{DIGEST}" in calls


def test_env_picks_the_environment_of_the_operations_and_the_local_targets_ignore_it(baked: Baked) -> None:
    prefix = baked.answers["package_name"].upper() + "_"
    name = before_production(baked)[0]

    def planned(*arguments: str) -> str:
        return run_ok(["make", "-n", *arguments, f"ENV={name}"], baked.path).stdout

    for target in ("doctor", "alerts", "backfill START=2026-01-01"):
        assert f"{prefix}ENV={name} " in planned(*target.split()), target
    assert f"deployments --env {name}" in planned("deploy")
    for target in ("run", "sample-data", "test"):
        assert "ENV=" not in planned(target) and "--env" not in planned(target), target
