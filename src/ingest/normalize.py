"""Normalization: local-time 15-minute slots, and cumulative registers to interval energy.

Slots. A reading's ``ts`` is the END of the interval it measures, so a slot is the
half-open-on-the-left local interval ``(start, end]``. Slots are numbered globally from
1970-01-01 00:00 China Standard Time (UTC+8)::

    slot_index = floor((ts_ms + 8 h - 1 ms) / 15 min)

A kWh reading stamped exactly at local midnight (16:00 UTC) therefore belongs to slot 95
(23:45-24:00) of the previous local day; one stamped 1 ms later belongs to slot 0
(00:00-00:15) of the new day. :func:`slot_end_ms` of a slot is the canonical ``ts`` of a
reading for that slot.

Registers. :class:`RegisterNormalizer` turns ``electricity.register_kwh`` readings into
``electricity.kwh`` readings, one per slot, stamped at the slot end, keeping the last
reading per entity across batches. Per entity and in time order:

- the first reading ever seen gives no interval (it only sets the register);
- a drop where ``max - prev + cur <= wrap_fraction * max`` is a rollover: the interval is
  ``max - prev + cur`` (``max`` per entity, ``default_max`` otherwise);
- any other drop to ``cur <= replacement_fraction * prev`` is a meter replacement: the new
  register's value ``cur`` is the interval (what the old meter counted after ``prev`` is
  unknown and lost);
- any other drop is refused (``register_decrease``) and the register restarts from it;
- an interval spanning several slots (a gap) is spread evenly over the slots it covers,
  up to ``max_spread_slots``; a longer gap is refused (``register_gap_too_long``) rather
  than painting a flat curve over days nobody saw;
- an interval whose per-slot energy exceeds the catalogue maximum for ``electricity.kwh``
  is refused (``register_jump``: a misread or a meter swapped for one with a high start);
- rows that are not finite or negative, duplicate an earlier ``(entity, ts)``, or are not
  newer than the register carried from an earlier batch are refused too.

A refused row is never dropped silently: it comes back with its reason from
:meth:`RegisterNormalizer.normalize_with_rejects` and is counted in ``rejected_counts``.
Readings of several register intervals that fall in the same slot within one batch are
summed into one output reading.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dianyan.errors import SchemaError
from ingest.catalogue import CATALOGUE
from ingest.schema import CST_OFFSET_MS, READING_SCHEMA, SLOT_MS, SLOTS_PER_DAY, metric_mask

REGISTER_METRIC = "electricity.register_kwh"
INTERVAL_METRIC = "electricity.kwh"

#: Reasons a register row is refused, in code order.
REJECT_REASONS: tuple[str, ...] = (
    "register_invalid_value",
    "register_duplicate",
    "register_stale",
    "register_decrease",
    "register_gap_too_long",
    "register_jump",
)
REJECT_SCHEMA = READING_SCHEMA.append(pa.field("reason", pa.string(), nullable=False))
STATE_SCHEMA = pa.schema(
    [
        pa.field("entity_id", pa.string(), nullable=False),
        pa.field("ts", pa.timestamp("ms", tz="UTC"), nullable=False),
        pa.field("value", pa.float64(), nullable=False),
    ]
)
_NO_REASON = -1
_KWH_MAX = CATALOGUE[INTERVAL_METRIC].maximum


def _as_ms(ts_ms: np.ndarray) -> np.ndarray:
    arr = np.asarray(ts_ms)
    if arr.dtype.kind == "M":
        arr = arr.astype("datetime64[ms]").view(np.int64)
    return arr.astype(np.int64, copy=False)


def slot_index(ts_ms: np.ndarray) -> np.ndarray:
    """Global local-time slot number of readings ending at ``ts_ms`` (UTC epoch ms)."""
    return np.floor_divide(_as_ms(ts_ms) + (CST_OFFSET_MS - 1), SLOT_MS)


def slot_of_day(slot_idx: np.ndarray) -> np.ndarray:
    """0..95 within the local day; slot 0 is 00:00-00:15 China Standard Time."""
    return np.mod(np.asarray(slot_idx, dtype=np.int64), SLOTS_PER_DAY)


def local_day(slot_idx: np.ndarray) -> np.ndarray:
    """The local (China Standard Time) calendar day of each slot, as ``datetime64[D]``."""
    return np.floor_divide(np.asarray(slot_idx, dtype=np.int64), SLOTS_PER_DAY).astype(
        "datetime64[D]"
    )


def slot_start_ms(slot_idx: np.ndarray) -> np.ndarray:
    """UTC epoch ms at which each slot starts (exclusive)."""
    return np.asarray(slot_idx, dtype=np.int64) * SLOT_MS - CST_OFFSET_MS


def slot_end_ms(slot_idx: np.ndarray) -> np.ndarray:
    """UTC epoch ms at which each slot ends (inclusive): the ``ts`` of its reading."""
    return slot_start_ms(slot_idx) + SLOT_MS


def _metric_array(name: str, n: int) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(
        pa.array(np.zeros(n, dtype=np.int32)), pa.array([name], pa.string())
    )


def _check_schema(table: pa.Table | pa.RecordBatch) -> pa.Table:
    if isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])
    missing = [f.name for f in READING_SCHEMA if f.name not in table.schema.names]
    if missing or table.schema.field("ts").type != READING_SCHEMA.field("ts").type:
        raise SchemaError(
            f"a reading batch needs columns {list(READING_SCHEMA.names)} with ts as "
            f"timestamp[ms, UTC]; got {table.schema}. Validate the batch before normalizing."
        )
    table = table.select(list(READING_SCHEMA.names))
    ids = table["entity_id"]
    if not pa.types.is_dictionary(ids.type):
        table = table.set_column(0, "entity_id", pc.dictionary_encode(ids))
    return table


class RegisterNormalizer:
    """Stateful converter of cumulative register readings into 15-minute energy.

    State is one row per entity (last register ``ts`` and value), kept in arrays and
    joined to each batch with a hash lookup; no Python loop per reading or per entity.
    """

    def __init__(
        self,
        register_max: dict[str, float] | None = None,
        default_max: float = 1e8,
        *,
        wrap_fraction: float = 0.1,
        replacement_fraction: float = 0.01,
        max_spread_slots: int = 7 * SLOTS_PER_DAY,
    ) -> None:
        maxima = register_max or {}
        self._max_ids = pa.array(list(maxima), pa.string())
        self._max_values = np.array(list(maxima.values()), dtype=np.float64)
        self.default_max = float(default_max)
        self.wrap_fraction = wrap_fraction
        self.replacement_fraction = replacement_fraction
        self.max_spread_slots = max_spread_slots
        self._ids = pa.array([], pa.string())
        self._ts = np.empty(0, np.int64)
        self._val = np.empty(0, np.float64)
        self.rejected_counts: Counter[str] = Counter()
        self._last_ranks: tuple[pa.Array, np.ndarray] | None = None

    def normalize(self, table: pa.Table | pa.RecordBatch) -> pa.Table:
        """Convert register rows, pass other rows through; refused rows are counted."""
        return self.normalize_with_rejects(table)[0]

    def normalize_with_rejects(self, table: pa.Table | pa.RecordBatch) -> tuple[pa.Table, pa.Table]:
        """``(readings, rejected)``: other metrics unchanged followed by the converted rows
        (sorted by entity and ts), and the refused register rows with a ``reason``."""
        table = _check_schema(table)
        mask = metric_mask(table, REGISTER_METRIC)
        if not mask.any():
            return table, REJECT_SCHEMA.empty_table()
        is_register = pa.array(mask)
        passthrough = table.filter(pc.invert(is_register))
        converted, rejected = self._convert(table, np.flatnonzero(mask))
        readings = pa.concat_tables([passthrough.cast(READING_SCHEMA), converted])
        return readings, rejected

    def intervals(self, table: pa.Table | pa.RecordBatch) -> tuple[pa.Table, pa.Table]:
        """``(converted, rejected)`` for the batch's register rows only.

        For runtimes that keep the batch as it is and append the converted rows: cheaper
        than :meth:`normalize_with_rejects` (no copy of the other rows), and consumers that
        want ``electricity.kwh`` simply ignore the register rows left in the batch.
        """
        table = _check_schema(table)
        mask = metric_mask(table, REGISTER_METRIC)
        if not mask.any():
            return READING_SCHEMA.empty_table(), REJECT_SCHEMA.empty_table()
        return self._convert(table, np.flatnonzero(mask))

    def _convert(self, table: pa.Table, picked: np.ndarray) -> tuple[pa.Table, pa.Table]:
        """Convert the register rows ``picked`` (row numbers) of ``table``."""
        n = picked.size
        if n == 0:
            return READING_SCHEMA.empty_table(), REJECT_SCHEMA.empty_table()
        if table["entity_id"].num_chunks > 1:
            table = table.unify_dictionaries()
        table = table.combine_chunks()
        column = table["entity_id"].chunk(0)
        dictionary = column.dictionary
        codes = column.indices.to_numpy(zero_copy_only=False)[picked]
        ts = table["ts"].chunk(0).cast(pa.int64()).to_numpy()[picked]
        key = self._ranks(dictionary)[codes]  # equal ids share a rank, ids sort as text
        span = int(ts.max() - ts.min())
        if int(key.max()).bit_length() + span.bit_length() <= 62:  # one integer key
            order = np.argsort((key << span.bit_length()) | (ts - ts.min()), kind="stable")
        else:
            order = np.lexsort((ts, key))
        rows = picked[order]  # the register rows by entity, then time
        codes, ts, key = codes[order], ts[order], key[order]
        val = table["value"].chunk(0).to_numpy()[rows]

        new_group = np.ones(n, dtype=bool)
        new_group[1:] = key[1:] != key[:-1]
        grp = np.cumsum(new_group) - 1
        group_codes = codes[new_group]
        group_ids = dictionary.take(pa.array(group_codes))
        state_idx = self._lookup(group_ids)
        known = state_idx >= 0
        st_ts = np.full(state_idx.size, np.iinfo(np.int64).min)
        st_val = np.full(state_idx.size, np.nan)
        st_ts[known] = self._ts[state_idx[known]]
        st_val[known] = self._val[state_idx[known]]
        maxima = self._maxima(group_ids)

        reason = np.full(n, _NO_REASON, dtype=np.int8)
        dup = np.zeros(n, dtype=bool)
        dup[1:] = ~new_group[1:] & (ts[1:] == ts[:-1])
        reason[ts <= st_ts[grp]] = REJECT_REASONS.index("register_stale")
        reason[dup] = REJECT_REASONS.index("register_duplicate")
        reason[~np.isfinite(val) | (val < 0)] = REJECT_REASONS.index("register_invalid_value")

        kept = np.flatnonzero(reason == _NO_REASON)
        k_ts, k_val, k_grp = ts[kept], val[kept], grp[kept]
        first = np.ones(kept.size, dtype=bool)
        first[1:] = k_grp[1:] != k_grp[:-1]
        prev_ts = np.empty_like(k_ts)
        prev_val = np.empty_like(k_val)
        prev_ts[1:], prev_val[1:] = k_ts[:-1], k_val[:-1]
        prev_ts[first], prev_val[first] = st_ts[k_grp[first]], st_val[k_grp[first]]
        has_prev = ~first | known[k_grp]

        rmax = maxima[k_grp]
        with np.errstate(invalid="ignore"):
            raw = k_val - prev_val
            drop = has_prev & (raw < 0)
            wrap_delta = rmax - prev_val + k_val
            wrap = drop & (wrap_delta >= 0) & (wrap_delta <= self.wrap_fraction * rmax)
            replace = drop & ~wrap & (k_val <= self.replacement_fraction * prev_val)
        delta = np.where(wrap, wrap_delta, np.where(replace, k_val, raw))

        slot_now = slot_index(k_ts)
        slot_prev = slot_index(np.where(has_prev, prev_ts, k_ts))
        spans = slot_now - slot_prev
        nslots = np.maximum(spans, 1)
        per_slot = np.where(has_prev, delta, 0.0) / nslots
        k_reason = np.full(kept.size, _NO_REASON, dtype=np.int8)
        k_reason[has_prev & (per_slot > _KWH_MAX)] = REJECT_REASONS.index("register_jump")
        k_reason[has_prev & (spans > self.max_spread_slots)] = REJECT_REASONS.index(
            "register_gap_too_long"
        )
        k_reason[drop & ~wrap & ~replace] = REJECT_REASONS.index("register_decrease")
        reason[kept] = k_reason

        emit = np.flatnonzero(has_prev & (k_reason == _NO_REASON))
        readings = self._expand(
            pa.DictionaryArray.from_arrays(pa.array(group_codes, pa.int32()), dictionary),
            k_grp[emit],
            np.where(spans[emit] >= 1, slot_prev[emit] + 1, slot_now[emit]),
            nslots[emit],
            per_slot[emit],
        )
        self._remember(group_ids, state_idx, k_grp, k_ts, k_val)
        return readings, self._rejects(table, rows, reason)

    def _ranks(self, dictionary: pa.Array) -> np.ndarray:
        """Rank of each dictionary entry in text order; kept for the next batch's dictionary."""
        last = self._last_ranks
        if last is None or not last[0].equals(dictionary):
            ranks = pc.rank(dictionary, sort_keys="ascending", tiebreaker="min")
            last = self._last_ranks = (dictionary, ranks.to_numpy().astype(np.int64))
        return last[1]

    def _lookup(self, group_ids: pa.Array) -> np.ndarray:
        idx = pc.index_in(group_ids, value_set=self._ids)
        return pc.fill_null(idx, -1).to_numpy().astype(np.int64)

    def _maxima(self, group_ids: pa.Array) -> np.ndarray:
        idx = pc.fill_null(pc.index_in(group_ids, value_set=self._max_ids), -1).to_numpy()
        out = np.full(len(group_ids), self.default_max)
        out[idx >= 0] = self._max_values[idx[idx >= 0]]
        return out

    @staticmethod
    def _expand(
        group_ids: pa.Array,
        grp: np.ndarray,
        first_slot: np.ndarray,
        nslots: np.ndarray,
        per_slot: np.ndarray,
    ) -> pa.Table:
        """One row per covered slot, then one sum per (entity, slot)."""
        total = int(nslots.sum())
        if total == grp.size:  # no gap to spread: each interval is one slot already
            slots, out_grp, values = first_slot, grp, per_slot
        else:
            rep = np.repeat(np.arange(grp.size), nslots)
            offsets = np.arange(total) - np.repeat(np.cumsum(nslots) - nslots, nslots)
            slots, out_grp, values = first_slot[rep] + offsets, grp[rep], per_slot[rep]
        # Within an entity the slots never decrease, so equal neighbours form the groups.
        starts = np.ones(total, dtype=bool)
        starts[1:] = (out_grp[1:] != out_grp[:-1]) | (slots[1:] != slots[:-1])
        if not starts.all():
            at = np.flatnonzero(starts)
            slots, out_grp, values = slots[at], out_grp[at], np.add.reduceat(values, at)
        return pa.table(
            [
                group_ids.take(pa.array(out_grp)),
                _metric_array(INTERVAL_METRIC, slots.size),
                pa.array(slot_end_ms(slots), pa.timestamp("ms", tz="UTC")),
                pa.array(values, pa.float64()),
            ],
            schema=READING_SCHEMA,
        )

    def _remember(
        self,
        group_ids: pa.Array,
        state_idx: np.ndarray,
        k_grp: np.ndarray,
        k_ts: np.ndarray,
        k_val: np.ndarray,
    ) -> None:
        """Keep each entity's newest accepted-or-refused-in-sequence register reading."""
        if k_grp.size == 0:
            return
        last = np.ones(k_grp.size, dtype=bool)
        last[:-1] = k_grp[1:] != k_grp[:-1]
        g, lts, lval = k_grp[last], k_ts[last], k_val[last]
        old = state_idx[g] >= 0
        self._ts[state_idx[g][old]] = lts[old]
        self._val[state_idx[g][old]] = lval[old]
        fresh = ~old
        if fresh.any():
            self._ids = pa.concat_arrays([self._ids, group_ids.take(pa.array(g[fresh]))])
            self._ts = np.concatenate([self._ts, lts[fresh]])
            self._val = np.concatenate([self._val, lval[fresh]])

    def _rejects(self, table: pa.Table, rows: np.ndarray, reason: np.ndarray) -> pa.Table:
        bad = np.flatnonzero(reason != _NO_REASON)
        if bad.size == 0:
            return REJECT_SCHEMA.empty_table()
        codes, counts = np.unique(reason[bad], return_counts=True)
        self.rejected_counts.update(
            {REJECT_REASONS[c]: int(k) for c, k in zip(codes, counts, strict=True)}
        )
        refused = table.take(pa.array(rows[bad])).cast(READING_SCHEMA)
        reasons = np.array(REJECT_REASONS, dtype=object)[reason[bad]]
        return refused.append_column(REJECT_SCHEMA.field("reason"), pa.array(reasons, pa.string()))

    def snapshot(self) -> pa.Table:
        """The carried registers (entity_id, ts, value), to persist across restarts."""
        return pa.table(
            [self._ids, pa.array(self._ts, pa.timestamp("ms", tz="UTC")), self._val],
            schema=STATE_SCHEMA,
        )

    def restore(self, snapshot: pa.Table) -> None:
        """Replace the carried registers with a :meth:`snapshot`."""
        snapshot = snapshot.cast(STATE_SCHEMA)
        self._ids = snapshot["entity_id"].combine_chunks()
        self._ts = snapshot["ts"].cast(pa.int64()).to_numpy().copy()
        self._val = snapshot["value"].to_numpy().copy()
