"""Validate the answers before cookiecutter renders a single file.

Each rule is one small function returning the problems it found. Every problem is printed as
`ERROR: <what is wrong>; <what to type instead>` and the hook exits 1, so cookiecutter removes
the half-made directory. Answers arrive through `tojson`, never pasted into source.
"""

from __future__ import annotations

import json
import keyword
import re
import sys
from collections.abc import Callable

ANSWERS: dict[str, object] = json.loads(r"""{{ cookiecutter | tojson }}""")

BACKENDS = ("env", "aws-secrets-manager", "prefect-secret", "aws-secret-block")
WORK_POOL_TYPES = ("docker", "ecs", "kubernetes", "process")
ALERTS = ("none", "webhook")
OUTPUT_FORMATS = ("parquet", "iceberg")
# An IAM role ARN, any partition (aws, aws-cn, aws-us-gov), paths allowed.
IAM_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$")
# Kubernetes names: a namespace is a DNS-1123 label, a service account a DNS-1123 subdomain.
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
SLUG = re.compile(r"^[a-z][a-z0-9-]*[a-z0-9]$")
# Slug and package name each name a directory: the same bound as local_extensions.py.
MAX_NAME_LENGTH = 64
DIGITS = re.compile(r"^[0-9]+$")
# Prefect block document names: lowercase letters, digits and dashes.
BLOCK_NAME = re.compile(r"^[a-z0-9-]+$")
# AWS secret ids: a name (letters, digits, /_+=.@-) or a full ARN (adds ':').
AWS_SECRET_ID = re.compile(r"^[A-Za-z0-9/_+=.@:-]{1,2048}$")
AWS_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-[0-9]+$")
DATA_URI = re.compile(r"^(s3|gs|gcs|az|abfs|abfss)://[^\s/][^\s]*[^\s/]$")
WORK_POOL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
# A Docker repository, optionally behind a registry host[:port]; the tag comes from the build step.
IMAGE = re.compile(
    r"^(?:[A-Za-z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$"
)
# Environment names: they end deployment names, tags and labels (daily-report-staging).
ENVIRONMENT = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
CRON_FIELD = re.compile(r"^[0-9A-Za-z*/,?-]+$")
# The five cron fields and the numbers each accepts (day of week: 0 and 7 are both Sunday).
CRON_RANGES = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 7),
)
# Shadowing one of these would break the generated project's own imports.
TAKEN_NAMES = frozenset(
    {"polars", "polars_cloud", "prefect", "prefect_aws", "boto3", "botocore", "pydantic"}
    | {"pydantic_settings", "pytest", "tests", "flows"}
    | set(sys.stdlib_module_names)
)


def text(key: str) -> str:
    """Return an answer as text."""
    return str(ANSWERS.get(key, ""))


def has_control_characters(value: str) -> bool:
    """Tell whether a free-text answer holds a newline, tab or other control character."""
    return any(ord(char) < 32 or ord(char) == 127 for char in value)


def check_project_name() -> list[str]:
    """Require a one-line, non-empty project name."""
    name = text("project_name")
    if not name.strip():
        return ["project_name is empty; type a name such as 'Daily Reports'"]
    if has_control_characters(name):
        return ["project_name holds a newline or control character; type it on one line"]
    return []


def too_long(key: str) -> list[str]:
    """Refuse a name longer than MAX_NAME_LENGTH, quoting only its start."""
    value = text(key)
    if len(value) <= MAX_NAME_LENGTH:
        return []
    start = value[:40] + "..."
    return [f"{key} {start!r} is {len(value)} characters long; keep it to {MAX_NAME_LENGTH} or fewer"]


def check_project_slug() -> list[str]:
    """Require lowercase letters, digits and single hyphens, at most MAX_NAME_LENGTH of them."""
    slug = text("project_slug")
    if SLUG.match(slug) and "--" not in slug:
        return too_long("project_slug")
    return [
        f"project_slug {slug!r} is not a valid slug; type lowercase letters, digits and hyphens, "
        "starting with a letter and ending with a letter or digit (e.g. daily-reports)"
    ]


