"""The reading batch contract shared by every part of dianyan.

A batch is a ``pyarrow.Table`` (or RecordBatch) with exactly these columns:

- ``entity_id``: dictionary<int32, string>, the enterprise / station / meter id
- ``metric``: dictionary<int32, string>, a name from :mod:`ingest.catalogue`
- ``ts``: timestamp[ms, tz=UTC], when the reading was taken (end of its interval)
- ``value``: float64, in the metric's unit

Both text columns are dictionary-encoded: validation already maps each entity id to a row
number, and hands that mapping on (its dictionary is the validator's list of known
entities, the indices their rows), so detectors turn ids into their own state rows with one
lookup per dictionary instead of hashing every reading's id again.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta, timezone

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

TEXT_CODES = pa.dictionary(pa.int32(), pa.string())
READING_SCHEMA = pa.schema(
    [
        pa.field("entity_id", TEXT_CODES, nullable=False),
        pa.field("metric", TEXT_CODES, nullable=False),
        pa.field("ts", pa.timestamp("ms", tz="UTC"), nullable=False),
        pa.field("value", pa.float64(), nullable=False),
    ]
)
COLUMNS = tuple(READING_SCHEMA.names)

#: China Standard Time: UTC+8, no daylight saving.
CST = timezone(timedelta(hours=8), "CST")
CST_OFFSET_MS = 8 * 3600 * 1000

SLOT_MINUTES = 15
SLOT_MS = SLOT_MINUTES * 60 * 1000
SLOTS_PER_DAY = 24 * 60 // SLOT_MINUTES


def empty_batch() -> pa.Table:
    """An empty table with the reading schema."""
    return READING_SCHEMA.empty_table()


def metric_mask(batch: pa.Table, metric: str) -> np.ndarray:
    """Rows of ``batch`` whose metric is ``metric``, compared on the dictionary, not per row."""
    column = batch["metric"]
    if not pa.types.is_dictionary(column.type):
        return pc.equal(column, metric).to_numpy(zero_copy_only=False)
    parts = []
    for chunk in column.chunks:
        codes = np.flatnonzero(pc.equal(chunk.dictionary, metric).to_numpy(zero_copy_only=False))
        if codes.size == 0:
            parts.append(np.zeros(len(chunk), dtype=bool))
            continue
        indices = chunk.indices.to_numpy(zero_copy_only=False)
        parts.append(indices == codes[0] if codes.size == 1 else np.isin(indices, codes))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=bool)


def metric_counts(batch: pa.Table) -> dict[str, int]:
    """Rows per metric name in ``batch``, counted on the dictionary codes.

    The codes present usually span a few neighbouring entries, so after one min/max pass
    each code in that span but the last is counted with one comparison, and the last gets
    the rest: a chunk of one metric needs no comparison at all. (``np.bincount`` would
    first widen every code to 64 bits, several times slower.)
    """
    counts: dict[str, int] = {}
    for codes, dictionary in _metric_codes(batch):
        low, high = int(codes.min()), int(codes.max())
        if high - low < 8:
            used = np.arange(low, high + 1)
            tally = [int(np.count_nonzero(codes == c)) for c in range(low, high)]
            tally.append(codes.size - sum(tally))
        else:
            tally = np.bincount(codes, minlength=len(dictionary)).tolist()
            used = np.arange(len(tally))
        names = dictionary.take(pa.array(used)).to_pylist()
        for name, k in zip(names, tally, strict=True):
            if k:
                counts[name] = counts.get(name, 0) + k
    return counts


def metrics_in(batch: pa.Table) -> set[str]:
    """The metric names present in ``batch``.

    The smallest and largest code present are two passes over the codes; only codes
    strictly between them need a look of their own (none when they are neighbours).
    """
    present: set[str] = set()
    for codes, dictionary in _metric_codes(batch):
        low, high = int(codes.min()), int(codes.max())
        used = [low, *(c for c in range(low + 1, high) if (codes == c).any()), high]
        present.update(dictionary.take(pa.array(sorted(set(used)))).to_pylist())
    return present


def _metric_codes(batch: pa.Table) -> Iterator[tuple[np.ndarray, pa.Array]]:
    """``(codes, dictionary)`` of each non-empty chunk of the metric column, nulls left out."""
    column = batch["metric"]
    if not pa.types.is_dictionary(column.type):
        column = pc.dictionary_encode(column)
    for chunk in column.chunks if isinstance(column, pa.ChunkedArray) else [column]:
        indices = chunk.indices.drop_null() if chunk.null_count else chunk.indices
        if len(indices):
            yield indices.to_numpy(zero_copy_only=False), chunk.dictionary


def only_metric(batch: pa.Table, metric: str) -> pa.Table:
    """The rows of one metric; the batch itself when it holds nothing else."""
    if batch.num_rows == 0:
        return batch
    mask = metric_mask(batch, metric)
    if not mask.any():
        return batch.slice(0, 0)
    return batch if mask.all() else batch.filter(pa.array(mask))
