"""A batch of rows as a source read them, before validation."""

from __future__ import annotations

from collections.abc import Iterator
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


def slices(batch: RawBatch, batch_rows: int) -> Iterator[RawBatch]:
    """Cut a batch into batches of at most ``batch_rows`` rows; its rejects go with the first.

    A batch with neither rows nor rejects yields nothing.
    """
    n = len(batch.position)
    if n <= batch_rows:
        if n or batch.rejects.num_rows:
            yield batch
        return
    for start in range(0, n, batch_rows):
        stop = min(start + batch_rows, n)
        yield RawBatch(
            {col: arr.slice(start, stop - start) for col, arr in batch.columns.items()},
            batch.source,
            batch.position[start:stop],
            batch.rejects if start == 0 else empty_rejects(),
        )
