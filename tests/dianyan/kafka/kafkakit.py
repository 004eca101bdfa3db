"""Helpers of the Kafka tests: the alert set to compare, a deployment, worker processes."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaConsumer

from dianyan.kafka.broker import free_port
from dianyan.kafka.progress import GroupProgress, group_progress

THRESHOLDS = "config/thresholds.yaml"

AlertKey = tuple[str, str, str, int]


def alert_keys(alerts: list) -> list[AlertKey]:
    """What must match between runs: alert id, rule, entity, episode start."""
    return sorted((a.id, a.rule, a.entity_id, a.episode_start_ms) for a in alerts)


@dataclass
class Deployment:
    """One test's topics and group on the shared broker."""

    bootstrap: str
    prefix: str
    group: str
    partitions: int

    def progress(self) -> GroupProgress:
        return asyncio.run(group_progress(self.bootstrap, self.group, f"{self.prefix}readings"))

    def wait_done(self, timeout_s: float = 90.0) -> None:
        """Until every readings partition is checkpointed and committed at its end."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.progress().done:
                return
            time.sleep(0.3)
        raise AssertionError(f"workers did not finish: {self.progress()}")


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


def replay(d: Deployment, province: Path, *extra: str) -> subprocess.Popen[bytes]:
    args = ["replay", str(province / "readings.parquet"), "--to", f"kafka://{d.bootstrap}"]
    args += ["--prefix", d.prefix, "--partitions", str(d.partitions), *extra]
    return subprocess.Popen(
        [sys.executable, "-m", "dianyan.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


async def consume_all(bootstrap: str, topic: str, n: int) -> list[dict]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    out: list[dict] = []
    try:
        while len(out) < n:
            batch = await asyncio.wait_for(consumer.getmany(timeout_ms=1000), timeout=30)
            out += [json.loads(m.value) for msgs in batch.values() for m in msgs]
    finally:
        await consumer.stop()
    return out
