"""Finish the generated repository: offline unless asked, safe to run again (cruft update does).

Steps, each a small function that main() calls in order: remove what the answers don't need,
record the answers, stage the files in a new git repository, register the backend's Prefect
blocks when asked (register_blocks=yes), print the next steps. Nothing here fails the
generation: a step that cannot run says what to type later.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

ANSWERS: dict[str, object] = json.loads(r"""{{ cookiecutter | tojson }}""")
ANSWERS_FILE = ".cookiecutter.json"

# Files that only one backend needs: path -> the backend that keeps it. None today: the
# aws-secret-block backend's tests are the library's, run by the template (tests/library).
BACKEND_ONLY: dict[str, str] = {}


# Files that only one output format needs: path -> the format that keeps it.
FORMAT_ONLY: dict[str, str] = {
    # The Iceberg table's page and tests; they need pyiceberg, which only iceberg installs.
    "docs/iceberg.md": "iceberg",
    "tests/test_iceberg.py": "iceberg",
}


# Files that only a project of several environments needs (production alone: as before).
ENVIRONMENTS_ONLY = ("environments.toml", "tests/test_environments.py")


def several_environments() -> bool:
    """Tell whether the answers name an environment besides production."""
    return len([name for name in str(ANSWERS.get("environments", "production")).split(",") if name.strip()]) > 1


def remove_unneeded(project: Path) -> list[str]:
    """Delete the files the chosen backend and output format don't use; return what was removed."""
    removed = []
    for relative in ENVIRONMENTS_ONLY:
        path = project / relative
        if not several_environments() and path.exists():
            path.unlink()
            removed.append(relative)
    for relative, backend in BACKEND_ONLY.items():
        path = project / relative
        if ANSWERS["secret_backend"] != backend and path.exists():
            path.unlink()
            removed.append(relative)
    for relative, output_format in FORMAT_ONLY.items():
        path = project / relative
        if ANSWERS.get("output_format", "parquet") != output_format and path.exists():
            path.unlink()
            removed.append(relative)
    return removed


def record_answers(project: Path) -> Path:
    """Write the answers (never a secret: no prompt asks for one) for `cruft link` and replays.

    Keys starting with "_" are cookiecutter's own (local paths among them) and are left out.
    """
    public = {key: value for key, value in ANSWERS.items() if not key.startswith("_")}
    target = project / ANSWERS_FILE
    target.write_text(json.dumps(public, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return target


def inside_git_work_tree(project: Path) -> bool:
    """Tell whether project already lies in a git repository (a monorepo, or a re-run)."""
    result = subprocess.run(
        ["git", "rev-parse", "--is-inside-work-tree"],  # noqa: S607 - git from PATH
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    return result.returncode == 0


def init_git(project: Path) -> bool:
    """Make a git repository with every file staged, so pre-commit sees them; no commit."""
    if shutil.which("git") is None or inside_git_work_tree(project):
        return False
    for command in (["git", "init", "--quiet"], ["git", "add", "--all"]):
        subprocess.run(command, cwd=project, check=True, capture_output=True)  # noqa: S603
    return True


BLOCK_BACKENDS = ("prefect-secret", "aws-secret-block")
REGISTER_LATER = "register them later with `make blocks`"


def prefect_api_reachable(url: str) -> bool:
    """Tell whether the Prefect API at url answers its health check within a few seconds."""
    if not url.startswith(("http://", "https://")):
        return False
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/health", timeout=5) as response:  # noqa: S310
            return response.status == 200
    except (OSError, ValueError):
        return False


def register_blocks(project: Path) -> str | None:
    """Run the new repo's `blocks` command through uv when asked and possible; say what happened."""
    backend = str(ANSWERS["secret_backend"])
    if ANSWERS["register_blocks"] != "yes":
        return None
    if backend not in BLOCK_BACKENDS:
        return f"the {backend} backend uses no Prefect blocks: nothing to register"
    url = os.environ.get("PREFECT_API_URL", "")
    if not url:
        return f"PREFECT_API_URL is not set, so no blocks were registered; {REGISTER_LATER}"
    if not prefect_api_reachable(url):
        return f"the Prefect API at {url} is unreachable, so no blocks were registered; {REGISTER_LATER}"
    if shutil.which("uv") is None:
        return f"uv is not installed, so no blocks were registered; install it, then {REGISTER_LATER}"
    slug = str(ANSWERS["project_slug"])
    try:
        result = subprocess.run(  # noqa: S603 - fixed arguments, slug validated by pre_gen
            ["uv", "run", "--locked", slug, "blocks"],  # noqa: S607 - uv from PATH
            cwd=project,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"block registration timed out; {REGISTER_LATER}"
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["no output"])[-1]
        return f"block registration failed ({reason}); {REGISTER_LATER}"
    return result.stdout.strip().splitlines()[-1]


def next_steps(project: Path) -> str:
    """Return what to type next."""
    return "\n".join(
        [
            f"Created {project.name}. Next:",
            f"  cd {project.name}",
            "  make install      # uv sync --locked",
            "  make run          # the daily report on local sample data, no credentials needed",
            "  make test         # offline tests",
            "  make lint         # pre-commit on every file",
            f"  make doctor       # does the {ANSWERS['secret_backend']} backend yield the service account?",
            *(
                ["  make blocks       # save the backend's Prefect blocks (PREFECT_API_URL)"]
                if ANSWERS["secret_backend"] in BLOCK_BACKENDS
                else []
            ),
            "  make deploy       # prefect deploy --all (see README: Deploy)",
            *(
                ["  make alerts       # failure and late-run alerts to your webhook (see README: Alerts)"]
                if ANSWERS.get("alerts") == "webhook"
                else []
            ),
        ]
    )


def main() -> int:
    """Run every step in the generated directory."""
    project = Path.cwd()
    for relative in remove_unneeded(project):
        print(f"removed {relative} (not used by these answers)")
    record_answers(project)
    init_git(project)
    registered = register_blocks(project)
    if registered:
        print(registered)
    print(next_steps(project))
    return 0


if __name__ == "__main__":
    sys.exit(main())
