"""A real Tansu broker for the session, worker processes, and the embedded run to compare with.

Each test takes its own topic prefix and consumer group, so tests share the broker but
not their data. PostgreSQL (shared by the workers of a test) is the server at
127.0.0.1:5432, database test; each test gets a schema of its own. Without the server
those tests are skipped, except with CI=true: then they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from kafkakit import THRESHOLDS, AlertKey, Deployment, WorkerProcess, alert_keys

from alerts.store import PostgresAlertStore, SqliteAlertStore
from detectors.thresholds import load_thresholds
from dianyan.kafka.broker import EmbeddedBroker
from dianyan.pipeline import Pipeline
from ingest.deadletter import MemoryDeadLetter
from ingest.registry import Registry

CI = os.environ.get("CI") == "true"
POSTGRES = "host=127.0.0.1 port=5432 dbname=test user=postgres connect_timeout=3"


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("broker") / "tansu.log"
    with EmbeddedBroker(log=log) as b:
        yield b.bootstrap


@pytest.fixture(scope="session")
def embedded_alerts(province: Path) -> list[AlertKey]:
    """`dianyan run` on the province: the alert set every distributed run must equal."""
    with SqliteAlertStore(":memory:") as store:
        pipe = Pipeline(
            load_thresholds(THRESHOLDS),
            store,
            MemoryDeadLetter(),
            registry=Registry.load(province / "registry"),
        )
        pipe.run(province / "readings.parquet")
        return alert_keys(store.list_alerts())


@pytest.fixture
def pg_dsn() -> Iterator[str]:
    """A migrated PostgreSQL schema of this test's own; dropped afterwards."""
    try:
        admin = psycopg.connect(POSTGRES, autocommit=True)
    except psycopg.OperationalError as exc:
        if CI:
            raise
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    schema = f"dianyan_kafka_{uuid.uuid4().hex[:10]}"
    admin.execute(f"CREATE SCHEMA {schema}")
    dsn = f"{POSTGRES} options='-c search_path={schema}'"
    PostgresAlertStore(dsn).close()  # migrate once, before workers race to
    try:
        yield dsn
    finally:
        admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        admin.close()


@pytest.fixture
def deployment(broker: str) -> Deployment:
    tag = uuid.uuid4().hex[:8]
    return Deployment(broker, f"t{tag}-", f"g{tag}", partitions=4)


@pytest.fixture
def start_worker(deployment: Deployment, tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    """Factory: a worker of this test's deployment; every one is stopped at the end."""
    started: list[WorkerProcess] = []

    def start(*extra: str, session_timeout: float = 4.0) -> WorkerProcess:
        d = deployment
        args = [
            "--broker", f"kafka://{d.bootstrap}",
            "--prefix", d.prefix,
            "--partitions", str(d.partitions),
            "--group", d.group,
            "--thresholds", THRESHOLDS,
            "--session-timeout", str(session_timeout),
            "--checkpoint-every", "0.5",
            "--loglevel", "info",
            *extra,
        ]  # fmt: skip
        w = WorkerProcess(args, tmp_path / f"worker{len(started)}.log")
        started.append(w)
        return w

    yield start
    for w in started:
        w.stop()
