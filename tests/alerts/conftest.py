"""Factories for the alert tests: detections, and stores on both backends.

Tests that take ``store`` or ``open_store`` run once on SQLite and once on PostgreSQL.
PostgreSQL is the server at ``DIANYAN_TEST_POSTGRES`` (default: 127.0.0.1:5432, database
test, user postgres); each test session works in a schema of its own, dropped at the end.
When the server is unreachable those runs are skipped, except with ``CI=true``: then fail.
"""

from __future__ import annotations

import datetime
import itertools
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from lifecycle_steps import NOW_MS, PATHS, step

from alerts.model import Alert
from alerts.store import AlertStore, PostgresAlertStore, SqliteAlertStore
from detectors.detection import Detection, episode_alert_id

POSTGRES = "host=127.0.0.1 port=5432 dbname=test user=postgres connect_timeout=3"
_TABLES = ("alert_events", "detections", "exemptions", "alerts")  # children first

SLOT_MS = 15 * 60 * 1000
# 2024-05-01 22:15 China Standard Time, inside the night window.
T0_MS = int(
    datetime.datetime(
        2024, 5, 1, 22, 15, tzinfo=datetime.timezone(datetime.timedelta(hours=8))
    ).timestamp()
    * 1000
)


def detection(
    rule: str = "night_production",
    entity_id: str = "E001",
    county: str = "370481",
    start_slot: int = 0,
    *,
    final: bool = False,
    slots: int | None = None,
    suppressed_by: str | None = None,
    observed: float = 42.0,
    evidence: dict[str, Any] | None = None,
) -> Detection:
    """One delivery of the episode starting ``start_slot`` slots after T0.

    The opening delivery covers 2 slots, the final one 4 unless ``slots`` says otherwise.
    """
    start_ms = T0_MS + start_slot * SLOT_MS
    covered = slots if slots is not None else (4 if final else 2)
    return Detection(
        rule=rule,
        entity_id=entity_id,
        county=county,
        episode_start_ms=start_ms,
        start_ms=start_ms,
        end_ms=start_ms + covered * SLOT_MS,
        severity="high",
        score=3.5,
        observed=observed,
        baseline=10.0,
        thresholds={"night_fraction": 0.6, "min_run": 2},
        thresholds_version="tv-1",
        explanation="夜间用电达到日间生产水平 / Night consumption at daytime production level",
        final=final,
        suppressed_by=suppressed_by,
        evidence=evidence if evidence is not None else {"kwh": [40.0, 44.0]},
    )


@pytest.fixture(scope="session")
def make_detection() -> Callable[..., Detection]:
    return detection


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """A DSN whose search_path is a fresh schema, migrated; the schema is dropped after."""
    server = os.environ.get("DIANYAN_TEST_POSTGRES", POSTGRES)
    try:
        admin = psycopg.connect(server, autocommit=True)
    except psycopg.OperationalError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL at {server!r} is unreachable and CI=true: {exc}")
        pytest.skip(f"PostgreSQL at {server!r} is unreachable: {exc}")
    schema = f"dianyan_test_{uuid.uuid4().hex[:12]}"
    try:
        admin.execute(f"CREATE SCHEMA {schema}")
        dsn = f"{server} options='-c search_path={schema}'"
        PostgresAlertStore(dsn).close()  # migrate once
        yield dsn
    finally:
        admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        admin.close()


@pytest.fixture(scope="session")
def _postgres_session(postgres_dsn: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        yield conn


@pytest.fixture(params=["sqlite", "postgres"])
def open_store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[[], AlertStore]]:
    """Opens stores (each its own connection) on one empty database; closes them after."""
    opened: list[AlertStore] = []
    if request.param == "sqlite":
        path = tmp_path / "alerts.sqlite"

        def connect() -> AlertStore:
            return SqliteAlertStore(path)
    else:
        dsn = request.getfixturevalue("postgres_dsn")
        empty = request.getfixturevalue("_postgres_session")
        for table in _TABLES:
            empty.execute(f"DELETE FROM {table}")  # faster than TRUNCATE on small tables

        def connect() -> AlertStore:
            return PostgresAlertStore(dsn)

    def open_one() -> AlertStore:
        opened.append(connect())
        return opened[-1]

    yield open_one
    for s in opened:
        s.close()


@pytest.fixture
def store(open_store: Callable[[], AlertStore]) -> AlertStore:
    """An empty store, on SQLite and on PostgreSQL."""
    return open_store()


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "alerts.sqlite"


@pytest.fixture
def raise_alert(store: AlertStore) -> Callable[..., Alert]:
    """Raise a fresh alert (a new entity each call) in ``county`` and walk it along ``path``."""
    entities = itertools.count(1)

    def make(
        path: str = "raised", *, county: str = "370481", rule: str = "night_production"
    ) -> Alert:
        d = detection(rule=rule, entity_id=f"E{next(entities):03d}", county=county)
        store.apply([d], NOW_MS)
        alert = store.get(episode_alert_id(d.rule, d.entity_id, d.episode_start_ms))
        assert alert is not None
        for action, payload in PATHS[path]:
            alert = step(store, alert, action, payload)
        return alert

    return make
