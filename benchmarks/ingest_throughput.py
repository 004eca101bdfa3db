"""Ingest throughput: reading files and validating them, per format and row order.

Writes seeded electricity readings (15-minute slots, every enterprise every slot) as
Parquet (typed; ordered by time, by enterprise, or shuffled within each hour, which takes
validation off its in-order fast path) and CSV (ISO 8601 text), then times, best of
--repeat runs:

- read: ``iter_raw_batches`` alone (file to raw batches);
- validate: ``Validator.validate`` alone, over batches already read (the typed fast path
  for Parquet, text parsing for CSV);
- ingest: ``ingest_path`` end to end (read, validate, dead-letter).

CPU time is reported next to wall time: on a shared machine it is the steadier figure.

    python benchmarks/ingest_throughput.py [--rows N] [--csv-rows N] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ingest.deadletter import MemoryDeadLetter
from ingest.intake import ingest_path
from ingest.sources import iter_raw_batches
from ingest.validate import Validator

START_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
SLOT_MS = 900_000
NOW_MS = 2_000_000_000_000


def readings(rows: int, entities: int, seed: int, order: str) -> pa.Table:
    """``order``: "time" (slot by slot), "entity" (enterprise by enterprise) or "shuffled"
    (slot by slot, rows shuffled within each hour: out of order, never too late)."""
    slots = -(-rows // entities)
    rng = np.random.default_rng(seed)
    if order == "entity":
        entity = np.repeat(np.arange(entities), slots)
        slot = np.tile(np.arange(slots, dtype=np.int64), entities)
    else:
        entity = np.tile(np.arange(entities), slots)
        slot = np.repeat(np.arange(slots, dtype=np.int64), entities)
    if order == "shuffled":
        hour = 4 * entities
        for start in range(0, len(entity), hour):
            perm = start + rng.permutation(min(hour, len(entity) - start))
            entity[start : start + len(perm)] = entity[perm]
            slot[start : start + len(perm)] = slot[perm]
    entity, slot = entity[:rows], slot[:rows]
    ids = pa.array([f"E{i:06d}" for i in range(entities)])
    return pa.table(
        {
            "entity_id": ids.take(pa.array(entity)),
            "metric": pa.array(["electricity.kwh"] * rows).dictionary_encode(),
            "ts": pa.array(START_MS + slot * SLOT_MS, pa.timestamp("ms", "UTC")),
            "value": rng.gamma(2.0, 5.0, rows),
        }
    )


def write_csv(table: pa.Table, path: Path) -> None:
    text = table.set_column(
        2, "ts", pc.strftime(table["ts"], format="%Y-%m-%dT%H:%M:%SZ")
    ).set_column(1, "metric", table["metric"].cast(pa.string()))
    pacsv.write_csv(text, path, write_options=pacsv.WriteOptions(quoting_style="none"))


def best_of(repeat: int, run: Callable[[], int]) -> dict[str, float]:
    """Best wall and CPU seconds of ``repeat`` runs, and the rows the run handled."""
    wall, cpu, rows = float("inf"), float("inf"), 0
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        rows = run()
        wall = min(wall, time.perf_counter() - w0)
        cpu = min(cpu, time.process_time() - c0)
    return {
        "rows": rows,
        "wall_rows_per_s": rows / wall,
        "wall_ns_per_row": wall / rows * 1e9,
        "cpu_ns_per_row": cpu / rows * 1e9,
    }


def measure(path: Path, batch_rows: int, repeat: int) -> dict[str, dict[str, float]]:
    def read() -> int:
        return sum(b.num_rows for b in iter_raw_batches(path, batch_rows=batch_rows))

    batches = list(iter_raw_batches(path, batch_rows=batch_rows))

    def validate() -> int:
        validator = Validator(now_ms=lambda: NOW_MS)
        kept = sum(validator.validate(b).valid.num_rows for b in batches)
        assert kept == sum(b.num_rows for b in batches), "benchmark data must all be valid"
        return kept

    def ingest() -> int:
        validator = Validator(now_ms=lambda: NOW_MS)
        sink = MemoryDeadLetter()
        return sum(t.num_rows for t in ingest_path(path, validator, sink, batch_rows))

    return {
        "read": best_of(repeat, read),
        "validate": best_of(repeat, validate),
        "ingest": best_of(repeat, ingest),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000, help="Parquet rows")
    parser.add_argument("--csv-rows", type=int, default=2_000_000)
    parser.add_argument("--entities", type=int, default=10_000)
    parser.add_argument("--batch-rows", type=int, default=1 << 20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)

    results: dict[str, object] = {"args": {k: str(v) for k, v in vars(args).items()}}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        cases = {
            "parquet by time": (data / "by_time.parquet", args.rows, "time"),
            "parquet by enterprise": (data / "by_entity.parquet", args.rows, "entity"),
            "parquet shuffled within the hour": (data / "shuffled.parquet", args.rows, "shuffled"),
            "csv by time": (data / "by_time.csv", args.csv_rows, "time"),
        }
        for name, (path, rows, order) in cases.items():
            table = readings(rows, args.entities, args.seed, order)
            if path.suffix == ".csv":
                write_csv(table, path)
            else:
                pq.write_table(table, path)
            figures = measure(path, args.batch_rows, args.repeat)
            results[name] = {"file_bytes": path.stat().st_size, **figures}
            print(f"{name}: {rows:,} rows, {path.stat().st_size / 2**20:.0f} MiB")
            for step, f in figures.items():
                print(
                    f"  {step:9s} {f['wall_rows_per_s'] / 1e6:6.2f} M rows/s "
                    f"({f['wall_ns_per_row']:6.1f} ns/row wall, {f['cpu_ns_per_row']:6.1f} CPU)"
                )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
