"""Readings/s through a Kafka-compatible broker: dianyan workers against a plain Faust agent.

Starts the embedded Tansu broker, simulates two provinces (electricity only, cached in
--data), and measures:

- Arrow batches (``dianyan replay``), 1 worker and 2 workers: the topic is filled first, the
  workers start after; readings/s from the first partition assignment until every partition
  is checkpointed and committed at its end;
- per-reading JSON messages (one message per reading, keyed by entity), 1 worker, the same way;
- the reference: a plain Faust agent doing the same detector work per event (one JSON
  message decoded, validated and stepped through the pipeline at a time);
- consumer lag: one worker already running while ``dianyan replay`` sends the Arrow province
  as fast as it can; the worst ``dianyan_consumer_lag_seconds`` / ``_messages`` seen.

    python benchmarks/kafka_throughput.py [--enterprises N --days D] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import datetime
from pathlib import Path

import pyarrow.parquet as pq

from dianyan.kafka.broker import EmbeddedBroker, free_port
from dianyan.kafka.progress import group_progress
from dianyan.kafka.replay import replay
from dianyan.kafka.topics import Topics

PARTITIONS = 4
_RESTORED = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\].*partition \d+ restored")


def simulate(out: Path, enterprises: int, days: int, seed: int) -> Path:
    if not (out / "readings.parquet").exists():
        subprocess.run(
            [
                *(sys.executable, "-m", "dianyan.cli", "simulate", "--counties", "4"),
                *("--enterprises", str(enterprises), "--days", str(days), "--seed", str(seed)),
                *("--out", str(out), "--gas-stations-per-county", "0"),
                *("--water-stations-per-county", "0"),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return out


class Run:
    """One measured deployment: a topic prefix, a group, its worker processes."""

    def __init__(self, bootstrap: str, data: Path, work: Path, name: str) -> None:
        self.bootstrap, self.data, self.work, self.name = bootstrap, data, work, name
        tag = uuid.uuid4().hex[:6]
        self.topics = Topics(f"{name}-{tag}-", PARTITIONS)
        self.group = f"{name}-{tag}"
        self.workers: list[tuple[subprocess.Popen[bytes], Path, int]] = []

    def fill(self, fmt: str) -> int:
        summary = asyncio.run(
            replay(self.data / "readings.parquet", self.bootstrap, self.topics, fmt=fmt)
        )
        print(f"  {self.name}: {summary}")
        return summary.readings

    def start_worker(self) -> None:
        log, port = self.work / f"{self.group}-{len(self.workers)}.log", free_port()
        args = [sys.executable, "-m", "dianyan.cli", "worker"]
        args += ["--broker", f"kafka://{self.bootstrap}", "--prefix", self.topics.prefix]
        args += ["--partitions", str(PARTITIONS), "--group", self.group]
        args += ["--registry", str(self.data / "registry"), "--web-port", str(port)]
        args += ["--db", str(self.work / f"{self.group}.sqlite"), "--loglevel", "info"]
        with open(log, "wb") as out:
            proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        self.workers.append((proc, log, port))

    def first_assignment(self) -> float:
        times = []
        for _, log, _ in self.workers:
            for line in log.read_text(errors="replace").splitlines():
                m = _RESTORED.match(line)
                if m:
                    times.append(datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp())
                    break
        return min(times)

    def wait_done(self, timeout_s: float = 600) -> float:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if asyncio.run(group_progress(self.bootstrap, self.group, self.topics.readings)).done:
                return time.time()
            time.sleep(0.2)
        raise SystemExit(f"{self.name}: workers did not finish; logs in {self.work}")

    def metric_max(self, name: str) -> float:
        best = 0.0
        for _, _, port in self.workers:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                    text = r.read().decode()
            except OSError:
                continue
            for line in text.splitlines():
                if line.startswith(name + "{") or line.startswith(name + " "):
                    best = max(best, float(line.rsplit(" ", 1)[1]))
        return best

    def stop(self) -> None:
        for proc, _, _ in self.workers:
            proc.terminate()
        for proc, _, _ in self.workers:
            proc.wait(timeout=30)


def measure_preloaded(run: Run, fmt: str, workers: int) -> float:
    readings = run.fill(fmt)
    for _ in range(workers):
        run.start_worker()
    try:
        done = run.wait_done()
        seconds = done - run.first_assignment()
    finally:
        run.stop()
    rate = readings / seconds
    print(f"  {run.name}: {readings:,} readings in {seconds:.2f} s: {rate:,.0f} readings/s")
    return rate


def measure_live_lag(run: Run) -> tuple[float, float]:
    run.start_worker()
    try:
        while run.metric_max("dianyan_partitions") < 1:
            time.sleep(0.2)
        feed = subprocess.Popen(
            [
                *(
                    sys.executable,
                    "-m",
                    "dianyan.cli",
                    "replay",
                    str(run.data / "readings.parquet"),
                ),
                *("--to", f"kafka://{run.bootstrap}", "--prefix", run.topics.prefix),
            ],
            stdout=subprocess.DEVNULL,
        )
        lag_s = lag_msgs = 0.0
        while True:
            lag_s = max(lag_s, run.metric_max("dianyan_consumer_lag_seconds"))
            lag_msgs = max(lag_msgs, run.metric_max("dianyan_consumer_lag_messages"))
            if (
                feed.poll() is not None
                and asyncio.run(group_progress(run.bootstrap, run.group, run.topics.readings)).done
            ):
                break
            time.sleep(0.1)
    finally:
        run.stop()
    print(f"  live: worst lag {lag_s:.2f} s, {lag_msgs:.0f} messages behind (per partition)")
    return lag_s, lag_msgs


def plain_faust(bootstrap: str, data: Path, work: Path, limit_s: float) -> float:
    """A plain Faust agent over per-reading JSON, the detector work done per event."""
    topics = Topics(f"plain-{uuid.uuid4().hex[:6]}-", PARTITIONS)
    asyncio.run(replay(data / "readings.parquet", bootstrap, topics, fmt="json"))
    out = work / "plain.json"
    args = [sys.executable, __file__, "--plain-agent", bootstrap, topics.readings]
    args += [str(data / "registry"), str(limit_s), str(out)]
    with open(work / "plain.log", "wb") as log:
        subprocess.run(args, check=True, stdout=log, stderr=subprocess.STDOUT, timeout=600)
    result = json.loads(out.read_text())
    print(f"  plain Faust agent: {result['events']:,} readings in {result['seconds']:.1f} s: "
          f"{result['rate']:,.0f} readings/s")  # fmt: skip
    return float(result["rate"])


def run_plain_agent(bootstrap: str, topic: str, registry: str, limit_s: float, out: str) -> None:
    """(In a child process.) The straightforward Faust agent: for each event, parse the JSON
    reading, make it a one-row table and step the partition's detector set with it; store
    what it detects. (No validation or register normalization: less work than a worker does.)
    """
    import faust
    import pyarrow as pa

    from alerts.store import SqliteAlertStore
    from detectors.detector_set import DetectorSet
    from detectors.thresholds import load_thresholds
    from dianyan.kafka.partition import LiveContext
    from ingest.registry import Registry
    from ingest.schema import READING_SCHEMA

    app = faust.App(
        f"plain-{uuid.uuid4().hex[:6]}",
        broker=f"kafka://{bootstrap}",
        store="memory://",
        web_enabled=False,
        datadir=tempfile.mkdtemp(),
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=10,
        broker_heartbeat_interval=1,
    )
    source = app.topic(topic, value_serializer="json", key_serializer="raw")
    context = LiveContext(Registry.load(registry))
    thresholds = load_thresholds("config/thresholds.yaml")
    sets: dict[int, DetectorSet] = {}
    store = SqliteAlertStore(":memory:")
    seen = {"n": 0, "t0": 0.0}

    @app.agent(source)
    async def detect(stream):  # type: ignore[no-untyped-def]
        async for event in stream.events():
            if not seen["t0"]:
                seen["t0"] = time.perf_counter()
            r = event.value
            row = pa.Table.from_pydict(
                {
                    "entity_id": [r["entity_id"]],
                    "metric": pa.array([r["metric"]]).dictionary_encode(),
                    "ts": pa.array([r["ts"]], pa.timestamp("ms", "UTC")),
                    "value": [float(r["value"])],
                },
                schema=READING_SCHEMA,
            )
            p = event.message.partition
            detectors = sets.get(p) or sets.setdefault(p, DetectorSet(thresholds, context))
            found = detectors.step(row).detections
            if found:
                store.apply(found, now_ms=int(time.time() * 1000))
            seen["n"] += 1
            elapsed = time.perf_counter() - seen["t0"]
            if elapsed >= limit_s:
                rate = seen["n"] / elapsed
                result = {"events": seen["n"], "seconds": elapsed, "rate": rate}
                Path(out).write_text(json.dumps(result))
                os._exit(0)

    faust.Worker(app, loglevel="warn", quiet=True).execute_from_commandline()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--plain-agent":
        bootstrap, topic, registry, limit, out = sys.argv[2:7]
        run_plain_agent(bootstrap, topic, registry, float(limit), out)
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--enterprises", type=int, default=2000)
    ap.add_argument("--days", type=int, default=28)
    ap.add_argument("--json-enterprises", type=int, default=120)
    ap.add_argument("--plain-seconds", type=float, default=15.0)
    ap.add_argument("--data", default=str(Path(tempfile.gettempdir()) / "dianyan-kafka-bench"))
    ap.add_argument("--json", dest="json_path", help="write the figures to this file")
    args = ap.parse_args()

    data = Path(args.data)
    arrow_data = simulate(data / f"arrow-{args.enterprises}x{args.days}", args.enterprises,
                          args.days, 5)  # fmt: skip
    json_data = simulate(data / f"json-{args.json_enterprises}x{args.days}",
                         args.json_enterprises, args.days, 3)  # fmt: skip
    readings = pq.read_metadata(arrow_data / "readings.parquet").num_rows
    print(f"Arrow province: {readings:,} readings; JSON province: "
          f"{pq.read_metadata(json_data / 'readings.parquet').num_rows:,}")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker(log=Path(tmp) / "tansu.log") as b:
        work = Path(tmp)
        arrow_1 = measure_preloaded(Run(b.bootstrap, arrow_data, work, "arrow1"), "arrow", 1)
        arrow_2 = measure_preloaded(Run(b.bootstrap, arrow_data, work, "arrow2"), "arrow", 2)
        json_1 = measure_preloaded(Run(b.bootstrap, json_data, work, "json1"), "json", 1)
        plain = plain_faust(b.bootstrap, json_data, work, args.plain_seconds)
        lag_s, lag_msgs = measure_live_lag(Run(b.bootstrap, arrow_data, work, "live"))
    figures = {
        "arrow_readings_per_s_per_worker": round(arrow_1),
        "arrow_readings_per_s_2_workers": round(arrow_2),
        "json_readings_per_s": round(json_1),
        "plain_faust_json_readings_per_s": round(plain),
        "max_lag_seconds": round(lag_s, 2),
        "max_lag_messages": int(lag_msgs),
        "json_vs_plain_faust": round(json_1 / plain, 1) if plain else None,
        "readings_arrow": readings,
        "partitions": PARTITIONS,
        "cpus": os.cpu_count(),
        "load_average": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(figures, indent=2))
    if args.json_path:
        Path(args.json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_path).write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