def check_package_name() -> list[str]:
    """Require an importable, lowercase ASCII identifier that shadows nothing."""
    name = text("package_name")
    fix = "type lowercase letters, digits and underscores, starting with a letter (e.g. daily_reports)"
    if not (name.isascii() and name.isidentifier() and name == name.lower()):
        return [f"package_name {name!r} is not a lowercase Python identifier; {fix}"]
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        return [f"package_name {name!r} is a Python keyword; {fix}"]
    if name in TAKEN_NAMES:
        return [f"package_name {name!r} would shadow the module of that name; choose another, e.g. {name}_reports"]
    return too_long("package_name")


def check_secret_backend() -> list[str]:
    """Require one of the four backends."""
    backend = text("secret_backend")
    if backend in BACKENDS:
        return []
    return [f"secret_backend {backend!r} is unknown; type one of {', '.join(BACKENDS)}"]


def check_secret_name() -> list[str]:
    """Require a name the chosen store accepts."""
    name = text("secret_name")
    if text("secret_backend") == "prefect-secret":
        if BLOCK_NAME.match(name):
            return []
        return [
            f"secret_name {name!r} is not a valid Prefect block name; "
            "type lowercase letters, digits and dashes (e.g. polars-cloud-service-account)"
        ]
    if AWS_SECRET_ID.match(name):
        return []
    return [
        f"secret_name {name!r} is not a valid AWS secret id; "
        "type letters, digits and /_+=.@- (or the secret's full ARN)"
    ]


def check_aws_region() -> list[str]:
    """Require a region code such as us-east-1."""
    region = text("aws_region")
    if AWS_REGION.match(region):
        return []
    return [f"aws_region {region!r} is not an AWS region code; type one such as us-east-1 or eu-west-2"]


def positive_integer(key: str, minimum: int = 1) -> tuple[int | None, list[str]]:
    """Parse an answer as a whole number no smaller than minimum."""
    value = text(key).strip()
    if not DIGITS.match(value) or int(value) < minimum:
        return None, [f"{key} {value!r} is not a whole number >= {minimum}; type one such as {max(minimum, 2)}"]
    return int(value), []


def check_compute_sizes() -> list[str]:
    """Require positive sizes, a large preset no smaller than the small one, and a legal idle timeout."""
    parsed: dict[str, int | None] = {}
    problems: list[str] = []
    for key in ("small_cpus", "small_memory", "large_cpus", "large_memory", "large_cluster_size"):
        parsed[key], found = positive_integer(key)
        problems += found
    _, found = positive_integer("idle_timeout_mins", minimum=10)
    problems += found
    for size in ("cpus", "memory"):
        small, large = parsed[f"small_{size}"], parsed[f"large_{size}"]
        if small is not None and large is not None and large < small:
            problems.append(
                f"large_{size} ({large}) is smaller than small_{size} ({small}); "
                f"type a large_{size} of at least {small}"
            )
    return problems


def check_workspace() -> list[str]:
    """Require the optional workspace on one line."""
    if has_control_characters(text("workspace")):
        return ["workspace holds a newline or control character; type the workspace name on one line, or leave it empty"]
    return []


def check_data_uri() -> list[str]:
    """Require an object-store prefix the deployed flow can reach from Polars Cloud."""
    uri = text("data_uri")
    if DATA_URI.match(uri):
        return []
    return [
        f"data_uri {uri!r} is not an object-store prefix; "
        "type one such as s3://my-bucket/daily-reports (no trailing slash, no spaces)"
    ]


def check_work_pool() -> list[str]:
    """Require a plain work pool name."""
    pool = text("work_pool")
    if WORK_POOL.match(pool):
        return []
    return [f"work_pool {pool!r} is not a valid work pool name; type letters, digits and ._- (e.g. docker-pool)"]


def check_image() -> list[str]:
    """Require a Docker repository name without a tag."""
    image = text("image")
    if IMAGE.match(image):
        return []
    return [
        f"image {image!r} is not a Docker repository name; "
        "type lowercase letters, digits and ._-/ with an optional registry host (e.g. ghcr.io/acme/daily-reports), no tag"
    ]


def check_work_pool_type() -> list[str]:
    """Require one of the worker types the production deployment is written for."""
    kind = text("work_pool_type")
    if kind in WORK_POOL_TYPES:
        return []
    return [f"work_pool_type {kind!r} is unknown; type one of {', '.join(WORK_POOL_TYPES)}"]


