"""The reading batch contract shared by every part of dianyan.

A batch is a ``pyarrow.Table`` (or RecordBatch) with exactly these columns:

- ``entity_id``: string, the enterprise / station / meter id
- ``metric``: dictionary<int32, string>, a name from :mod:`ingest.catalogue`
- ``ts``: timestamp[ms, tz=UTC], when the reading was taken (end of its interval)
- ``value``: float64, in the metric's unit
"""

from __future__ import annotations

from datetime import timedelta, timezone

import pyarrow as pa

READING_SCHEMA = pa.schema(
    [
        pa.field("entity_id", pa.string(), nullable=False),
        pa.field("metric", pa.dictionary(pa.int32(), pa.string()), nullable=False),
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
