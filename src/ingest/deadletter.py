"""Dead-letter sinks: where rejected records go, counted by reason, never dropped.

A sink takes rejects tables. The validator's have :data:`ingest.rejects.REJECT_SCHEMA`
(reason, source, position, record, detail); tables from later stages (e.g. register
normalization) may instead carry the reading columns plus ``reason``, and then the
other columns become the record.

The dead-letter file is JSON lines, appended to, one object per reject::

    {"reason": "out_of_range", "source": "data/a.csv", "position": 17,
     "record": "{\\"entity_id\\": \\"E1\\", ...}", "detail": "value 2e+06 outside ..."}
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Protocol, runtime_checkable

import pyarrow as pa

from ingest.rejects import record_text

__all__ = ["DeadLetterSink", "JsonLinesDeadLetter", "MemoryDeadLetter", "reject_rows"]

_FIELDS = ("reason", "source", "position", "record", "detail")


@runtime_checkable
class DeadLetterSink(Protocol):
    """Receives rejected records and counts them by reason."""

    def write(self, rejects: pa.Table) -> None:
        """Keep these rejects (a table with at least a ``reason`` column)."""
        ...

    @property
    def counts(self) -> dict[str, int]:
        """Rejects received so far, by reason."""
        ...


def reject_rows(rejects: pa.Table) -> list[dict[str, object]]:
    """The rejects as dead-letter objects: reason, source, position, record, detail."""
    names = rejects.column_names
    if "reason" not in names:
        raise ValueError(f"a rejects table needs a 'reason' column; it has {names}")
    others = [c for c in names if c not in _FIELDS]
    rows = []
    for row in rejects.to_pylist():
        record = row.get("record")
        if record is None and others:
            record = record_text({c: row[c] for c in others})
        rows.append(
            {
                "reason": row["reason"],
                "source": row.get("source"),
                "position": row.get("position"),
                "record": record,
                "detail": row.get("detail"),
            }
        )
    return rows


class JsonLinesDeadLetter:
    """Appends rejects to a JSON-lines file (created with its directory if needed)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._counts: Counter[str] = Counter()

    def write(self, rejects: pa.Table) -> None:
        if rejects.num_rows == 0:
            return
        rows = reject_rows(rejects)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as out:
            out.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        self._counts.update(str(r["reason"]) for r in rows)

    @property
    def counts(self) -> dict[str, int]:
        return dict(self._counts)


class MemoryDeadLetter:
    """Keeps rejects in memory (tests, small runs)."""

    def __init__(self) -> None:
        self.rows: list[dict[str, object]] = []
        self._counts: Counter[str] = Counter()

    def write(self, rejects: pa.Table) -> None:
        rows = reject_rows(rejects)
        self.rows.extend(rows)
        self._counts.update(str(r["reason"]) for r in rows)

    @property
    def counts(self) -> dict[str, int]:
        return dict(self._counts)
