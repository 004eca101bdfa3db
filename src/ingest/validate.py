"""Validation: raw batches in, readings in the reading schema out, every reject with a reason.

Checks, in order of precedence (a row gets the first reason that applies):
``missing_field``, ``malformed_record`` (a column of a type that cannot be text),
``unknown_metric``, ``unknown_entity`` (only with a registry), ``unparsable_timestamp``,
``absurd_timestamp``, ``unparsable_number``, ``not_finite``, ``negative_energy``,
``out_of_range``, ``too_late``, ``duplicate``. Records a reader could not split into
fields arrive already rejected (``malformed_record``) and are passed through.

The validator is stateful: it remembers the newest accepted timestamp of each series and
the recent keys (see :mod:`ingest.seen`), so batches must come in stream order.

"now" decides which timestamps are absurdly far in the future (more than a day after
now). It is the wall clock unless ``now_ms`` is given; a replay of old files should pass
a clock based on the data, e.g. ``now_ms=lambda: replay_clock_ms`` or, for a whole
archive, the archive's end.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dianyan.errors import ConfigError
from ingest import coerce
from ingest.catalogue import CATALOGUE, Domain
from ingest.entity_rows import EntityRows
from ingest.rawbatch import RawBatch
from ingest.reject_details import explain
from ingest.rejects import REJECT_SCHEMA, Reason, empty_rejects
from ingest.schema import READING_SCHEMA
from ingest.seen import MAX_CHECK_ROWS, NONE, TS_BITS, SeenReadings

__all__ = ["DEFAULT_LATENESS_MS", "ValidationResult", "Validator"]

DEFAULT_LATENESS_MS = 2 * 3600 * 1000
#: Earliest plausible reading: 2000-01-01T00:00:00Z.
EARLIEST_MS = 946_684_800_000
#: Latest timestamp the duplicate keys can hold (2069-09-07); later is absurd whatever now.
LATEST_MS = EARLIEST_MS + (1 << TS_BITS) - 1
FUTURE_SLACK_MS = 24 * 3600 * 1000

#: Reasons in order of precedence; a row's code is its index here plus one (0 = valid).
_ORDER: tuple[Reason, ...] = (
    Reason.MISSING_FIELD,
    Reason.MALFORMED_RECORD,
    Reason.UNKNOWN_METRIC,
    Reason.UNKNOWN_ENTITY,
    Reason.UNPARSABLE_TIMESTAMP,
    Reason.ABSURD_TIMESTAMP,
    Reason.UNPARSABLE_NUMBER,
    Reason.NOT_FINITE,
    Reason.NEGATIVE_ENERGY,
    Reason.OUT_OF_RANGE,
    Reason.TOO_LATE,
    Reason.DUPLICATE,
)
_CODE = {reason: i + 1 for i, reason in enumerate(_ORDER)}

#: Metric codes of the output dictionary: catalogue names in sorted order.
METRIC_NAMES_SORTED: tuple[str, ...] = tuple(sorted(CATALOGUE))
_METRIC_VALUES = pa.array(METRIC_NAMES_SORTED, pa.string())
_MINIMUM = np.array([CATALOGUE[m].minimum for m in METRIC_NAMES_SORTED])
_MAXIMUM = np.array([CATALOGUE[m].maximum for m in METRIC_NAMES_SORTED])
_ENERGY = np.array([CATALOGUE[m].domain is Domain.ELECTRICITY for m in METRIC_NAMES_SORTED])


@dataclass(frozen=True, slots=True)
class ValidationResult:
    """One batch validated: the readings kept and the records rejected."""

    valid: pa.Table  # exactly READING_SCHEMA, in input order
    rejects: pa.Table = field(default_factory=empty_rejects)  # REJECT_SCHEMA
    counts: dict[str, int] = field(default_factory=dict)  # rejects by reason


class Validator:
    """Turns raw batches into readings, rejecting bad records with a reason.

    ``registry_entities``: when given, readings of other entities are ``unknown_entity``.
    ``allowed_lateness_ms``: how far behind the newest accepted reading of its series a
    reading may arrive; ``lateness_overrides`` sets it per entity id.
    ``now_ms``: the clock for ``absurd_timestamp`` (see the module docstring).
    """

    def __init__(
        self,
        registry_entities: set[str] | None = None,
        allowed_lateness_ms: int = DEFAULT_LATENESS_MS,
        lateness_overrides: dict[str, int] | None = None,
        now_ms: Callable[[], int] | None = None,
    ) -> None:
        _check_lateness("allowed_lateness_ms", allowed_lateness_ms)
        overrides = dict(lateness_overrides or {})
        for entity, ms in overrides.items():
            _check_lateness(f"lateness_overrides[{entity!r}]", ms)
        self._default_lateness = int(allowed_lateness_ms)
        self._override_ids = pa.array(list(overrides), pa.string())
        self._override_ms = np.array(list(overrides.values()), dtype=np.int64)
        self._now_ms = now_ms or (lambda: int(time.time() * 1000))
        self._closed = registry_entities is not None
        self._entities = EntityRows(sorted(registry_entities or ()))
        self._seen = SeenReadings(len(METRIC_NAMES_SORTED))
        self._register(self._entities.ids)

    @property
    def entity_count(self) -> int:
        """Entities known (the registry's, or every entity seen so far)."""
        return len(self._entities)

    @property
    def held_keys(self) -> int:
        """Recent (series, ts) keys kept for duplicate checks (bounded by the horizon)."""
        return self._seen.held_keys

    def validate(self, raw: RawBatch) -> ValidationResult:
        """Check one batch; rows are judged in order, after every earlier batch."""
        n = len(raw.position)
        cols = raw.columns
        entity = coerce.text_codes(cols.get("entity_id"), n)
        metric = coerce.text_codes(cols.get("metric"), n)
        ts, ts_missing, ts_bad = coerce.timestamps(cols.get("ts"), n)
        value, value_missing, value_bad = coerce.numbers(cols.get("value"), n)

        entity_rows = self._entity_rows(entity)
        metric_code, present = _metric_codes(metric)
        metric_known = n == 0 or metric_code.min() >= 0
        m = metric_code if metric_known else np.maximum(metric_code, 0)
        entity_known = n == 0 or entity_rows.min() >= 0
        now = int(self._now_ms())

        codes = np.zeros(n, dtype=np.int8)
        _mark(
            codes,
            _any(entity.missing, metric.missing, ts_missing, value_missing),
            Reason.MISSING_FIELD,
        )
        _mark(codes, _any(entity.unusable, metric.unusable), Reason.MALFORMED_RECORD)
        if not metric_known:
            _mark(codes, metric_code < 0, Reason.UNKNOWN_METRIC)
        if not entity_known:
            _mark(codes, entity_rows < 0, Reason.UNKNOWN_ENTITY)
        _mark(codes, ts_bad, Reason.UNPARSABLE_TIMESTAMP)
        latest = min(now + FUTURE_SLACK_MS, LATEST_MS)
        if n and (ts.min() < EARLIEST_MS or ts.max() > latest):
            _mark(codes, (ts < EARLIEST_MS) | (ts > latest), Reason.ABSURD_TIMESTAMP)
        _mark(codes, value_bad, Reason.UNPARSABLE_NUMBER)
        if n:
            self._check_values(codes, value, m, present)

        newest_before = self._check_order(codes, entity_rows, m, ts)
        rejected = np.flatnonzero(codes)
        valid = self._valid_table(codes, rejected, entity_rows, metric_code, ts, value)
        rejects = explain(
            raw,
            rejected,
            [_ORDER[c - 1] for c in codes[rejected].tolist()],
            [METRIC_NAMES_SORTED[c] if c >= 0 else None for c in metric_code[rejected].tolist()],
            ts[rejected],
            value[rejected],
            None if newest_before is None else newest_before[rejected],
            now,
        )
        if raw.rejects.num_rows:
            rejects = pa.concat_tables([raw.rejects.cast(REJECT_SCHEMA), rejects])
        return ValidationResult(valid, rejects, _counts(codes, rejected, raw.rejects))

    # -- steps ------------------------------------------------------------------------

    @staticmethod
    def _check_values(
        codes: np.ndarray, value: np.ndarray, m: np.ndarray, present: np.ndarray
    ) -> None:
        """not_finite, negative_energy, out_of_range; whole-batch bounds first (cheap).

        ``present``: catalogue codes that include every row's (-1 for unknown).
        """
        low, high = value.min(), value.max()  # NaN if any value is NaN
        used = np.unique(present)
        used = used[used >= 0]
        if not used.size:
            return  # every row already rejected as unknown_metric
        finite = bool(np.isfinite(low) and np.isfinite(high))
        low_ok = finite and low >= _MINIMUM[used].max()
        high_ok = finite and high <= _MAXIMUM[used].min()
        if low_ok and high_ok:
            return
        if not finite:
            _mark(codes, ~np.isfinite(value), Reason.NOT_FINITE)
        if not finite or low < 0:
            _mark(codes, _ENERGY[m] & (value < 0), Reason.NEGATIVE_ENERGY)
        # Only the side the batch's range may cross, and there only the rows beyond what
        # every metric present allows are looked up per metric (NaN compares false).
        if not high_ok:
            rows = np.flatnonzero(value > _MAXIMUM[used].min())
            _mark_rows(codes, rows[value[rows] > _MAXIMUM[m[rows]]], Reason.OUT_OF_RANGE)
        if not low_ok:
            rows = np.flatnonzero(value < _MINIMUM[used].max())
            _mark_rows(codes, rows[value[rows] < _MINIMUM[m[rows]]], Reason.OUT_OF_RANGE)

    def _entity_rows(self, entity: coerce.TextCodes) -> np.ndarray:
        rows_of_value, added = self._entities.rows(entity.values, add=not self._closed)
        if len(added):
            self._register(added)
        return _gather(rows_of_value, entity.codes)

    def _register(self, ids: pa.Array) -> None:
        lateness = np.full(len(ids), self._default_lateness, dtype=np.int64)
        if len(self._override_ids) and len(ids):
            where = pc.index_in(ids, value_set=self._override_ids)
            has = where.is_valid().to_numpy(zero_copy_only=False)
            if has.any():
                lateness[has] = self._override_ms[where.drop_null().to_numpy()]
        self._seen.add_entities(lateness)

    def _check_order(
        self, codes: np.ndarray, entity_rows: np.ndarray, metric: np.ndarray, ts: np.ndarray
    ) -> np.ndarray | None:
        """Mark too_late and duplicate among the rows still valid; newest-before per row
        when some row is too late (what it was compared with), else None."""
        ok = np.flatnonzero(codes == 0) if codes.any() else None
        if ok is not None:
            entity_rows, metric, ts = entity_rows[ok], metric[ok], ts[ok]
        step = MAX_CHECK_ROWS
        parts = [
            self._seen.check(entity_rows[i : i + step], metric[i : i + step], ts[i : i + step])
            for i in range(0, max(len(ts), 1), step)
        ]
        late, dup = (np.concatenate([p[i] for p in parts]) for i in (0, 1))
        if not (late.any() or dup.any()):
            return None
        rows = np.arange(len(codes)) if ok is None else ok
        codes[rows[late]] = _CODE[Reason.TOO_LATE]
        codes[rows[dup]] = _CODE[Reason.DUPLICATE]
        if not late.any():
            return None
        newest_before = np.zeros(len(codes), dtype=np.int64)
        newest_before[rows] = np.concatenate(
            [np.full(len(p[0]), NONE, np.int64) if p[2] is None else p[2] for p in parts]
        )
        return newest_before

    def _valid_table(
        self,
        codes: np.ndarray,
        rejected: np.ndarray,
        entity_rows: np.ndarray,
        metric_code: np.ndarray,
        ts: np.ndarray,
        value: np.ndarray,
    ) -> pa.Table:
        """The accepted rows; entity ids as codes into the validator's known entities."""
        if len(rejected):
            keep = codes == 0
            entity_rows, metric_code = entity_rows[keep], metric_code[keep]
            ts, value = ts[keep], value[keep]
        return pa.Table.from_arrays(
            [
                _codes(entity_rows, self._entities.ids),
                _codes(metric_code, _METRIC_VALUES),
                pa.array(ts, pa.timestamp("ms", "UTC")),
                pa.array(value, pa.float64()),
            ],
            schema=READING_SCHEMA,
        )


# -- helpers -------------------------------------------------------------------------------


def _check_lateness(key: str, ms: object) -> None:
    if isinstance(ms, bool) or not isinstance(ms, int | np.integer) or ms < 0:
        raise ConfigError(
            "<Validator arguments>", key, ms, "a non-negative whole number of milliseconds"
        )


def _mark(codes: np.ndarray, mask: np.ndarray | None, reason: Reason) -> None:
    """Give ``reason`` to the flagged rows that have no reason yet."""
    if mask is None or not mask.any():
        return
    codes[mask & (codes == 0)] = _CODE[reason]


def _mark_rows(codes: np.ndarray, rows: np.ndarray, reason: Reason) -> None:
    """:func:`_mark` for flagged rows given by number."""
    codes[rows[codes[rows] == 0]] = _CODE[reason]


def _any(*masks: np.ndarray | None) -> np.ndarray | None:
    present = [m for m in masks if m is not None]
    if not present:
        return None
    out = present[0].copy()
    for mask in present[1:]:
        out |= mask
    return out


def _gather(per_value: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Per-row lookup through dictionary codes; code -1 gives -1.

    int32 like the codes: half the memory traffic of int64 in every later pass, and the
    valid table's dictionary indices without a conversion.
    """
    table = np.empty(len(per_value) + 1, np.int32)
    table[:-1] = per_value
    table[-1] = -1
    return table[codes]


def _metric_codes(metric: coerce.TextCodes) -> tuple[np.ndarray, np.ndarray]:
    """Catalogue code per row (-1: unknown or missing), and the codes rows may have.

    Only the dictionary entries from the smallest to the largest code in use count (a
    file's dictionary may list metrics no row has). When they are their own catalogue
    codes (the dictionary starts in catalogue order), the row codes need no lookup.
    """
    of_value = pc.fill_null(pc.index_in(metric.values, value_set=_METRIC_VALUES), -1)
    of_value = of_value.to_numpy(zero_copy_only=False)
    if not len(metric.codes):
        return metric.codes, of_value[:0]
    first, last = max(int(metric.codes.min()), 0), int(metric.codes.max())
    present = of_value[first : last + 1]
    if np.array_equal(present, np.arange(first, last + 1)):
        return metric.codes, present
    return _gather(of_value, metric.codes), present


def _codes(codes: np.ndarray, dictionary: pa.Array) -> pa.DictionaryArray:
    """Accepted rows' codes (valid indices into ``dictionary``): no bounds check."""
    return pa.DictionaryArray.from_arrays(
        pa.array(codes.astype(np.int32, copy=False), pa.int32()), dictionary, safe=False
    )


def _counts(codes: np.ndarray, rejected: np.ndarray, reader_rejects: pa.Table) -> dict[str, int]:
    counts: dict[str, int] = {}
    if reader_rejects.num_rows:
        for reason in reader_rejects.column("reason").to_pylist():
            counts[reason] = counts.get(reason, 0) + 1
    if len(rejected):
        tally = np.bincount(codes[rejected], minlength=len(_ORDER) + 1)
        for code in np.flatnonzero(tally):
            reason = str(_ORDER[code - 1])
            counts[reason] = counts.get(reason, 0) + int(tally[code])
    return counts
