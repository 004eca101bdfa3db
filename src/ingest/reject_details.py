"""What a rejected record was and why, in words: the record and detail of a reject row.

Built in a Python loop over the rejected rows only; rejects are rare, and a batch
rejected whole (a missing column) costs a few microseconds a row.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa

from ingest.catalogue import CATALOGUE
from ingest.rawbatch import RawBatch
from ingest.rejects import REJECT_SCHEMA, Reason, empty_rejects, record_text
from ingest.schema import COLUMNS


def explain(
    raw: RawBatch,
    rows: np.ndarray,
    reasons: list[Reason],
    metrics: list[str | None],
    ts: np.ndarray,
    value: np.ndarray,
    newest_before: np.ndarray | None,
    now: int,
) -> pa.Table:
    """One reject row per rejected row of ``raw`` (``rows``: their indices, in order).

    The other sequences hold, for those rows only, what validation read: the metric
    (None if unknown), ts (epoch ms), value, and the newest ts a too-late row was
    compared with.
    """
    if not len(rows):
        return empty_rejects()
    taken = pa.array(rows)
    originals = {c: raw.columns[c].take(taken).to_pylist() for c in COLUMNS if c in raw.columns}
    records, details = [], []
    for i, reason in enumerate(reasons):
        fields = {c: vals[i] for c, vals in originals.items()}
        records.append(record_text(fields))
        details.append(
            _detail(
                reason,
                fields,
                metrics[i],
                int(ts[i]),
                float(value[i]),
                None if newest_before is None else int(newest_before[i]),
                now,
            )
        )
    return pa.table(
        [
            pa.array([str(r) for r in reasons], pa.string()),
            pa.array([raw.source] * len(reasons), pa.string()),
            pa.array(raw.position[rows], pa.int64()),
            pa.array(records, pa.string()),
            pa.array(details, pa.string()),
        ],
        schema=REJECT_SCHEMA,
    )


def _detail(
    reason: Reason,
    fields: dict[str, object],
    metric: str | None,
    ts: int,
    value: float,
    newest_before: int | None,
    now: int,
) -> str:
    if reason is Reason.MISSING_FIELD:
        absent = [c for c in COLUMNS if _blank(fields.get(c))]
        return "missing " + ", ".join(absent or ["a field"])
    if reason is Reason.MALFORMED_RECORD:
        return "entity_id and metric must be text"
    if reason is Reason.UNKNOWN_METRIC:
        return f"metric {fields.get('metric')!r} is not in the catalogue"
    if reason is Reason.UNKNOWN_ENTITY:
        return f"entity {fields.get('entity_id')!r} is not in the registry"
    if reason is Reason.UNPARSABLE_TIMESTAMP:
        return f"ts {fields.get('ts')!r} is neither ISO 8601 nor epoch milliseconds"
    if reason is Reason.ABSURD_TIMESTAMP:
        if ts < now:
            return f"ts {_iso(ts)} is before 2000-01-01"
        return f"ts {_iso(ts)} is more than a day after now ({_iso(now)})"
    if reason is Reason.UNPARSABLE_NUMBER:
        return f"value {fields.get('value')!r} is not a number"
    if reason is Reason.NOT_FINITE:
        return f"value {value} is not finite"
    if reason is Reason.NEGATIVE_ENERGY:
        return f"energy {value:g} below 0 for {metric}"
    if reason is Reason.OUT_OF_RANGE and metric is not None:
        spec = CATALOGUE[metric]
        return (
            f"value {value:g} outside [{spec.minimum:g}, {spec.maximum:g}] {spec.unit} for {metric}"
        )
    if reason is Reason.TOO_LATE and newest_before is not None:
        behind = timedelta(milliseconds=newest_before - ts)
        return f"ts {_iso(ts)} is {behind} behind the newest {_iso(newest_before)} of its series"
    if reason is Reason.DUPLICATE:
        return "same entity, metric and ts as an earlier reading"
    return str(reason)


def _blank(v: object) -> bool:
    return v is None or (isinstance(v, str) and not v.strip())


def _iso(ms: int) -> str:
    try:
        return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)).isoformat()
    except OverflowError:
        return f"{ms} ms"
