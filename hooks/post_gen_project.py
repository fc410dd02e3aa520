"""Finish the generated repository: offline unless asked, safe to run again (cruft update does).

Steps, each a small function that main() calls in order: remove what the answers don't need,
record the answers, stage the files in a new git repository, print the next steps.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

ANSWERS: dict[str, object] = json.loads(r"""{{ cookiecutter | tojson }}""")
ANSWERS_FILE = ".cookiecutter.json"

# Files that only one backend needs: path -> the backend that keeps it.
BACKEND_ONLY: dict[str, str] = {
    # Needs prefect-aws, which only the aws-secret-block backend installs by default.
    "tests/test_aws_secret_block.py": "aws-secret-block",
}


def remove_unneeded(project: Path) -> list[str]:
    """Delete the files the chosen backend doesn't use; return what was removed."""
    removed = []
    for relative, backend in BACKEND_ONLY.items():
        path = project / relative
        if ANSWERS["secret_backend"] != backend and path.exists():
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
        ]
    )


def main() -> int:
    """Run every step in the generated directory."""
    project = Path.cwd()
    for relative in remove_unneeded(project):
        print(f"removed {relative} (not used by the {ANSWERS['secret_backend']} backend)")
    record_answers(project)
    init_git(project)
    print(next_steps(project))
    return 0


if __name__ == "__main__":
    sys.exit(main())
