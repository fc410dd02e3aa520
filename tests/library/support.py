"""What the library's tests share about the toy: its sample size, its totals; how errors show."""

from __future__ import annotations

import json
import traceback
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path

from toy_pipeline.project import DATASETS, VISITS

SAMPLE_ROWS = 200  # visits a day (the plugin's sample_rows, overridden in conftest.py)


def shown(error: BaseException) -> str:
    """Return what a user sees of an error: the whole traceback, chained exceptions included."""
    return "".join(traceback.format_exception(error))


def expected_totals(source: Path, day: date) -> list[tuple[str, int, float]]:
    """The day's (section, visits, seconds), computed without Polars."""
    sections: dict[int, str] = {}
    for line in (source / "pages.csv").read_text().splitlines()[1:]:
        page, section = line.split(",")
        sections[int(page)] = section  # the last line wins
    visits: Counter[str] = Counter()
    seconds: dict[str, float] = defaultdict(float)
    path = source / DATASETS.partition(VISITS.name, day) / "visits.ndjson"
    for line in path.read_text().splitlines():
        visit = json.loads(line)
        if visit["seconds"] is not None:
            section = sections.get(visit["page_id"], "unknown")
            visits[section] += 1
            seconds[section] += visit["seconds"]
    return [(section, visits[section], seconds[section]) for section in sorted(visits)]
