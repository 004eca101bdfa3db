"""Backtest throughput: one replay of a simulated province under two or more thresholds sets.

Simulates a province (electricity only, seeded), then times, on the same readings file:

- ``run``: the embedded pipeline with the shipped thresholds (what ``dianyan run`` does);
- ``backtest``: ``tuning.replay.replay`` with the shipped file and a candidate that loosens
  usage_surge in one county (what ``dianyan backtest`` does: read and validate once, detect
  per set);
- ``sweep``: the same with ``--sweep`` sets (what ``dianyan tune`` does for a grid), over the
  one county only.

Readings/s counts the readings read from the file, per wall second.

    python benchmarks/backtest_throughput.py [--counties 3 --enterprises 300 --days 35]
        [--sweep 8] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from alerts.store import SqliteAlertStore
from detectors.threshold_parse import read_yaml
from detectors.thresholds import load_thresholds
from dianyan.metrics import Metrics
from dianyan.pipeline import Pipeline
from ingest.deadletter import MemoryDeadLetter
from ingest.registry import Registry
from ingest.simulator import simulate
from tuning.override import candidate_thresholds
from tuning.replay import replay
from tuning.scope import Scope

LIVE = Path("config/thresholds.yaml")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--counties", type=int, default=3)
    ap.add_argument("--enterprises", type=int, default=300)
    ap.add_argument("--days", type=int, default=35)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--sweep", type=int, default=8, help="thresholds sets in the sweep")
    ap.add_argument("--json", help="write the figures to this file")
    args = ap.parse_args(argv)
    size = {k: getattr(args, k) for k in ("counties", "enterprises", "days", "seed")}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        summary = simulate(
            out_dir=out, gas_stations_per_county=0, water_stations_per_county=0, **size
        )
        readings, registry = out / "readings.parquet", Registry.load(out / "registry")
        county = summary.counties[0].split()[0]  # "370481 滕州市"
        live, text = load_thresholds(LIVE), LIVE.read_text(encoding="utf-8")
        doc = read_yaml(text, str(LIVE))

        def loose(z: float) -> object:
            return candidate_thresholds(doc, str(LIVE), county, "usage_surge", "z", z)

        t0 = time.perf_counter()
        with SqliteAlertStore(out / "run.sqlite") as store:
            Pipeline(
                live, store, MemoryDeadLetter(), registry=registry, metrics=Metrics.create()
            ).run(readings)
        run_s = time.perf_counter() - t0
        backtest = replay(readings, {"live": live, "loose": loose(2.0)}, registry=registry)
        grid = [2.0 + 1.5 * i for i in range(args.sweep)]
        sweep = replay(
            readings, {repr(z): loose(z) for z in grid}, registry=registry, scope=Scope(county)
        )
    n = summary.readings
    figures = {
        "size": size,
        "readings": n,
        "run": {"seconds": round(run_s, 2), "readings_per_s": round(n / run_s)},
        "backtest_2_sets": {
            "seconds": round(backtest.seconds, 2),
            "readings_per_s": round(backtest.readings_per_second),
        },
        f"sweep_{args.sweep}_sets_one_county": {
            "seconds": round(sweep.seconds, 2),
            "readings_per_s": round(sweep.readings_per_second),
            "readings_replayed": sweep.readings_replayed,
        },
    }
    print(f"province {size}: {n:,} readings")
    for name in ("run", "backtest_2_sets", f"sweep_{args.sweep}_sets_one_county"):
        f = figures[name]
        print(f"  {name:<28} {f['seconds']:>7.2f} s  {f['readings_per_s']:>10,} readings/s")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(figures, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
