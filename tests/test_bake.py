"""Bake every case of the option matrix and check what a user finds in the generated repository."""

from __future__ import annotations

import ast
import json
import re
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from helpers import (
    EXAMPLE_NAMES,
    TEMPLATE,
    Baked,
    generated_files,
    module_constant,
    run_ok,
    settings_defaults,
)

# THE expected tree. When a file is added to or removed from the generated repository, edit
# these lists (and nothing else in the tests): COMMON_FILES, PACKAGE_MODULES, LIBRARY_MODULES,
# TEST_FILES, BACKEND_FILES, FORMAT_FILES.
COMMON_FILES = (
    ".cookiecutter.json",
    ".dockerignore",
    ".env.example",
    ".github/workflows/ci.yml",
    ".gitignore",
    ".pre-commit-config.yaml",
    "Dockerfile",
    "Makefile",
    "README.md",
    "docs/data-layout.md",
    "docs/deploy.md",
    "docs/operations.md",
    "docs/pipeline.md",
    "docs/presets.md",
    "docs/secret-backends.md",
    "docs/settings.md",
    "docs/testing.md",
    "flows/daily_report.py",
    "prefect.yaml",
    "presets.toml",
    "pyproject.toml",
    "uv.lock",
)
# Under src/<package_name>/: the user's room.
PACKAGE_MODULES = (
    "__init__.py",
    "datasets.py",
    "project.py",
    "queries.py",
    "sample_data.py",
    "settings.py",
    "summary.py",
)
# Under src/prefect_polars_cloud/: the library, the same bytes in every bake.
LIBRARY_MODULES = (
    "__init__.py",
    "compute/__init__.py",
    "compute/cloud.py",
    "compute/clusters.py",
    "compute/evidence.py",
    "compute/local_sink.py",
    "compute/manifests.py",
    "compute/presets.py",
    "compute/probe.py",
    "compute/remote_sink.py",
    "compute/session.py",
    "compute/slots.py",
    "compute/waits.py",
    "config/__init__.py",
    "config/datasets.py",
    "config/days.py",
    "config/environments.py",
    "config/project.py",
    "config/settings.py",
    "credentials/__init__.py",
    "credentials/blocks.py",
    "credentials/service_account.py",
    "local/__init__.py",
    "local/cli.py",
    "local/console.py",
    "local/interrupts.py",
    "local/options.py",
    "local/runner.py",
    "local/sample_days.py",
    "local/server.py",
    "operations/__init__.py",
    "operations/alerts.py",
    "operations/backfill.py",
    "operations/deployments.py",
    "operations/doctor.py",
    "operations/names.py",
    "operations/promotion.py",
    "operations/zombies.py",
    "run/__init__.py",
    "run/daily_run.py",
    "run/flow_run.py",
    "run/handle.py",
    "run/retries.py",
    "run/stops.py",
    "storage/__init__.py",
    "storage/checks.py",
    "storage/files.py",
    "storage/iceberg/__init__.py",
    "storage/iceberg/catalog.py",
    "storage/iceberg/leftovers.py",
    "storage/iceberg/run_files.py",
    "storage/iceberg/table.py",
    "storage/iceberg/writes.py",
    "storage/input_errors.py",
    "storage/leftovers.py",
    "storage/publish.py",
    "storage/scan.py",
    "storage/summary.py",
    "testing/__init__.py",
    "testing/api_proxy.py",
    "testing/control_plane.py",
    "testing/flow_script.py",
    "testing/input_errors.py",
    "testing/plugin.py",
    "testing/polars_cloud_sim.py",
    "testing/scheduler.py",
    "testing/secret_stores.py",
    "testing/servers.py",
    "testing/signals.py",
    "testing/simulated_run.py",
    "testing/values.py",
)
# The pipeline's own tests and the integration; the library's tests are the template's
# (tests/library, run once by tests/test_library.py), not every bake's.
TEST_FILES = (
    "tests/__init__.py",
    "tests/conftest.py",
    "tests/reference.py",
    "tests/sim_site/sitecustomize.py",
    "tests/test_cluster_probe.py",
    "tests/test_crash_recovery.py",
    "tests/test_dockerfile.py",
    "tests/test_flow_cloud.py",
    "tests/test_flow_local.py",
    "tests/test_hung_api.py",
    "tests/test_input_errors.py",
    "tests/test_job_variables.py",
    "tests/test_leftovers.py",
    "tests/test_names.py",
    "tests/test_pipeline.py",
    "tests/test_prefect_yaml.py",
    "tests/test_presets.py",
    "tests/test_scheduler.py",
    "tests/test_sample_data.py",
    "tests/test_settings.py",
    "tests/test_stop_entries.py",
    "tests/test_stop_served.py",
    "tests/test_stops.py",
)
# Files only one backend keeps (post_gen's BACKEND_ONLY removes them for the others).
BACKEND_FILES: dict[str, tuple[str, ...]] = {
    "env": (),
    "aws-secrets-manager": (),
    "prefect-secret": (),
    "aws-secret-block": (),
}
# Files only one output format keeps (post_gen's FORMAT_ONLY removes them for the other).
FORMAT_FILES: dict[str, tuple[str, ...]] = {
    "parquet": (),
    "iceberg": ("docs/iceberg.md", "tests/test_iceberg.py"),
}
TEMPLATE_SYNTAX = ("{{ cookiecutter", "{{cookiecutter", "{%", "%}")


