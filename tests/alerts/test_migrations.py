"""Schema migrations run once, in order, and a newer schema is refused."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest

from alerts.migrations import MIGRATIONS, Migration, migrate
from alerts.store import SqliteAlertStore
from detectors.detection import Detection
from dianyan.errors import DianyanError

NOW_MS = 1_750_000_000_000


def applied_versions(path: Path) -> list[int]:
    with closing(sqlite3.connect(path)) as conn:
        return [v for (v,) in conn.execute("SELECT version FROM schema_migrations")]


def test_reopening_a_store_keeps_data_and_migrates_once(
    store_path: Path, make_detection: Callable[..., Detection]
) -> None:
    with SqliteAlertStore(store_path) as store:
        store.apply([make_detection()], NOW_MS)
    with SqliteAlertStore(store_path) as store:
        assert len(store.list_alerts()) == 1
    assert applied_versions(store_path) == [m.version for m in MIGRATIONS]


def test_file_store_uses_write_ahead_logging(store_path: Path) -> None:
    with SqliteAlertStore(store_path):
        pass
    with closing(sqlite3.connect(store_path)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_new_migrations_are_applied_in_order_after_the_old_ones(store_path: Path) -> None:
    with SqliteAlertStore(store_path):
        pass
    extra = (
        Migration(3, "third", ("CREATE TABLE t3 (x INTEGER)",)),
        Migration(2, "second", ("CREATE TABLE t2 (x INTEGER)", "INSERT INTO t2 VALUES (2)")),
    )
    with closing(sqlite3.connect(store_path, isolation_level=None)) as conn:
        assert migrate(conn, (*MIGRATIONS, *extra)) == 2
        assert migrate(conn, (*MIGRATIONS, *extra)) == 0
    assert applied_versions(store_path)[-2:] == [2, 3]


def test_failing_migration_leaves_the_schema_as_it_was(store_path: Path) -> None:
    with SqliteAlertStore(store_path):
        pass
    broken = Migration(2, "broken", ("CREATE TABLE ok (x INTEGER)", "CREATE TABLE alerts (x)"))
    with closing(sqlite3.connect(store_path, isolation_level=None)) as conn:
        with pytest.raises(sqlite3.OperationalError):
            migrate(conn, (*MIGRATIONS, broken))
        tables = {n for (n,) in conn.execute("SELECT name FROM sqlite_master")}
    assert "ok" not in tables
    assert applied_versions(store_path) == [m.version for m in MIGRATIONS]


def test_store_with_a_newer_schema_is_refused(store_path: Path) -> None:
    with SqliteAlertStore(store_path):
        pass
    with closing(sqlite3.connect(store_path)) as conn, conn:
        conn.execute("INSERT INTO schema_migrations VALUES (999, 'future', 0)")
    with pytest.raises(DianyanError, match="upgrade dianyan"):
        SqliteAlertStore(store_path)
