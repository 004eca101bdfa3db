"""`dianyan score` throughput: rows/s from CSV text to scored CSV text, and the flag rate.

Generates a seeded 1-minute series with a daily cycle and Gaussian noise (one or more value
columns) as CSV in memory, runs ``score_stream`` over it with the shipped thresholds, and
reports wall and CPU time, rows/s, and how many rows were flagged (the noise should give
about 1 - threshold of them, plus the planted spikes).

    python benchmarks/score_throughput.py [--rows N] [--columns K] [--json PATH]
"""

from __future__ import annotations

import argparse
import io
import json
import time
from pathlib import Path

import numpy as np

from detectors.thresholds import load_thresholds
from dianyan.score_csv import score_stream

ROOT = Path(__file__).resolve().parents[1]


def make_csv(rows: int, columns: int, seed: int) -> tuple[bytes, int]:
    """CSV bytes and the number of planted spikes (one every 100,000 rows)."""
    rng = np.random.default_rng(seed)
    ts = np.datetime64("2024-01-01T00:00:00") + np.arange(rows).astype("timedelta64[m]")
    minutes = np.arange(rows) % 1440
    text = [np.datetime_as_string(ts, unit="s").astype(object) + "Z"]
    for k in range(columns):
        values = 100 * (k + 1) + 20 * np.sin(2 * np.pi * minutes / 1440)
        values = values + rng.normal(0, k + 1, rows)
        if k == 0:
            values[50_000::100_000] += 30.0
        text.append(np.char.mod("%.3f", values).astype(object))
    header = "timestamp," + ",".join(f"v{k}" for k in range(columns))
    body = "\n".join(",".join(parts) for parts in zip(*text, strict=True))
    return (header + "\n" + body + "\n").encode(), len(range(50_000, rows, 100_000))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--columns", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    data, spikes = make_csv(args.rows, args.columns, args.seed)
    thresholds = load_thresholds(ROOT / "config" / "thresholds.yaml")
    out = io.BytesIO()
    wall, cpu = time.perf_counter(), time.process_time()
    written = score_stream(io.BytesIO(data), out, thresholds)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    flagged = out.getvalue().count(b",true\n")
    result = {
        "rows": written,
        "columns": args.columns,
        "mb": round(len(data) / 2**20, 1),
        "seconds": round(wall, 2),
        "cpu_seconds": round(cpu, 2),
        "rows_per_s": round(written / wall),
        "flagged": flagged,
        "planted_spikes": spikes,
        "threshold": thresholds.rules["generic_score"].threshold,
    }
    print(
        f"{written:,} rows x {args.columns} value column(s), {result['mb']} MB: "
        f"{wall:.2f} s wall, {cpu:.2f} s CPU, {written / wall:,.0f} rows/s; "
        f"{flagged} rows flagged ({spikes} planted spikes, threshold {result['threshold']})"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