def expected_files(answers: dict[str, str]) -> set[str]:
    """Return every file the answers should generate, .git/ left out."""
    package = f"src/{answers['package_name']}"
    return {
        *COMMON_FILES,
        *(f"{package}/{module}" for module in PACKAGE_MODULES),
        *(f"src/prefect_polars_cloud/{module}" for module in LIBRARY_MODULES),
        *TEST_FILES,
        *BACKEND_FILES[answers["secret_backend"]],
        *FORMAT_FILES[answers["output_format"]],
    }


def read(baked: Baked, relative: str) -> str:
    """Return a generated file's text."""
    return (baked.path / relative).read_text(encoding="utf-8")


def test_the_tree_is_exactly_the_expected_one(baked: Baked) -> None:
    files = generated_files(baked.path)
    expected = expected_files(baked.answers)
    assert files == expected, (
        f"unexpected: {sorted(files - expected)}; missing: {sorted(expected - files)} "
        "(if intended, edit COMMON_FILES / PACKAGE_MODULES / LIBRARY_MODULES / TEST_FILES / BACKEND_FILES / FORMAT_FILES in tests/test_bake.py)"
    )


def test_the_directory_is_named_after_the_slug(baked: Baked) -> None:
    assert baked.path.name == baked.answers["project_slug"]


def test_no_template_syntax_survives(baked: Baked) -> None:
    leftovers = [
        f"{relative}: {marker!r}"
        for relative in sorted(generated_files(baked.path))
        for marker in TEMPLATE_SYNTAX
        if marker in read(baked, relative)
    ]
    assert not leftovers


LIBRARY = TEMPLATE / "{{cookiecutter.project_slug}}" / "src" / "prefect_polars_cloud"


def test_the_library_is_the_same_bytes_in_every_bake(baked: Baked) -> None:
    # Every case of the matrix (names, backends, pool types, presets) against the template's
    # own files: all bakes are byte-identical to it, hence to each other.
    generated = baked.path / "src" / "prefect_polars_cloud"
    source = {path.relative_to(LIBRARY): path.read_bytes() for path in LIBRARY.rglob("*.py")}
    baked_files = {path.relative_to(generated): path.read_bytes() for path in generated.rglob("*.py")}
    assert baked_files == source


