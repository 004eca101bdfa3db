"""A real Tansu broker for the session, worker processes, and the embedded run to compare with.

Each test takes its own topic prefix and consumer group, so tests share the broker but
not their data. PostgreSQL (shared by the workers of a test) is the server at
127.0.0.1:5432, database test; each test gets a schema of its own. Without the server
those tests are skipped, except with CI=true: then they fail.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from alerts.store import PostgresAlertStore, SqliteAlertStore
from detectors.thresholds import load_thresholds
from dianyan.kafka.broker import EmbeddedBroker, free_port
from dianyan.kafka.progress import group_progress
from dianyan.pipeline import Pipeline
from ingest.deadletter import MemoryDeadLetter
from ingest.registry import Registry

CI = os.environ.get("CI") == "true"
POSTGRES = "host=127.0.0.1 port=5432 dbname=test user=postgres connect_timeout=3"
THRESHOLDS = "config/thresholds.yaml"

AlertKey = tuple[str, str, str, int]


def alert_keys(alerts: list) -> list[AlertKey]:
    """What must match between runs: alert id, rule, entity, episode start."""
    return sorted((a.id, a.rule, a.entity_id, a.episode_start_ms) for a in alerts)


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


@dataclass
class Deployment:
    """One test's topics and group on the shared broker."""

    bootstrap: str
    prefix: str
    group: str
    partitions: int

    def progress(self):
        return asyncio.run(group_progress(self.bootstrap, self.group, f"{self.prefix}readings"))

    def wait_done(self, timeout_s: float = 90.0) -> None:
        """Until every readings partition is checkpointed and committed at its end."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.progress().done:
                return
            time.sleep(0.3)
        raise AssertionError(f"workers did not finish: {self.progress()}")


@pytest.fixture
def deployment(broker: str) -> Deployment:
    tag = uuid.uuid4().hex[:8]
    return Deployment(broker, f"t{tag}-", f"g{tag}", partitions=4)


class WorkerProcess:
    """``dianyan worker`` in a process of its own, with its /metrics port."""

    def __init__(self, args: list[str], log: Path) -> None:
        self.port = free_port()
        self.log = log
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "dianyan.cli",
                    "worker",
                    *args,
                    "--web-port",
                    str(self.port),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as r:
            return r.read().decode()

    def metric(self, name: str) -> float:
        """Sum of a metric's samples (0 before the first)."""
        total = 0.0
        for line in self.metrics().splitlines():
            if line.startswith(name) and line[len(name)] in " {,}":
                total += float(line.rsplit(" ", 1)[1])
        return total

    def wait_metric(self, name: str, at_least: float, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited: {self.log.read_text()[-3000:]}")
            try:
                if self.metric(name) >= at_least:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"{name} stayed below {at_least}: {self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


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
