"""Schema migrations run once, in order, and a newer schema is refused."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import psycopg
import pytest

from alerts.migrations import MIGRATIONS, Migration, migrate, migrate_postgres
from alerts.model import AlertState
from alerts.store import PostgresAlertStore, SqliteAlertStore
from detectors.detection import Detection, episode_alert_id
from dianyan.errors import DianyanError

NOW_MS = 1_750_000_000_000
LATEST = MIGRATIONS[-1].version


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
    v = LATEST
    extra = (
        Migration(v + 2, "later", ("CREATE TABLE t3 (x INTEGER)",)),
        Migration(v + 1, "next", ("CREATE TABLE t2 (x INTEGER)", "INSERT INTO t2 VALUES (2)")),
    )
    with closing(sqlite3.connect(store_path, isolation_level=None)) as conn:
        assert migrate(conn, (*MIGRATIONS, *extra)) == 2
        assert migrate(conn, (*MIGRATIONS, *extra)) == 0
    assert applied_versions(store_path)[-2:] == [v + 1, v + 2]


def test_failing_migration_leaves_the_schema_as_it_was(store_path: Path) -> None:
    with SqliteAlertStore(store_path):
        pass
    broken = Migration(
        LATEST + 1, "broken", ("CREATE TABLE ok (x INTEGER)", "CREATE TABLE alerts (x)")
    )
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


def version_1_store(path: Path, d: Detection) -> str:
    """A store file as dianyan wrote it before version 2: one raised alert of ``d``."""
    alert_id = episode_alert_id(d.rule, d.entity_id, d.episode_start_ms)
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        migrate(conn, MIGRATIONS[:1])
        with conn:
            conn.execute(
                "INSERT INTO alerts VALUES (?, ?, ?, ?, 'high', 'raised', ?, ?, ?, 1, 'tv-1', "
                "'x', '{}', 'sha256:0', 1, ?)",
                (alert_id, d.rule, d.entity_id, d.county, d.start_ms, d.end_ms, d.start_ms, 7),
            )
            conn.execute(
                "INSERT INTO alert_events VALUES (?, 1, 7, 'dianyan', 'raised', '{}')", (alert_id,)
            )
            conn.execute(
                "INSERT INTO detections VALUES (?, ?, ?, ?, ?, ?, ?, NULL, 7, ?)",
                (d.key, d.rule, d.entity_id, d.county, d.start_ms, d.end_ms, alert_id, d.to_json()),
            )
    return alert_id


def test_a_version_1_file_upgrades_in_place_and_its_alerts_go_through_the_lifecycle(
    store_path: Path, make_detection: Callable[..., Detection]
) -> None:
    d = make_detection()
    alert_id = version_1_store(store_path, d)
    assert applied_versions(store_path) == [1]

    with SqliteAlertStore(store_path) as store:
        alert = store.get(alert_id)
        assert alert is not None
        assert (alert.state, alert.seq, alert.updated_at_ms) == (AlertState.RAISED, 1, 7)
        assert (alert.escalation_level, alert.overdue_since_ms, alert.department) == (0, None, None)
        assert store.apply([d], NOW_MS).duplicates == 1  # its detections are still known
        store.act(
            alert_id,
            "dispatch",
            actor="li",
            expected_seq=1,
            payload={"department": "应急局"},
            now_ms=NOW_MS,
        )
        assert [e.action for e in store.events(alert_id)] == ["raised", "dispatch"]
        assert store.list_exemptions() == []
    assert applied_versions(store_path) == [m.version for m in MIGRATIONS]


def test_postgres_migrates_once_and_refuses_a_newer_schema(postgres_dsn: str) -> None:
    PostgresAlertStore(postgres_dsn).close()  # already migrated by the fixture: a no-op
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        versions = [v for (v,) in conn.execute("SELECT version FROM schema_migrations")]
        assert sorted(versions) == [m.version for m in MIGRATIONS]
        assert migrate_postgres(conn) == 0
        conn.execute("INSERT INTO schema_migrations VALUES (999, 'future', 0)")
        try:
            with pytest.raises(DianyanError, match="upgrade dianyan"):
                PostgresAlertStore(postgres_dsn)
        finally:
            conn.execute("DELETE FROM schema_migrations WHERE version = 999")
