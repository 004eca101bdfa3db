"""Why a record was rejected, and the table that carries rejected records.

Every record that does not become a reading ends up in a rejects table with one of the
:class:`Reason` codes. The codes are stable strings: metrics labels and the dead-letter
file use them, so renaming one is a breaking change.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from enum import StrEnum

import pyarrow as pa
import pyarrow.compute as pc


class Reason(StrEnum):
    """Why a record was rejected (stable strings)."""

    MISSING_FIELD = "missing_field"
    MALFORMED_RECORD = "malformed_record"
    UNPARSABLE_NUMBER = "unparsable_number"
    NOT_FINITE = "not_finite"
    NEGATIVE_ENERGY = "negative_energy"
    OUT_OF_RANGE = "out_of_range"
    UNPARSABLE_TIMESTAMP = "unparsable_timestamp"
    ABSURD_TIMESTAMP = "absurd_timestamp"
    UNKNOWN_METRIC = "unknown_metric"
    UNKNOWN_ENTITY = "unknown_entity"
    DUPLICATE = "duplicate"
    TOO_LATE = "too_late"


#: One row per rejected record. ``position`` is the 1-based line number for text files
#: and the 0-based row index for binary files; ``record`` is the original text (the raw
#: line when it could not be split into fields, else a JSON object of the fields as text).
REJECT_SCHEMA = pa.schema(
    [
        pa.field("reason", pa.string(), nullable=False),
        pa.field("source", pa.string()),
        pa.field("position", pa.int64()),
        pa.field("record", pa.string()),
        pa.field("detail", pa.string()),
    ]
)


def empty_rejects() -> pa.Table:
    """A rejects table with no rows."""
    return REJECT_SCHEMA.empty_table()


def rejects_table(
    reasons: Sequence[str],
    source: str | None,
    positions: Sequence[int | None],
    records: Sequence[str | None],
    details: Sequence[str | None],
) -> pa.Table:
    """Build a rejects table from parallel lists (one entry per rejected record)."""
    return pa.table(
        [
            pa.array(reasons, pa.string()),
            pa.array([source] * len(reasons), pa.string()),
            pa.array(positions, pa.int64()),
            pa.array(records, pa.string()),
            pa.array(details, pa.string()),
        ],
        schema=REJECT_SCHEMA,
    )


def count_reasons(rejects: pa.Table) -> dict[str, int]:
    """Number of rejected records by reason."""
    if rejects.num_rows == 0:
        return {}
    counts = pc.value_counts(rejects.column("reason").combine_chunks())
    return {str(v): int(c) for v, c in zip(counts.field(0), counts.field(1), strict=True)}


def record_text(fields: dict[str, object]) -> str:
    """The original fields of a record as a JSON object of text values."""
    return json.dumps(
        {k: None if v is None else _as_text(v) for k, v in fields.items()},
        ensure_ascii=False,
    )


def _as_text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    if hasattr(value, "isoformat"):
        return value.isoformat()  # type: ignore[no-any-return]
    return str(value)