def check_ecs_roles() -> list[str]:
    """Require each optional ECS role to be empty or an IAM role ARN."""
    return [
        f"{key} {text(key)!r} is not an IAM role ARN; type one such as "
        "arn:aws:iam::123456789012:role/daily-reports-task, or leave it empty"
        for key in ("ecs_task_role_arn", "ecs_execution_role_arn")
        if text(key) and not IAM_ROLE_ARN.match(text(key))
    ]


def check_kubernetes_names() -> list[str]:
    """Require a namespace and a service account name Kubernetes accepts."""
    problems = []
    namespace, account = text("kubernetes_namespace"), text("kubernetes_service_account")
    if not DNS_LABEL.match(namespace):
        problems.append(
            f"kubernetes_namespace {namespace!r} is not a Kubernetes namespace; type at most 63 "
            "lowercase letters, digits and hyphens, starting and ending with a letter or digit (e.g. default)"
        )
    if not DNS_SUBDOMAIN.match(account):
        problems.append(
            f"kubernetes_service_account {account!r} is not a Kubernetes name; type lowercase "
            "letters, digits, hyphens and dots, starting and ending with a letter or digit (e.g. daily-reports)"
        )
    return problems


def check_alerts() -> list[str]:
    """Require one of the alert channels."""
    if text("alerts") in ALERTS:
        return []
    return [f"alerts {text('alerts')!r} is unknown; type one of {', '.join(ALERTS)}"]


def check_output_format() -> list[str]:
    """Require one of the report's output formats."""
    if text("output_format") in OUTPUT_FORMATS:
        return []
    return [f"output_format {text('output_format')!r} is unknown; type one of {', '.join(OUTPUT_FORMATS)}"]


def cron_numbers_out_of_range(field: str, low: int, high: int) -> list[str]:
    """Return the numbers of a cron field outside low..high, and steps of zero."""
    wrong = []
    for item in field.split(","):
        values, _, step = item.partition("/")
        if step.isdigit() and int(step) == 0:
            wrong.append(item)
        wrong += [value for value in values.split("-") if value.isdigit() and not low <= int(value) <= high]
    return wrong


def check_schedule_cron() -> list[str]:
    """Require a five-field cron expression whose numbers fit their fields."""
    cron = text("schedule_cron")
    fields = cron.split()
    if len(fields) != 5 or not all(CRON_FIELD.match(field) for field in fields):
        return [f"schedule_cron {cron!r} is not a five-field cron expression; type one such as '0 6 * * *'"]
    return [
        f"schedule_cron {cron!r} has {', '.join(wrong)} in its {name} field; type numbers from {low} to {high}"
        for field, (name, low, high) in zip(fields, CRON_RANGES, strict=True)
        if (wrong := cron_numbers_out_of_range(field, low, high))
    ]


def check_environments() -> list[str]:
    """Require distinct lowercase names, comma-separated, production among them."""
    answer = text("environments")
    names = [name.strip() for name in answer.split(",")]
    example = "type names separated by commas, production among them (e.g. staging,production)"
    wrong = [name for name in names if not ENVIRONMENT.match(name)]
    if wrong:
        return [
            f"environments {answer!r} holds {', '.join(map(repr, wrong))}, not lowercase letters, "
            f"digits and single hyphens; {example}"
        ]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        return [f"environments {answer!r} names {', '.join(twice)} twice; {example}"]
    if "production" not in names:
        return [f"environments {answer!r} has no production; {example}"]
    return []


def check_register_blocks() -> list[str]:
    """Require yes or no."""
    if text("register_blocks") in ("yes", "no"):
        return []
    return [f"register_blocks {text('register_blocks')!r} is neither yes nor no; type yes or no"]


CHECKS: tuple[Callable[[], list[str]], ...] = (
    check_project_name,
    check_project_slug,
    check_package_name,
    check_secret_backend,
    check_secret_name,
    check_aws_region,
    check_compute_sizes,
    check_workspace,
    check_data_uri,
    check_work_pool,
    check_work_pool_type,
    check_image,
    check_schedule_cron,
    check_ecs_roles,
    check_kubernetes_names,
    check_alerts,
    check_output_format,
    check_environments,
    check_register_blocks,
)


def main() -> int:
    """Run every check and report every problem at once."""
    problems = [problem for check in CHECKS for problem in check()]
    for problem in problems:
        print(f"ERROR: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
