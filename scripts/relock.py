"""Regenerate the generated project's uv.lock template.

Bakes the template with its defaults, runs `uv lock` there (starting from the current lock, so
versions move only with --upgrade), and turns the result back into a template: the root
package's name becomes the slug placeholder and the default groups (the backend's, the work
pool type's) are rendered.
The template test `test_lock_is_current` fails when this needs running.

    uv run python scripts/relock.py [--upgrade]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from cookiecutter.main import cookiecutter

TEMPLATE = Path(__file__).resolve().parent.parent
LOCK_TEMPLATE = TEMPLATE / "{{cookiecutter.project_slug}}" / "uv.lock"
DEFAULT_SLUG = "daily-reports"
ROOT_PACKAGE = re.compile(
    r'\[\[package\]\]\nname = "%s"\nversion = "0\.1\.0"\nsource = \{ editable = "\." \}\n'
    r"(?:default-groups = \[[^\]\n]*\]\n)?" % DEFAULT_SLUG
)
# uv records default-groups (sorted) only when they differ from ["dev"]: the AWS backends,
# every work pool type but process, and output_format=iceberg add theirs.
TEMPLATED_ROOT = (
    "[[package]]\n"
    'name = "{{ cookiecutter.project_slug }}"\n'
    'version = "0.1.0"\n'
    'source = { editable = "." }\n'
    '{%- set backend_groups = ["aws-secrets-manager", "aws-secret-block"] %}\n'
    "{%- set default_groups = (\n"
    '    ["dev"]\n'
    "    + ([cookiecutter.secret_backend] if cookiecutter.secret_backend in backend_groups else [])\n"
    '    + ([cookiecutter.work_pool_type] if cookiecutter.work_pool_type != "process" else [])\n'
    '    + (["iceberg"] if cookiecutter.output_format == "iceberg" else [])\n'
    ") | sort %}\n"
    '{%- if default_groups != ["dev"] %}\n'
    "default-groups = {{ default_groups | tojson }}\n"
    "{%- endif %}\n"
)


def templatize(lock: str) -> str:
    """Turn the default bake's lock into the lock template."""
    if len(ROOT_PACKAGE.findall(lock)) != 1 or "{{" in lock or "{%" in lock:
        sys.exit("ERROR: the baked uv.lock does not have the expected root package entry")
    return ROOT_PACKAGE.sub(lambda _: TEMPLATED_ROOT, lock)


def main() -> int:
    """Bake, lock, write the template."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--upgrade", action="store_true", help="let uv move every version")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        project = Path(cookiecutter(str(TEMPLATE), no_input=True, output_dir=scratch))
        if args.upgrade:
            (project / "uv.lock").unlink(missing_ok=True)
        command = ["uv", "lock", *(["--upgrade"] if args.upgrade else [])]
        subprocess.run(command, cwd=project, check=True)
        LOCK_TEMPLATE.write_text(templatize((project / "uv.lock").read_text()))
    print(f"wrote {LOCK_TEMPLATE.relative_to(TEMPLATE)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
