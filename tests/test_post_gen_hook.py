"""The post-gen hook, rendered with cookiecutter's own Jinja environment and imported."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from types import ModuleType

import pytest
from helpers import BACKENDS, TEMPLATE, answers_for, render_hook, run_ok

HOSTILE_NAME = "Zoë's \"Daily\" \\ Reports $(rm -rf /) `whoami` — 日報"


def hook_for(tmp_path: Path, **overrides: str) -> ModuleType:
    """Render and import post_gen_project.py for these answers, with cookiecutter's private keys."""
    answers = {
        **answers_for(overrides),
        "_template": str(TEMPLATE),
        "_output_dir": str(tmp_path),
        "_repo_dir": str(TEMPLATE),
        "_checkout": None,
    }
    rendered = tmp_path / "rendered-hook"
    rendered.mkdir(exist_ok=True)
    return render_hook("post_gen_project.py", answers, rendered)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Return a small project directory, git kept from looking above tmp_path."""
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    project = tmp_path / "work" / "daily-reports"
    (project / "flows").mkdir(parents=True)
    (project / "flows" / "daily_report.py").write_text("print('report')\n")
    (project / "Makefile").write_text("install:\n\tuv sync --locked\n")
    return project


def staged(project: Path) -> list[str]:
    """Return the files staged in project's git index."""
    return run_ok(["git", "ls-files"], project).stdout.splitlines()


def test_record_answers_keeps_public_answers_only(tmp_path: Path, project: Path) -> None:
    hook = hook_for(tmp_path, project_name=HOSTILE_NAME)
    recorded = json.loads(hook.record_answers(project).read_text(encoding="utf-8"))
    assert recorded == answers_for({"project_name": HOSTILE_NAME})
    assert recorded["project_name"] == HOSTILE_NAME
    assert not [key for key in recorded if key.startswith("_")]
    assert str(tmp_path) not in json.dumps(recorded, ensure_ascii=False)


def test_init_git_stages_every_file_without_committing(tmp_path: Path, project: Path) -> None:
    hook = hook_for(tmp_path)
    assert hook.init_git(project) is True
    assert sorted(staged(project)) == ["Makefile", "flows/daily_report.py"]
    log = subprocess.run(["git", "log"], cwd=project, capture_output=True, text=True, check=False)
    assert log.returncode != 0, "no commit expected"


def test_init_git_leaves_an_existing_work_tree_alone(tmp_path: Path, project: Path) -> None:
    monorepo = project.parent
    run_ok(["git", "init", "--quiet"], monorepo)
    hook = hook_for(tmp_path)
    assert hook.init_git(project) is False
    assert not (project / ".git").exists()
    assert staged(monorepo) == [], "nothing staged in the surrounding repository"


def test_remove_unneeded_drops_only_other_backends_files(
    tmp_path: Path, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = hook_for(tmp_path, secret_backend="prefect-secret")
    (project / "aws.py").write_text("")
    (project / "prefect_only.py").write_text("")
    monkeypatch.setattr(
        hook, "BACKEND_ONLY", {"aws.py": "aws-secrets-manager", "prefect_only.py": "prefect-secret"}
    )
    assert hook.remove_unneeded(project) == ["aws.py"]
    assert not (project / "aws.py").exists()
    assert (project / "prefect_only.py").exists()
    assert hook.remove_unneeded(project) == [], "a second run has nothing left to remove"


def test_backend_only_names_real_files_and_backends(tmp_path: Path) -> None:
    hook = hook_for(tmp_path)
    package = answers_for()["package_name"]
    generated = TEMPLATE / "{{cookiecutter.project_slug}}"
    for relative, backend in hook.BACKEND_ONLY.items():
        assert backend in BACKENDS, f"{relative}: unknown backend {backend!r}"
        template_path = relative.replace(f"src/{package}/", "src/{{cookiecutter.package_name}}/")
        assert (generated / template_path).is_file(), f"{relative}: no such file in the template"


def test_next_steps_names_the_directory_and_real_make_targets(tmp_path: Path, project: Path) -> None:
    steps = hook_for(tmp_path).next_steps(project)
    assert f"cd {project.name}" in steps
    makefile = (TEMPLATE / "{{cookiecutter.project_slug}}" / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, flags=re.MULTILINE))
    mentioned = re.findall(r"\bmake ([a-z][a-z-]*)", steps)
    assert {"install", "run"} <= set(mentioned)
    assert set(mentioned) <= targets, f"next steps mention targets the Makefile lacks: {set(mentioned) - targets}"


def test_main_can_run_twice(
    tmp_path: Path, project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    hook = hook_for(tmp_path, project_name=HOSTILE_NAME)
    monkeypatch.chdir(project)
    assert hook.main() == 0
    first = {
        "answers": (project / ".cookiecutter.json").read_text(encoding="utf-8"),
        "staged": staged(project),
    }
    assert hook.main() == 0
    again = {
        "answers": (project / ".cookiecutter.json").read_text(encoding="utf-8"),
        "staged": staged(project),
    }
    assert again == first
    assert ".cookiecutter.json" in first["staged"]
    assert capsys.readouterr().out.count(f"cd {project.name}") == 2
