"""The test servers' database template: a cache shared by every test run, never half-written.

A test Prefect server starts from a copy of an empty database migrated for the installed
Prefect (testing/servers.py); the first server without one leaves its new database there.
Whether a server boots from it is what every test that uses the API shows; these check the
cache itself.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from prefect_polars_cloud.testing.servers import PrefectServer, database_template


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


def database_in_use(folder: Path) -> sqlite3.Connection:
    """Write a database as a server holds it: write-ahead log on, a connection still open."""
    folder.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(folder / "prefect.db")
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("CREATE TABLE alembic_version (version_num TEXT)")
    connection.execute("INSERT INTO alembic_version VALUES ('head')")
    connection.commit()
    return connection


def versions(database: Path) -> list[tuple[str]]:
    with closing(sqlite3.connect(database)) as connection:
        return connection.execute("SELECT version_num FROM alembic_version").fetchall()


def test_the_template_is_kept_in_the_users_cache_by_prefect_version(cache: Path) -> None:
    from prefect import __version__

    assert database_template() == cache / "prefect-polars-cloud" / f"prefect-{__version__}.db"


def test_a_new_database_in_use_becomes_the_template_whole(cache: Path, tmp_path: Path) -> None:
    server = PrefectServer(tmp_path / "server")
    with closing(database_in_use(server.folder)):
        server.keep_template()

    assert versions(database_template()) == [("head",)], "committed rows still in the log too"
    assert [path.name for path in database_template().parent.iterdir()] == [
        database_template().name
    ], "no partial copy left beside it"


def test_a_template_there_is_left_as_it_is(cache: Path, tmp_path: Path) -> None:
    database_template().parent.mkdir(parents=True)
    database_template().write_bytes(b"kept")
    server = PrefectServer(tmp_path / "server")
    with closing(database_in_use(server.folder)):
        server.keep_template()

    assert database_template().read_bytes() == b"kept"


def test_a_cache_that_cannot_be_written_costs_nothing_but_the_next_migration(
    cache: Path, tmp_path: Path
) -> None:
    cache.write_text("a file where the cache folder would be")
    server = PrefectServer(tmp_path / "server")
    with closing(database_in_use(server.folder)):
        server.keep_template()  # no error: the tests go on

    assert not database_template().exists()
