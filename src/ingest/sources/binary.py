"""Parquet and Arrow IPC files of readings, read batch by batch.

Columns keep the types the file stores (validation converts them). Only the reading
columns are read. Parquet string columns come back dictionary-encoded, which lets
validation map entity ids once per dictionary instead of once per row. Arrow IPC files
(file or stream format) are memory-mapped, so a batch costs no copy.

A file that cannot be read, or breaks off in the middle, does not stop the stream: what
could not be read is one ``malformed_record`` reject at the row where reading stopped,
and the next file follows.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from ingest.rawbatch import RawBatch
from ingest.rejects import Reason, rejects_table
from ingest.schema import COLUMNS

_PARQUET_BUFFER = 1 << 20


def iter_parquet(path: Path, batch_rows: int) -> Iterator[RawBatch]:
    """Yield the rows of one Parquet file in batches of at most ``batch_rows`` rows."""
    source = str(path)
    try:
        schema = pq.read_schema(path)
        present = [c for c in COLUMNS if c in schema.names]
        text = [c for c in present if _is_text(schema.field(c).type)]
        parquet = pq.ParquetFile(
            path, read_dictionary=text, pre_buffer=False, buffer_size=_PARQUET_BUFFER
        )
    except (pa.ArrowException, OSError) as exc:
        yield _unreadable(source, 0, "Parquet", exc)
        return
    yield from _from_batches(
        _parquet_batches(parquet, present, batch_rows), source, batch_rows, "Parquet"
    )


def _parquet_batches(
    parquet: pq.ParquetFile, columns: list[str], batch_rows: int
) -> Iterator[pa.RecordBatch]:
    """Row groups of up to two batches whole (a quarter less CPU than decoding page by
    page); larger ones page by page, so memory stays near one batch whatever the writer
    chose. One thread: as fast here and half the resident memory."""
    for i in range(parquet.metadata.num_row_groups):
        if parquet.metadata.row_group(i).num_rows <= 2 * batch_rows:
            table = parquet.read_row_group(i, columns=columns, use_threads=False)
            yield from table.combine_chunks().to_batches()
        else:
            yield from parquet.iter_batches(
                batch_size=batch_rows, row_groups=[i], columns=columns, use_threads=False
            )


def iter_arrow_ipc(path: Path, batch_rows: int) -> Iterator[RawBatch]:
    """Yield the rows of one Arrow IPC file (file or stream format) in bounded batches."""
    source = str(path)
    try:
        with pa.memory_map(str(path)) as mapped:
            try:
                reader: ipc.RecordBatchFileReader | ipc.RecordBatchStreamReader
                reader = ipc.open_file(mapped)
                batches: Iterable[pa.RecordBatch] = (
                    reader.get_batch(i) for i in range(reader.num_record_batches)
                )
            except pa.ArrowInvalid:
                mapped.seek(0)
                reader = ipc.open_stream(mapped)
                batches = reader
            yield from _from_batches(batches, source, batch_rows, "Arrow IPC")
    except (pa.ArrowException, OSError) as exc:
        yield _unreadable(source, 0, "Arrow IPC", exc)


def _from_batches(
    batches: Iterable[pa.RecordBatch], source: str, batch_rows: int, kind: str
) -> Iterator[RawBatch]:
    row = 0
    iterator = iter(batches)
    while True:
        try:
            batch = next(iterator)
        except StopIteration:
            return
        except (pa.ArrowException, OSError) as exc:
            yield _unreadable(source, row, kind, exc)
            return
        columns = {c: batch.column(c) for c in COLUMNS if c in batch.schema.names}
        for start in range(0, batch.num_rows, batch_rows):
            n = min(batch_rows, batch.num_rows - start)
            yield RawBatch(
                {c: a.slice(start, n) for c, a in columns.items()},
                source,
                np.arange(row + start, row + start + n, dtype=np.int64),
            )
        row += batch.num_rows


def _is_text(dtype: pa.DataType) -> bool:
    return pa.types.is_string(dtype) or pa.types.is_large_string(dtype)


def _unreadable(source: str, row: int, kind: str, exc: Exception) -> RawBatch:
    rejects = rejects_table(
        [Reason.MALFORMED_RECORD],
        source,
        [row],
        [None],
        [f"cannot read {kind} from row {row} on ({str(exc)[:200]}); rest of file skipped"],
    )
    return RawBatch({}, source, np.empty(0, dtype=np.int64), rejects)
