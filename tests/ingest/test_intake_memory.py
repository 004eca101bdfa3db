"""ingest_path streams: files far larger than the memory it may use are read whole.

How memory is measured: a child process imports everything, warms up on a tiny file,
notes its peak resident set size (``VmHWM`` in /proc/self/status), then reads the big
file through ``ingest_path`` and reports how far the peak grew. Not ``ru_maxrss``: Linux
carries it over from the parent (pytest, after writing the big file) across fork and
exec. Not ``RLIMIT_AS``: pyarrow's allocator and numpy reserve large stretches of address
space they never touch, so an address-space cap fails for reasons unrelated to how much
data is held. The peak resident set is what a file that does not fit in memory would
exhaust.

The budget is a fixed amount well below the file size (CSV) or its size once decoded
(Parquet, read row group by row group: the writer's row group size bounds memory too).
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
BUDGET = 80 * MB
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

    run(sys.argv[1])
    before = peak()
    rows, rejected = run(sys.argv[2])
    print(json.dumps({"rows": rows, "rejected": rejected, "growth": peak() - before}))
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


def run_child(tmp_path, big) -> dict:
    tiny = tmp_path / ("tiny" + big.suffix)
    if big.suffix == ".csv":
        write_csv(tiny, ENTITIES)
    else:
        write_parquet(tiny, ENTITIES)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(tiny), str(big)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_file_larger_than_the_budget_streams_through(tmp_path, suffix):
    big = tmp_path / ("big" + suffix)
    write, size = {".csv": (write_csv, 3_000_000), ".parquet": (write_parquet, 10_000_000)}[suffix]
    rows = write(big, size)
    decoded = rows * (8 + 8 + 4 + 6 + 4)  # ts, value, metric code, id text and offset
    assert max(big.stat().st_size, decoded) > 2 * BUDGET
    report = run_child(tmp_path, big)
    assert (report["rows"], report["rejected"]) == (rows, 0)
    assert report["growth"] < BUDGET, f"peak RSS grew by {report['growth'] / MB:.0f} MB"
