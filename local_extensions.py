"""A check cookiecutter runs while it renders the answers, before it creates any directory.

cookiecutter makes the project directory (parents included) before pre_gen_project runs, so a
slug such as `../x/y` would leave folders behind even though pre_gen rejects it. The private
`__slug_is_safe` answer renders through `checked_slug` first and stops the run cleanly.
"""

from __future__ import annotations

import re
import sys

from jinja2 import Environment
from jinja2.ext import Extension

# The same rules as hooks/pre_gen_project.py, which also guards replays.
SLUG = re.compile(r"^[a-z][a-z0-9-]*[a-z0-9]$")
# The slug names a directory, the package's directory and the Docker image: long before the
# filesystem's 255-byte limit on one name, a name this long is a mistake (a pasted sentence).
MAX_SLUG_LENGTH = 64


def abbreviated(value: str, keep: int = 40) -> str:
    """Return value cut to its first characters, so an error line stays one readable line."""
    return value if len(value) <= keep else value[:keep] + "..."


def checked_slug(slug: str, project_name: str) -> str:
    """Return a valid slug; print the hook's ERROR line and stop on any other."""
    if not isinstance(slug, str):
        # A replay renders this before its answers are in the context; pre_gen checks those.
        return ""
    if SLUG.match(slug) and "--" not in slug and len(slug) <= MAX_SLUG_LENGTH:
        return slug
    if len(slug) > MAX_SLUG_LENGTH:
        problem = (
            f"project_slug {abbreviated(slug)!r} is {len(slug)} characters long; keep it to "
            f"{MAX_SLUG_LENGTH} or fewer: type a shorter project name, or set project_slug "
            "(e.g. daily-reports)"
        )
    elif not slug:
        problem = (
            f"project_name {project_name!r} gives an empty project_slug; type a name with letters "
            "in it (e.g. Daily Reports), or set project_slug"
        )
    else:
        problem = (
            f"project_slug {slug!r} is not a valid slug; type lowercase letters, digits and "
            "hyphens, starting with a letter and ending with a letter or digit (e.g. daily-reports)"
        )
    print(f"ERROR: {problem}", file=sys.stderr)
    raise SystemExit(1)


class SlugCheck(Extension):
    """Make `checked_slug` available to cookiecutter.json."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.filters["checked_slug"] = checked_slug
