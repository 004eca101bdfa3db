"""End-to-end replay throughput of the embedded pipeline, file read included.

Simulates (once, in a child process, cached in --data) a province of 10,000 enterprises x 28
days (about 27 million electricity readings, no gas or water stations), then replays
readings.parquet through validation, normalization, the electricity detector and the SQLite
alert store, and reports readings/s, peak RSS of the replay process and bytes of detector
state per enterprise. Wall-clock figures suffer on a shared machine, so the replay's CPU time
(user + system, from getrusage) and the readings/s it implies are reported too.

    python benchmarks/replay_throughput.py [--enterprises N --days D] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

from alerts.store import SqliteAlertStore
from detectors.thresholds import load_thresholds
from dianyan.allocator import tune_allocator
from dianyan.pipeline import Pipeline
from ingest.deadletter import MemoryDeadLetter
from ingest.registry import Registry
from measure import cpu_seconds, peak_rss_bytes


def ensure_data(data: Path, counties: int, enterprises: int, days: int, seed: int) -> None:
    if (data / "readings.parquet").exists():
        return
    cmd = [
        sys.executable,
        "-m",
        "dianyan.cli",
        "simulate",
        "--counties",
        str(counties),
        "--enterprises",
        str(enterprises),
        "--days",
        str(days),
        "--seed",
        str(seed),
        "--out",
        str(data),
        "--gas-stations-per-county",
        "0",
        "--water-stations-per-county",
        "0",
    ]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    print(f"simulated {enterprises} enterprises x {days} days in {time.perf_counter() - t0:.1f} s")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--enterprises", type=int, default=10_000)
    ap.add_argument("--days", type=int, default=28)
    ap.add_argument("--counties", type=int, default=20)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--data", default="out/bench-replay", help="simulated data (cached)")
    ap.add_argument("--thresholds", default="config/thresholds.yaml")
    ap.add_argument(
        "--no-malloc-tuning",
        action="store_true",
        help="leave glibc's allocator thresholds alone (dianyan's CLI raises them)",
    )
    ap.add_argument("--json", help="write the figures to this file")
    args = ap.parse_args(argv)
    malloc_tuned = False if args.no_malloc_tuning else tune_allocator()

    data = Path(args.data)
    ensure_data(data, args.counties, args.enterprises, args.days, args.seed)
    readings = pq.ParquetFile(data / "readings.parquet").metadata.num_rows
    thresholds = load_thresholds(args.thresholds)
    registry = Registry.load(data / "registry")
    with tempfile.TemporaryDirectory() as tmp, SqliteAlertStore(Path(tmp) / "a.sqlite") as store:
        pipeline = Pipeline(thresholds, store, MemoryDeadLetter(), registry=registry)
        cpu0 = cpu_seconds()
        summary = pipeline.run(data / "readings.parquet")
        cpu = cpu_seconds() - cpu0
        alerts = len(store.list_alerts())
    peak = peak_rss_bytes()
    detector = pipeline.detector
    per_entity = detector.state_bytes_per_entity()
    figures = {
        "readings": readings,
        "seconds": round(summary.seconds, 3),
        "readings_per_s": round(readings / summary.seconds),
        "cpu_seconds": round(cpu, 3),
        "readings_per_cpu_s": round(readings / cpu),
        "peak_rss_bytes": peak,
        "state_bytes_per_entity": round(per_entity),
        "entities": len(detector.state),
        "alerts": alerts,
        "malloc_tuned": malloc_tuned,
    }
    print(summary)
    print(json.dumps(figures, indent=2))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
