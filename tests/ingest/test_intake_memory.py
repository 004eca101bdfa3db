"""ingest_path streams: files far larger than the memory it may use are read whole.

How memory is measured: a child process imports everything, reads a tiny file, then a
file a quarter the size of the big one, then the big one, and reports its peak resident
set size (``VmHWM`` in /proc/self/status) after each. Once the quarter-size file has
set up the working set (batches, validator state, what the allocators keep), reading
four times as much must not raise the peak by more than BUDGET: memory does not grow
with the file. The growth from the tiny file on is bounded too, more loosely, because
pyarrow's allocator and glibc keep freed pages around.

Not ``ru_maxrss``: Linux carries it over from the parent (pytest, after writing the big
file) across fork and exec. Not ``RLIMIT_AS``: pyarrow's allocator and numpy reserve
large stretches of address space they never touch, so an address-space cap fails for
reasons unrelated to how much data is held.

Parquet is read row group by row group: the writer's row group size bounds memory too.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

MB = 1 << 20
BUDGET = 32 * MB  # peak growth from the quarter-size file to the big one
WORKING_SET = 160 * MB  # peak growth from the tiny file to the big one
ENTITIES = 2000
START_MS = 1_704_067_200_000
SLOT_MS = 900_000

CHILD = textwrap.dedent(
    """
    import json, sys
    from ingest.deadletter import MemoryDeadLetter
    from ingest.intake import ingest_path
    from ingest.validate import Validator

    def peak():
        with open("/proc/self/status") as status:
            line = next(x for x in status if x.startswith("VmHWM:"))
        return int(line.split()[1]) * 1024

    def run(path):
        sink = MemoryDeadLetter()
        validator = Validator(now_ms=lambda: 2_000_000_000_000)
        rows = sum(t.num_rows for t in ingest_path(path, validator, sink, batch_rows=65536))
        return rows, sum(sink.counts.values())

    peaks = []
    for path in sys.argv[1:]:
        rows, rejected = run(path)
        peaks.append(peak())
    print(json.dumps({"rows": rows, "rejected": rejected, "peaks": peaks}))
    """
)


def chunk(first_slot: int, slots: int) -> pa.Table:
    """Readings of every entity for ``slots`` consecutive slots, in time order."""
    n = slots * ENTITIES
    slot = np.repeat(np.arange(first_slot, first_slot + slots, dtype=np.int64), ENTITIES)
    entity = np.tile(np.arange(ENTITIES), slots)
    ids = pa.array([f"E{i:05d}" for i in range(ENTITIES)])
    rng = np.random.default_rng(first_slot)
    return pa.table(
        {
            "entity_id": ids.take(pa.array(entity)),
            "metric": pa.array(["electricity.kwh"] * n),
            "ts": pa.array(START_MS + slot * SLOT_MS, pa.timestamp("ms", "UTC")),
            "value": rng.gamma(2.0, 5.0, n),
        }
    )


def write_csv(path, rows: int) -> int:
    """Write about ``rows`` readings (whole slots) as CSV; the number written."""
    written = 0
    with pa.OSFile(str(path), "wb") as out:
        writer = None
        slots = max(1, min(200, rows // ENTITIES))
        for first in range(0, max(rows // ENTITIES, 1), slots):
            t = chunk(first, slots)
            t = t.set_column(2, "ts", pc.cast(t["ts"], pa.int64()))  # epoch ms as text
            if writer is None:
                options = pacsv.WriteOptions(quoting_style="none")
                writer = pacsv.CSVWriter(out, t.schema, write_options=options)
            writer.write_table(t)
            written += t.num_rows
        writer.close()
    return written


def write_parquet(path, rows: int) -> int:
    """Write about ``rows`` readings as Parquet in row groups of 256k; the number written."""
    slots = max(1, min(128, rows // ENTITIES))
    written = 0
    with pq.ParquetWriter(path, chunk(0, 1).schema) as writer:
        for first in range(0, max(rows // ENTITIES, 1), slots):
            t = chunk(first, slots)
            writer.write_table(t, row_group_size=t.num_rows)
            written += t.num_rows
    return written


def run_child(tmp_path, write, rows: int) -> tuple[int, dict]:
    """Write the three files with ``write``; rows of the big one and the child's report."""
    suffix = ".csv" if write is write_csv else ".parquet"
    files = [tmp_path / f"{name}{suffix}" for name in ("tiny", "quarter", "big")]
    written = [write(path, n) for path, n in zip(files, (ENTITIES, rows // 4, rows), strict=True)]
    done = subprocess.run(
        [sys.executable, "-c", CHILD, *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return written[-1], json.loads(done.stdout)


@pytest.mark.parametrize(("write", "rows"), [(write_csv, 3_000_000), (write_parquet, 10_000_000)])
def test_file_larger_than_the_budget_streams_through(tmp_path, write, rows):
    rows, report = run_child(tmp_path, write, rows)
    big = next(tmp_path.glob("big.*"))
    decoded = rows * (8 + 8 + 4 + 6 + 4)  # ts, value, metric code, id text and offset
    assert max(big.stat().st_size, decoded) > 4 * BUDGET
    assert (report["rows"], report["rejected"]) == (rows, 0)
    tiny, quarter, whole = report["peaks"]
    assert whole - quarter < BUDGET, f"peak RSS grew by {(whole - quarter) / MB:.0f} MB"
    assert whole - tiny < WORKING_SET, f"peak RSS grew by {(whole - tiny) / MB:.0f} MB"