def test_the_library_knows_no_example_name() -> None:
    found = [
        f"{path.relative_to(LIBRARY)}:{number}: {line.strip()}"
        for path in sorted(LIBRARY.rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if EXAMPLE_NAMES.search(line) or "cookiecutter" in line
    ]
    assert not found, "the library names the example (or cookiecutter):\n" + "\n".join(found)


def test_pyproject_parses_and_names_the_project(baked: Baked) -> None:
    pyproject = tomllib.loads(read(baked, "pyproject.toml"))
    slug, package = baked.answers["project_slug"], baked.answers["package_name"]
    assert pyproject["project"]["name"] == slug
    assert pyproject["project"]["description"].startswith(baked.answers["project_name"])
    assert pyproject["project"]["scripts"] == {slug: "prefect_polars_cloud.local.cli:main"}
    modules = pyproject["tool"]["uv"]["build-backend"]["module-name"]
    assert modules == [package, "prefect_polars_cloud"]
    # How the library finds the project: one entry point, naming the package's PROJECT.
    entry_points = pyproject["project"]["entry-points"]["prefect_polars_cloud"]
    assert entry_points == {"project": f"{package}.project:PROJECT"}


def test_only_the_chosen_backends_and_pool_types_libraries_install_by_default(baked: Baked) -> None:
    pyproject = tomllib.loads(read(baked, "pyproject.toml"))
    groups = pyproject["tool"]["uv"]["default-groups"]
    backend, pool_type = baked.answers["secret_backend"], baked.answers["work_pool_type"]
    optional = {"aws-secrets-manager", "aws-secret-block", "docker", "ecs", "kubernetes", "iceberg"}
    chosen = {backend, pool_type, baked.answers["output_format"]}
    assert set(groups) == {"dev"} | (chosen & optional)
    # pyiceberg is in the iceberg group only: a parquet project's runtime does not carry it.
    assert [item for item in pyproject["project"]["dependencies"] if "iceberg" in item] == []
    assert any(item.startswith("pyiceberg[") for item in pyproject["dependency-groups"]["iceberg"])
    # Each worker's library is in its own group, and in no group installed with another type's.
    workers = {"docker": "prefect-docker", "ecs": "prefect-aws", "kubernetes": "prefect-kubernetes"}
    for kind, library in workers.items():
        assert any(item.startswith(library) for item in pyproject["dependency-groups"][kind])
    assert not any("prefect-docker" in item for item in pyproject["dependency-groups"]["dev"])


def test_pre_commit_config_parses(baked: Baked) -> None:
    config = yaml.safe_load(read(baked, ".pre-commit-config.yaml"))
    assert config["repos"], "no hooks configured"


def test_every_data_file_parses(baked: Baked) -> None:
    parsers = {".toml": tomllib.loads, ".json": json.loads, ".yaml": yaml.safe_load, ".yml": yaml.safe_load}
    for relative in sorted(generated_files(baked.path)):
        parser = parsers.get(Path(relative).suffix)
        if parser is not None:
            try:
                parser(read(baked, relative))
            except Exception as error:  # noqa: BLE001 - name the file, whatever the parser raised
                pytest.fail(f"{relative} does not parse: {error}")


def test_every_python_file_compiles(baked: Baked) -> None:
    for relative in sorted(generated_files(baked.path)):
        if relative.endswith(".py"):
            try:
                ast.parse(read(baked, relative), filename=relative)
            except SyntaxError as error:
                pytest.fail(f"{relative} does not compile: {error}")


def deployments(baked: Baked) -> dict[str, dict]:
    """Return prefect.yaml's deployments by name."""
    prefect_yaml = baked.path / "prefect.yaml"
    assert prefect_yaml.is_file(), "the generated repository has no prefect.yaml (CONTRACT §3)"
    return {item["name"]: item for item in yaml.safe_load(read(baked, "prefect.yaml"))["deployments"]}


def steps(deployment: dict, section: str) -> dict[str, dict]:
    """Return a deployment's build/push/pull steps by step function."""
    return {name: arguments for step in deployment.get(section) or [] for name, arguments in step.items()}


def test_prefect_yaml_entrypoints_name_real_flows(baked: Baked) -> None:
    for name, deployment in deployments(baked).items():
        file, _, function = deployment["entrypoint"].partition(":")
        assert (baked.path / file).is_file(), f"{name}: no {file}"
        defined = {
            node.name
            for node in ast.walk(ast.parse(read(baked, file)))
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        }
        assert function in defined, f"{name}: {file} defines no {function}()"


def test_prefect_yaml_deployments_follow_the_answers(baked: Baked) -> None:
    answers = baked.answers
    found = deployments(baked)
    assert set(found) == {"daily-report", "daily-report-local"}
    production, local = found["daily-report"], found["daily-report-local"]
    assert production["work_pool"]["name"] == answers["work_pool"]
    assert [schedule["cron"] for schedule in production["schedules"]] == [answers["schedule_cron"]]
    assert production["parameters"] == {
        "source_uri": f"{answers['data_uri']}/raw",
        "output_uri": f"{answers['data_uri']}/reports",
    }
    images = [arguments.get("image_name") for arguments in steps(production, "build").values()]
    if answers["work_pool_type"] == "process":
        assert images == [], "a process worker runs a checkout: nothing to build"
    else:
        assert answers["image"] in images
    assert local["work_pool"]["name"] == "local"
    prefix = answers["package_name"].upper() + "_"
    assert production["work_pool"]["job_variables"]["env"][f"{prefix}COMPUTE_MODE"] == "cloud"
    # An Iceberg report on S3 is committed to AWS Glue, its warehouse beside the data.
    catalog = {
        key: value
        for key, value in production["work_pool"]["job_variables"]["env"].items()
        if key.startswith("PYICEBERG_")
    }
    if answers["output_format"] == "iceberg" and answers["data_uri"].startswith("s3://"):
        assert catalog == {
            "PYICEBERG_CATALOG__DEFAULT__TYPE": "glue",
            "PYICEBERG_CATALOG__DEFAULT__GLUE__REGION": answers["aws_region"],
            "PYICEBERG_CATALOG__DEFAULT__WAREHOUSE": f"{answers['data_uri']}/warehouse",
        }
    else:
        assert catalog == {}
    assert local["work_pool"]["job_variables"]["env"][f"{prefix}COMPUTE_MODE"] == "local"


def test_the_pull_directory_holds_the_flow_code(baked: Baked) -> None:
    workdirs = re.findall(r"^WORKDIR\s+(\S+)", read(baked, "Dockerfile"), flags=re.MULTILINE)
    pull = steps(deployments(baked)["daily-report"], "pull")
    directory = pull["prefect.deployments.steps.set_working_directory"]["directory"]
    assert workdirs, "the Dockerfile sets no WORKDIR"
    if baked.answers["work_pool_type"] == "process":
        prefix = baked.answers["package_name"].upper()
        assert directory == "{{ $" + prefix + "_CHECKOUT_DIR }}"
    else:
        assert directory == workdirs[-1]


# The job variables each work pool type's production deployment asks for (beyond env), given
# the answers; tests/test_job_variables.py in the bake checks them against the worker itself.
def expected_job_variables(answers: dict[str, str]) -> dict[str, object]:
    """Return the production deployment's job variables but env, as prefect.yaml should hold them."""
    image = {"image": "{{ build-image.image }}"}
    kind = answers["work_pool_type"]
    if kind == "ecs":
        roles = {
            "task_role_arn": answers["ecs_task_role_arn"],
            "execution_role_arn": answers["ecs_execution_role_arn"],
        }
        logs = {"configure_cloudwatch_logs": True, "cloudwatch_logs_prefix": answers["project_slug"]}
        return {
            **image,
            "cpu": 512,
            "memory": 1024,
            **{key: value for key, value in roles.items() if value},
            **(logs if answers["ecs_execution_role_arn"] else {}),
        }
    if kind == "kubernetes":
        return {
            **image,
            "namespace": answers["kubernetes_namespace"],
            "service_account_name": answers["kubernetes_service_account"],
            "cpu_request": "250m",
            "cpu_limit": "1",
            "memory_request": "512Mi",
            "memory_limit": "1Gi",
        }
    return image if kind == "docker" else {}


def test_production_job_variables_follow_the_work_pool_type(baked: Baked) -> None:
    job_variables = dict(deployments(baked)["daily-report"]["work_pool"]["job_variables"])
    job_variables.pop("env")
    assert job_variables == expected_job_variables(baked.answers)


def test_answers_are_recorded_without_private_keys_or_machine_paths(baked: Baked) -> None:
    recorded = json.loads(read(baked, ".cookiecutter.json"))
    assert recorded == baked.answers
    assert not [key for key in recorded if key.startswith("_")]
    machine_paths = (str(TEMPLATE), str(baked.path.parent), str(Path.home()))
    assert not [
        f"{key}={value!r}"
        for key, value in recorded.items()
        if any(path in str(value) for path in machine_paths)
    ]


def test_settings_defaults_are_the_answers(baked: Baked) -> None:
    answers = baked.answers
    settings_py = baked.package / "settings.py"
    defaults = settings_defaults(settings_py)
    expected = {
        "secret_backend": answers["secret_backend"],
        "secret_name": answers["secret_name"],
        "aws_region": answers["aws_region"],
        "workspace": answers["workspace"],
        "data_uri": answers["data_uri"],
        "idle_timeout_mins": int(answers["idle_timeout_mins"]),
        "iceberg_table": f"{answers['package_name']}.daily_report",
    }
    assert {key: defaults.get(key) for key in expected} == expected
    assert module_constant(settings_py, "ENV_PREFIX") == answers["package_name"].upper() + "_"


def test_the_report_is_declared_in_the_chosen_output_format(baked: Baked) -> None:
    datasets = ast.parse(read(baked, f"src/{baked.answers['package_name']}/datasets.py"))
    (report,) = [
        node.value
        for node in datasets.body
        if isinstance(node, ast.Assign) and [t.id for t in node.targets] == ["REPORT"]  # type: ignore[attr-defined]
    ]
    declared = report.func.id  # type: ignore[attr-defined]
    iceberg = baked.answers["output_format"] == "iceberg"
    assert declared == ("IcebergOutput" if iceberg else "DailyOutput")
    # Only an Iceberg project speaks of Iceberg in its README; the others read as before.
    readme = read(baked, "README.md")
    assert ("Iceberg" in readme) == iceberg
    assert ("data/output/<output>/date=YYYY-MM-DD/" in readme) != iceberg
    # The example's own layout is on its page (docs/pipeline.md), not in the README.
    assert ("<output_uri>/daily_report/date=YYYY-MM-DD/" in read(baked, "docs/pipeline.md")) != iceberg


def test_presets_are_the_answers(baked: Baked) -> None:
    answers = baked.answers
    presets = tomllib.loads((baked.path / "presets.toml").read_text(encoding="utf-8"))
    idle = int(answers["idle_timeout_mins"])
    assert presets == {
        "small": {
            "cpus": int(answers["small_cpus"]),
            "memory": int(answers["small_memory"]),
            "idle_timeout_mins": idle,
        },
        "large": {
            "cpus": int(answers["large_cpus"]),
            "memory": int(answers["large_memory"]),
            "cluster_size": int(answers["large_cluster_size"]),
            "idle_timeout_mins": idle,
        },
    }


def test_every_file_is_staged_in_a_new_git_repository(baked: Baked) -> None:
    staged = run_ok(["git", "ls-files"], baked.path).stdout.splitlines()
    assert set(staged) == generated_files(baked.path)
    no_commit = run_ok(["git", "rev-list", "--all"], baked.path).stdout
    assert no_commit == "", "the post-gen hook must stage, not commit"


def test_default_names_derive_from_the_project_name(bake: Callable[..., Baked]) -> None:
    baked = bake()
    answers = json.loads(read(baked, ".cookiecutter.json"))
    assert baked.path.name == "daily-reports"
    assert answers["project_name"] == "Daily Reports"
    assert answers["project_slug"] == "daily-reports"
    assert answers["package_name"] == "daily_reports"
    assert answers["image"] == "daily-reports"


def policy_statements(baked: Baked) -> dict[str, dict] | None:
    """Return docs/deploy.md's IAM policy statements by Sid, or None when it shows no policy."""
    blocks = re.findall(r"```json\n(.*?)```", read(baked, "docs/deploy.md"), flags=re.DOTALL)
    policies = [json.loads(block) for block in blocks if '"Statement"' in block]
    if not policies:
        return None
    [policy] = policies
    return {statement["Sid"]: statement for statement in policy["Statement"]}


def test_the_deploy_doc_policy_is_scoped_to_the_secret_and_the_data_prefix(baked: Baked) -> None:
    answers = baked.answers
    statements = policy_statements(baked)
    aws_backend = answers["secret_backend"] in ("aws-secrets-manager", "aws-secret-block")
    on_s3 = answers["data_uri"].startswith("s3://")
    if not (aws_backend or on_s3):
        assert statements is None
        return
    assert statements is not None, "docs/deploy.md gives no IAM policy"
    if aws_backend:
        secret = statements.pop("ReadThePolarsCloudServiceAccount")
        assert secret["Action"] == "secretsmanager:GetSecretValue"
        name = answers["secret_name"]
        expected = name if name.startswith("arn:") else (
            f"arn:aws:secretsmanager:{answers['aws_region']}:ACCOUNT_ID:secret:{name}-??????"
        )
        assert secret["Resource"] == expected
    if on_s3:
        bucket, _, prefix = answers["data_uri"].removeprefix("s3://").partition("/")
        listing, objects = statements.pop("ListTheDataPrefix"), statements.pop("ReadAndReplaceTheReports")
        assert listing["Resource"] == f"arn:aws:s3:::{bucket}"
        assert listing["Condition"] == {"StringLike": {"s3:prefix": [f"{prefix}/*"]}}
        assert objects["Resource"] == f"arn:aws:s3:::{bucket}/{prefix}/*"
    assert statements == {}, "a statement beyond the secret and the data"


@pytest.mark.parametrize("pool_type", ["docker", "ecs", "kubernetes", "process"])
def test_the_docs_and_ci_speak_of_the_chosen_pool_type_only(
    bake: Callable[..., Baked], pool_type: str
) -> None:
    baked = bake(work_pool_type=pool_type)
    readme, deploy = read(baked, "README.md"), read(baked, "docs/deploy.md")
    ci = read(baked, ".github/workflows/ci.yml")
    create = f"prefect work-pool create '{pool_type}-pool' --type {pool_type}"
    assert create in deploy
    # Every deploy doc creates the process pool `local`; no other type but the chosen one shows up.
    others = {"docker", "ecs", "kubernetes"} - {pool_type}
    assert not [kind for kind in others if f"--type {kind}" in readme + deploy]
    logins = {"docker": "docker login", "ecs": "aws ecr get-login-password", "kubernetes": "docker login"}
    if pool_type == "process":
        assert "docker login" not in ci and "REGISTRY" not in ci
    else:
        assert logins[pool_type] in ci
    assert "## Alerts" in readme and "make alerts" in readme


# --- the README and docs/ ----------------------------------------------------------------------

README_MAX_LINES = 250
# What Jinja leaves behind when a tag is broken; `}}` alone is legitimate (nested JSON).
JINJA_MARKERS = ("{{", "{%", "%}", "{#")


def docs_pages(baked: Baked) -> list[str]:
    """Return README.md and every docs/*.md of a bake."""
    return ["README.md", *sorted(f"docs/{path.name}" for path in (baked.path / "docs").glob("*.md"))]


def without_code_blocks(markdown: str) -> str:
    """Return markdown with its fenced code blocks removed (their `# comments` are no headings)."""
    return re.sub(r"^```.*?^```", "", markdown, flags=re.DOTALL | re.MULTILINE)


def anchor(heading: str) -> str:
    """Return GitHub's anchor for a heading: lowercase, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_the_readme_is_short_and_links_every_doc(baked: Baked) -> None:
    readme = read(baked, "README.md")
    assert len(readme.splitlines()) <= README_MAX_LINES, "move reference material to docs/"
    docs = {f"docs/{path.name}" for path in (baked.path / "docs").glob("*.md")}
    assert docs, "no docs/"
    assert not [doc for doc in sorted(docs) if f"]({doc})" not in readme], "docs the README never links"
    assert "Upgrading" not in readme, "a new project carries no upgrade notes"


def test_no_jinja_is_left_in_the_readme_or_docs(baked: Baked) -> None:
    leftovers = [
        f"{page}:{number}: {line.strip()}"
        for page in docs_pages(baked)
        for number, line in enumerate(read(baked, page).splitlines(), start=1)
        if any(marker in line for marker in JINJA_MARKERS)
    ]
    assert not leftovers


def test_every_relative_link_in_the_docs_resolves(baked: Baked) -> None:
    broken = []
    for page in docs_pages(baked):
        folder = (baked.path / page).parent
        for target in re.findall(r"\]\(([^)\s]+)\)", without_code_blocks(read(baked, page))):
            if re.match(r"[a-z]+://", target):
                continue
            path, _, fragment = target.partition("#")
            linked = (folder / path).resolve() if path else baked.path / page
            if not linked.is_file():
                broken.append(f"{page}: {target} (no such file)")
                continue
            text = without_code_blocks(linked.read_text(encoding="utf-8"))
            headings = re.findall(r"^#+ (.+)$", text, flags=re.MULTILINE)
            if fragment and fragment not in {anchor(heading) for heading in headings}:
                broken.append(f"{page}: {target} (no such heading)")
    assert not broken


def test_every_make_target_the_docs_name_exists(baked: Baked) -> None:
    makefile = read(baked, "Makefile")
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, flags=re.MULTILINE))
    named: set[str] = set()
    for page in docs_pages(baked):
        text = read(baked, page)
        code = re.findall(r"^```.*?^```", text, flags=re.DOTALL | re.MULTILINE)
        code += re.findall(r"`([^`\n]+)`", without_code_blocks(text))
        for snippet in code:
            for words in re.findall(r"\bmake((?: +[a-z][a-z-]*)+)", snippet):
                named.update(words.split())
    assert named >= {"install", "run", "backfill", "deploy", "alerts", "doctor", "test"}
    assert named <= targets, f"not in the Makefile: {sorted(named - targets)}"


def test_the_settings_doc_names_every_setting(baked: Baked) -> None:
    library = ast.parse(read(baked, "src/prefect_polars_cloud/config/settings.py"))
    settings = next(node for node in library.body if isinstance(node, ast.ClassDef) and node.name == "Settings")
    fields = [
        statement.target.id
        for statement in settings.body
        if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name)
    ]
    prefix = baked.answers["package_name"].upper() + "_"
    doc = read(baked, "docs/settings.md")
    assert fields, "no settings found"
    assert not [field for field in fields if f"`{prefix}{field.upper()}`" not in doc]
