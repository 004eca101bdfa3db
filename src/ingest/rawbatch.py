"""A batch of rows as a source read them, before validation."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from ingest.rejects import empty_rejects


@dataclass(frozen=True, slots=True)
class RawBatch:
    """Rows from one file, not yet validated.

    ``columns`` holds the reading columns the file has (a subset of ``entity_id``,
    ``metric``, ``ts``, ``value``): strings for CSV, whatever type the file stores for
    Parquet / Arrow IPC / JSON. A column the file lacks is absent, so validation can
    reject every row with ``missing_field``. ``position`` is one int64 per row: the 1-based
    line number for text files, the 0-based row index for binary files. ``rejects`` holds
    the records the reader itself could not split into fields (``malformed_record``).
    """

    columns: dict[str, pa.Array]
    source: str
    position: np.ndarray
    rejects: pa.Table = field(default_factory=empty_rejects)

    @property
    def num_rows(self) -> int:
        """Rows read, including the ones the reader already rejected."""
        return len(self.position) + self.rejects.num_rows


def rebatch(batches: Iterable[RawBatch], batch_rows: int) -> Iterator[RawBatch]:
    """Batches of ``batch_rows`` rows (the last may be shorter) from one file's batches.

    Small batches are joined and large ones cut, so that validation pays its per-batch
    costs once per ``batch_rows``. Rejects travel with the rows read next to them. A
    change of column types (a reader switching from typed to text) starts a new batch.
    """
    parts: list[RawBatch] = []
    rows = 0
    for batch in batches:
        if len(batch.position) and rows and _types(batch) != _types(_with_rows(parts)):
            yield _join(parts)
            parts, rows = [], 0
        parts.append(batch)
        rows += len(batch.position)
        while rows >= batch_rows:
            joined = _join(parts)
            yield _cut(joined, 0, batch_rows, joined.rejects)
            rest = _cut(joined, batch_rows, rows, empty_rejects())
            parts, rows = [rest], rows - batch_rows
    if parts:
        joined = _join(parts)
        if len(joined.position) or joined.rejects.num_rows:
            yield joined


def _with_rows(parts: list[RawBatch]) -> RawBatch:
    return next(p for p in parts if len(p.position))


def _types(batch: RawBatch) -> dict[str, pa.DataType]:
    return {name: arr.type for name, arr in batch.columns.items()}


def _join(parts: list[RawBatch]) -> RawBatch:
    if len(parts) == 1:
        return parts[0]
    with_rows = [p for p in parts if len(p.position)]
    columns = {}
    if with_rows:
        columns = {
            name: pa.concat_arrays([p.columns[name] for p in with_rows])
            for name in with_rows[0].columns
        }
    rejects = [p.rejects for p in parts if p.rejects.num_rows]
    return RawBatch(
        columns,
        parts[0].source,
        np.concatenate([p.position for p in parts]),
        pa.concat_tables(rejects) if rejects else empty_rejects(),
    )


def _cut(batch: RawBatch, start: int, stop: int, rejects: pa.Table) -> RawBatch:
    return RawBatch(
        {name: arr.slice(start, stop - start) for name, arr in batch.columns.items()},
        batch.source,
        batch.position[start:stop],
        rejects,
    )
