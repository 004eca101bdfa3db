"""The electricity detector (电眼): four rules over per-enterprise 15-minute consumption.

``step(batch)`` takes a reading batch (any size, any order within the allowed lateness),
scatters it into the slot grid, and runs every closed slot through the rules for all
entities at once: suspended_operation, night_production, usage_surge and meter_offline.
Whole local days of learnable values then update the seasonal baseline. It returns the
detections of episodes that opened or ended; the alerts package turns them into alerts.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable, Set
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from detectors import explain
from detectors.baseline import DAY_TYPES, SeasonalBaseline, baseline_columns
from detectors.context import EntityContext, NoRegistry
from detectors.detection import Detection
from detectors.episodes import EpisodeEvents, EpisodeTracker, episode_columns
from detectors.grid import SlotGrid
from detectors.slot_window import SlotWindow, in_window
from detectors.state import Column, EntityState, StateMismatchError
from detectors.thresholds import Thresholds, params_used_of_rows
from dianyan.errors import CalendarRangeError
from ingest.calendar import day_type, holiday_name
from ingest.normalize import slot_end_ms, slot_start_ms
from ingest.schema import SLOT_MINUTES, SLOTS_PER_DAY, metric_mask

log = logging.getLogger(__name__)

METRIC = "electricity.kwh"
RULES = ("suspended_operation", "night_production", "usage_surge", "meter_offline")
BEHAVIOUR_RULES = RULES[:3]
NIGHT_RECOVERY_SLOTS = 4
PRODUCTION_TOP_SLOTS = 4  # production level: mean of the busiest hour of the baseline day
MIN_VALID_SLOTS_TO_LEARN = SLOTS_PER_DAY // 2
SPREAD_FLOOR_FRACTION = 0.1
SPREAD_FLOOR_KWH = 0.5
EVIDENCE_SLOTS = SLOTS_PER_DAY


@dataclass(slots=True)
class StepResult:
    detections: list[Detection] = field(default_factory=list)
    late: pa.Table | None = None  # readings whose slot had closed before they arrived


def _own_columns() -> dict[str, Column]:
    nan = np.float32(np.nan)
    cols = {
        "cur_day": Column((SLOTS_PER_DAY,), "float32", nan),
        "prev_day": Column((SLOTS_PER_DAY,), "float32", nan),
        "learn": Column((SLOTS_PER_DAY,), "bool", True),
        "last_seen": Column((), "int64", -1),
        "offline_start": Column((), "int64", -1),
        "prod_level": Column((), "float32", nan),
        "night_level": Column((), "float32", nan),
    }
    for rule in RULES:
        cols |= episode_columns(rule)
    for rule in BEHAVIOUR_RULES:
        cols |= episode_columns(f"{rule}.exempt")
    return cols


@dataclass(slots=True)
class _Block:
    """One piece of closed slots inside a single local day, with what the rules share."""

    first: int
    values: np.ndarray  # (n, T)
    valid: np.ndarray
    slots: np.ndarray
    sod: np.ndarray
    ts_end: np.ndarray
    ids: np.ndarray
    day: slice  # the block's slots as columns of the per-day arrays (slot of day)


@dataclass(slots=True)
class _Cond:
    """A rule's condition over a block, and the rows where it holds anywhere (ascending)."""

    mask: np.ndarray  # (n, T)
    rows: np.ndarray


def _cond(mask: np.ndarray, rows: np.ndarray) -> _Cond:
    """The condition ``mask``, which cannot hold outside ``rows`` (ascending)."""
    return _Cond(mask, rows[mask[rows].any(axis=1)] if rows.size else rows)


def _rows_with(mask: np.ndarray) -> np.ndarray:
    """Rows of a 2-D mask that hold anywhere, ascending."""
    if not mask.any():
        return np.empty(0, dtype=np.int64)
    rows = np.flatnonzero(mask) // mask.shape[1]
    first = np.ones(rows.size, dtype=bool)
    np.not_equal(rows[1:], rows[:-1], out=first[1:])
    return rows[first]


def _last_instant(blk: _Block) -> np.ndarray:
    """The last millisecond of each slot: the instant its status and exemptions apply at.

    Status and exemption periods are half-open ``[from, to)``. At a slot's end instant the
    next period is already in force: a suspension from 12:00 would claim the slot
    11:45-12:00, and a permit until 12:00 would miss it.
    """
    return blk.ts_end - 1


def _below32(x: np.ndarray) -> np.ndarray:
    """The largest float32 at or below each float64 of ``x`` (NaN stays NaN).

    No float32 lies between it and ``x``, so a float32 ``v`` is above ``x`` exactly when it
    is above this: the comparison can be made in float32 with the float64 result.
    """
    with np.errstate(over="ignore"):
        near = x.astype(np.float32)
    return np.where(near > x, np.nextafter(near, np.float32(-np.inf)), near)


class ElectricityDetector:
    """Vectorized 电眼 rules with per-entity seasonal baselines."""

    def __init__(self, thresholds: Thresholds, context: EntityContext | None = None) -> None:
        self.context = context or NoRegistry()
        self.thresholds = thresholds
        b = thresholds.baseline
        self.baseline = SeasonalBaseline(b.history_days, b.min_history_days)
        shape = {
            "detector": "electricity/1",
            "slot_minutes": SLOT_MINUTES,
            "history_days": b.history_days,
        }
        self.state = EntityState(baseline_columns(b.history_days) | _own_columns(), shape)
        self.trackers = {r: EpisodeTracker(r) for r in RULES}
        self.exempt_trackers = {r: EpisodeTracker(f"{r}.exempt") for r in BEHAVIOUR_RULES}
        self.grid = SlotGrid(thresholds.ingest.allowed_lateness_minutes * 60_000)
        self.day = -1
        self.day_type = 0
        self.holiday = False
        self.prev_day_type = 0
        self.counties = np.empty(0, dtype=object)
        self.industries = np.empty(0, dtype=object)
        self.params: dict[str, dict[str, np.ndarray]] = {}
        # derived from params and state (never snapshot): each row's night window over the
        # slots of a day, and the production and night level of each day type's baseline
        self.night_window = np.empty((0, SLOTS_PER_DAY), dtype=bool)
        self.type_prod = np.empty((0, DAY_TYPES), dtype=np.float32)
        self.type_night = np.empty((0, DAY_TYPES), dtype=np.float64)
        self._ids = np.empty(0, dtype=object)
        self._ids_of: object = None  # the entity index self._ids was read from

    # -- entities and thresholds -------------------------------------------------------

    @property
    def ids(self) -> np.ndarray:
        """Entity id of each row: one read-only array for as long as the entities stay."""
        index = self.state.index
        if self._ids_of is not index or self._ids.size != len(index):
            self._ids = np.asarray(index.ids, dtype=object)
            self._ids.flags.writeable = False
            self._ids_of = index
        return self._ids

    def _register(self, new_rows: np.ndarray) -> None:
        ids = [self.state.index.ids[r] for r in new_rows]
        counties, industries = self.context.describe(ids)
        self.counties = np.concatenate([self.counties, np.asarray(counties, dtype=object)])
        self.industries = np.concatenate([self.industries, np.asarray(industries, dtype=object)])
        table = self.thresholds.param_table(ids, list(counties), list(industries))
        if not self.params:
            self.params = {r: dict(p) for r, p in table.items()}
        else:
            for rule, params in table.items():
                for name, arr in params.items():
                    self.params[rule][name] = np.concatenate([self.params[rule][name], arr])
        self.night_window = np.concatenate([self.night_window, self._night_window(new_rows)])
        prod, night = self._type_levels(new_rows, range(DAY_TYPES))
        self.type_prod = np.concatenate([self.type_prod, prod])
        self.type_night = np.concatenate([self.type_night, night])

    def reload(self, thresholds: Thresholds) -> None:
        """Switch to a new thresholds version; open episodes and alerts carry on."""
        self.check_reload(thresholds)
        self._apply(thresholds)

    def check_reload(self, thresholds: Thresholds) -> None:
        """Refuse thresholds this state cannot serve (the baseline was shaped by others)."""
        if thresholds.baseline != self.thresholds.baseline:
            raise StateMismatchError(
                "baseline settings changed (history_days/min_history_days); the baseline state "
                "was built with the old ones. Restart with fresh state to apply them."
            )

    def _apply(self, thresholds: Thresholds) -> None:
        self.thresholds = thresholds
        self.grid.lateness_ms = thresholds.ingest.allowed_lateness_minutes * 60_000
        ids = self.state.index.ids
        self.params = {}
        if ids:
            table = thresholds.param_table(ids, list(self.counties), list(self.industries))
            self.params = {r: dict(p) for r, p in table.items()}
            self.night_window = self._night_window(np.arange(len(ids)))
            self._refresh_levels(np.arange(len(ids)))

    # -- stream ------------------------------------------------------------------------

    def step(self, batch: pa.Table, present: Set[str] | None = None) -> StepResult:
        """Take a reading batch; return detections of slots that closed."""
        if present is not None and METRIC not in present:
            return StepResult(self._drain(flush=False))
        mask = metric_mask(batch, METRIC)
        if not mask.any():
            return StepResult(self._drain(flush=False))
        # arrow's filter, column by column, beats numpy's masking of the concatenated chunks
        keep = None if mask.all() else pa.array(mask)
        entity, stamps, value = (
            batch[c] if keep is None else pc.filter(batch[c], keep)
            for c in ("entity_id", "ts", "value")
        )
        rows, new_rows = self.state.rows_in(entity)
        if new_rows.size:
            self._register(new_rows)
        ts = stamps.cast(pa.int64()).to_numpy()
        # one copy out of the chunks, cast to float32 on the way
        values = np.concatenate(
            [c.to_numpy(zero_copy_only=False) for c in value.chunks], dtype=np.float32
        )
        late = self.grid.add(rows, ts, values, len(self.state))
        detections = self._drain(flush=False)
        late_table = None
        if late.any():
            full = np.zeros(batch.num_rows, dtype=bool)
            full[np.flatnonzero(mask)[late]] = True
            late_table = batch.filter(pa.array(full))
        return StepResult(detections, late_table)

    def flush(self) -> StepResult:
        """End of input: evaluate every slot up to the newest reading."""
        return StepResult(self._drain(flush=True))

    def _drain(self, flush: bool) -> list[Detection]:
        block = self.grid.take_closed(len(self.state), flush)
        if block is None:
            return []
        out: list[Detection] = []
        values = block.values
        first = block.first_slot
        pos = 0
        while pos < values.shape[1]:
            slot = first + pos
            day_end = (slot // SLOTS_PER_DAY + 1) * SLOTS_PER_DAY
            k = min(values.shape[1] - pos, day_end - slot)
            out.extend(self._process(values[:, pos : pos + k], slot))
            pos += k
        return out

    # -- days and baselines ------------------------------------------------------------

    def _start_day(self, day: int) -> None:
        if self.day >= 0:
            self._finish_day()
        self.day = day
        date = np.datetime64(day, "D")
        try:
            self.day_type = int(np.asarray(day_type(date)).reshape(-1)[0])
            self.holiday = holiday_name(date) is not None
        except CalendarRangeError as exc:
            log.warning("%s; using weekday/weekend as day type", exc)
            self.day_type = int(date.astype("datetime64[D]").view(np.int64) % 7 in (2, 3))
            self.holiday = False

    def _finish_day(self) -> None:
        st, n = self.state, len(self.state)
        vals = np.where(st["learn"][:n], st["cur_day"][:n], np.float32(np.nan))
        if not self.holiday and n:
            counted = np.count_nonzero(~np.isnan(vals), axis=1)
            enough = counted >= MIN_VALID_SLOTS_TO_LEARN
            if enough.all():
                rows = np.arange(n)
            else:
                rows = np.flatnonzero(enough)
                vals, counted = vals[rows], counted[rows]
            learnt = self.baseline.push_day(st, rows, self.day_type, vals, counted)
            self._refresh_levels(learnt, (self.day_type,))
        st["prev_day"][:n] = st["cur_day"][:n]
        st["cur_day"][:n] = np.nan
        st["learn"][:n] = True
        self.prev_day_type = self.day_type

    def _night_window(self, rows: np.ndarray) -> np.ndarray:
        """Which slots of the day are inside each row's night window (rows x 96)."""
        pn = self.params["night_production"]
        return in_window(
            np.arange(SLOTS_PER_DAY)[None, :],
            pn["window_start_slot"][rows, None],
            pn["window_end_slot"][rows, None],
        )

    def _type_levels(
        self, rows: np.ndarray, day_types: Iterable[int]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Busiest-hour level and night mean of each day type's baseline (rows x types).

        NaN (production) and -inf (night) where the baseline has no value; only the given
        day types are computed, the others are taken from the cache.
        """
        prod = np.full((rows.size, DAY_TYPES), np.nan, dtype=np.float32)
        night = np.full((rows.size, DAY_TYPES), -np.inf)
        known = rows < len(self.type_prod)
        if known.any():
            prod[known] = self.type_prod[rows[known]]
            night[known] = self.type_night[rows[known]]
        window = self.night_window[rows]
        for dt in day_types:
            centre = self.state["centre"][rows, dt]  # rows x slot
            unknown = np.isnan(centre)
            top = np.fmax(centre, -np.inf)  # NaN -> -inf, in one pass
            top.partition(-PRODUCTION_TOP_SLOTS, axis=1)
            with np.errstate(invalid="ignore"):
                level = top[:, -PRODUCTION_TOP_SLOTS:].mean(axis=1)
            level[~np.isfinite(level)] = np.nan
            prod[:, dt] = level
            inside = window & ~unknown
            count = inside.sum(axis=1)
            night_mean = np.where(inside, centre, 0.0).sum(axis=1) / np.maximum(count, 1)
            night_mean[count == 0] = -np.inf
            night[:, dt] = night_mean
        return prod, night

    def _refresh_levels(
        self, rows: np.ndarray, day_types: Iterable[int] = range(DAY_TYPES)
    ) -> None:
        """Production level (busiest hour of a usual day) and the usual night level.

        Only ``day_types`` changed their baseline for ``rows``; the levels of the other day
        type are the cached ones.
        """
        if rows.size == 0:
            return
        st = self.state
        type_prod, type_night = self._type_levels(rows, day_types)
        self.type_prod[rows] = type_prod
        self.type_night[rows] = type_night
        prod = np.where(np.isnan(type_prod[:, 0]), type_prod[:, 1], type_prod[:, 0])
        early = np.flatnonzero(np.isnan(prod))
        if early.size:
            # not ready yet: the busiest hour seen so far stands in (the standby level of a
            # plant suspended during warm-up is judged against it, not only the floor)
            seen = self._busiest_seen(rows[early])
            top = np.sort(seen, axis=1)[:, -PRODUCTION_TOP_SLOTS:]
            with np.errstate(invalid="ignore"):
                provisional = top.mean(axis=1)
            prod[early] = np.where(np.isfinite(provisional), provisional, np.nan)
        st["prod_level"][rows] = prod
        level = type_night.max(axis=1)
        st["night_level"][rows] = np.where(np.isfinite(level), level, np.nan)

    def _busiest_seen(self, rows: np.ndarray) -> np.ndarray:
        """Largest value of each slot of day in the whole history (-inf if none): rows x 96."""
        hist = self.state["hist"]
        n = len(self.state)
        if rows.size * 4 >= n:  # most rows: reduce in place rather than gather the history
            seen = np.fmax.reduce(hist[:n], axis=(1, 2))[rows]
        else:
            seen = np.fmax.reduce(hist[rows], axis=(1, 2))
        seen[np.isnan(seen)] = -np.inf
        return seen

    # -- the rules over one block --------------------------------------------------------

    def _process(self, values: np.ndarray, first: int) -> list[Detection]:
        day = first // SLOTS_PER_DAY
        if day != self.day:
            self._start_day(day)
        n, t_len = values.shape
        slots = np.arange(first, first + t_len, dtype=np.int64)
        start = first - day * SLOTS_PER_DAY
        ids = self.ids
        blk = _Block(
            first,
            values,
            ~np.isnan(values),
            slots,
            slots % SLOTS_PER_DAY,
            slot_end_ms(slots),
            ids if ids.size == n else ids[:n],
            slice(start, start + t_len),
        )
        st = self.state
        st["cur_day"][:n, blk.day] = values
        suspended = self.context.status(blk.ids, _last_instant(blk)) > 0
        paused = _rows_with(suspended)

        out = self._meter_offline(blk)
        prod = st["prod_level"][:n]
        night = self._night_cond(blk, suspended, paused, prod)
        surge = self._surge_cond(blk, suspended)
        if night.rows.size and surge.rows.size:
            # night production is the more specific finding for the same readings
            surge = _cond(surge.mask & ~night.mask, surge.rows)
        conds = {
            "suspended_operation": self._suspended_cond(blk, suspended, paused, prod),
            "night_production": night,
            "usage_surge": surge,
        }
        learn = blk.valid.copy()
        learn[paused] &= ~suspended[paused]
        for rule, cond in conds.items():
            learn[cond.rows] &= ~cond.mask[cond.rows]
            out.extend(self._episodes(rule, blk, cond))
        st["learn"][:n, blk.day] = learn
        return out

    def _suspended_cond(
        self, blk: _Block, suspended: np.ndarray, paused: np.ndarray, prod: np.ndarray
    ) -> _Cond:
        """Above standby while suspended; only the ``paused`` rows are ever suspended."""
        p = self.params["suspended_operation"]
        mask = np.zeros(blk.values.shape, dtype=bool)
        if paused.size:
            standby = self._standby(paused, prod[paused])
            mask[paused] = (
                p["enabled"][paused, None]
                & suspended[paused]
                & (blk.values[paused] > standby[:, None])
            )
        return _cond(mask, paused)

    def _standby(self, rows: np.ndarray, prod: np.ndarray) -> np.ndarray:
        p = self.params["suspended_operation"]
        return np.maximum(
            p["standby_fraction"][rows] * np.nan_to_num(prod, nan=0.0), p["standby_floor_kwh"][rows]
        )

    def _night_cond(
        self, blk: _Block, suspended: np.ndarray, paused: np.ndarray, prod: np.ndarray
    ) -> _Cond:
        """Production level at night; only the ``paused`` rows are ever suspended."""
        p = self.params["night_production"]
        st, n = self.state, blk.values.shape[0]
        window = self.night_window[:n, blk.day]
        if not window.any():
            return _Cond(np.zeros(blk.values.shape, dtype=bool), np.empty(0, dtype=np.int64))
        with np.errstate(invalid="ignore"):
            own_night = st["night_level"][:n] >= p["night_shift_history_fraction"][:n] * prod
            applies = (
                p["enabled"][:n] & self.baseline.ready(st, slice(0, n), 0) & (prod > 0) & ~own_night
            )
            level = p["production_fraction"][:n] * prod
        # NaN where the rule does not apply: no value is above it
        level = np.where(applies, _below32(level), np.float32(np.nan))
        mask = np.greater(blk.values, level[:, None])
        mask &= window
        mask[paused] &= ~suspended[paused]
        return _Cond(mask, _rows_with(mask))

    def _surge_ref(self, rows: np.ndarray, sod: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Baseline and spread of the entries (``rows``, ``sod``); on rest days never below
        the workday level.

        A rest day is judged only once the rest-day baseline is ready: judged by the workday
        baseline alone, a plant busier at weekends would be flagged every weekend, and its
        flagged weekends would never be learnt.
        """
        ref = self._surge_centre(rows, sod)
        spread = self.baseline.spread(self.state, rows, self.day_type, sod)
        return ref, self._surge_spread(ref, spread)

    def _surge_centre(self, rows: np.ndarray | slice, sod: np.ndarray | slice) -> np.ndarray:
        """The centre at ``[rows, sod]`` (numpy indexing: paired arrays or a block)."""
        st, dt = self.state, self.day_type
        ref = st["centre"][:, dt][rows, sod]
        if dt == 1 or self.holiday:
            workday = st["centre"][:, 0][rows, sod]
            ref = np.where(np.isnan(ref), ref, np.fmax(ref, workday))
        return ref

    @staticmethod
    def _surge_spread(ref: np.ndarray, spread: np.ndarray) -> np.ndarray:
        floor = np.maximum(SPREAD_FLOOR_FRACTION * ref, SPREAD_FLOOR_KWH)
        return np.fmax(spread, floor)

    def _surge_cond(self, blk: _Block, suspended: np.ndarray) -> _Cond:
        p = self.params["usage_surge"]
        # the ratio test rules out almost every slot; the others are judged where it passes
        r, t, ref = self._over_ratio(blk)
        if r.size:
            v = blk.values[r, t]
            day_slot = t + blk.day.start
            spread = self._surge_spread(
                ref, self.baseline.spread(self.state, r, self.day_type, day_slot)
            )
            with np.errstate(invalid="ignore"):
                z = (v - ref) / spread
                hit = ~suspended[r, t] & (z > p["z"][r]) & (v - ref > p["min_excess_kwh"][r])
            r, t = r[hit], t[hit]
        mask = np.zeros(blk.values.shape, dtype=bool)
        mask[r, t] = True
        return _cond(mask, np.unique(r))

    def _over_ratio(self, blk: _Block) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Entries (row, column) of enabled rows whose value is above ``min_ratio`` times the
        surge centre (the float64 product), and that centre.

        The product is taken in float64 only where a float32 pass over today's centre
        cannot rule the entry out.
        """
        p, st, dt = self.params["usage_surge"], self.state, self.day_type
        n, t_len = blk.values.shape
        ratio = p["min_ratio"][:n]
        if (p["enabled"][:n] & self.baseline.ready(st, slice(0, n), dt)).any():
            above = self._over_ratio_bound(blk, ratio)
        else:
            above = np.empty(0, dtype=np.int64)  # no centre (NaN) to be above
        r, t = np.divmod(above, t_len)
        ref = self._surge_centre(r, t + blk.day.start)
        level = ref.astype(np.float64)  # the float64 product, as numpy would widen it
        hit = p["enabled"][r] & (blk.values[r, t] > level * ratio[r])
        return r[hit], t[hit], ref[hit]

    def _over_ratio_bound(self, blk: _Block, ratio: np.ndarray) -> np.ndarray:
        """Flat indices of the block that may be above ``ratio`` times the surge centre: at
        least those that are.

        The surge centre is at least today's centre, and with both factors >= 0 their
        float32 product, the ratio rounded down, is at most the float64 level.
        """
        n = blk.values.shape[0]
        bound = self.state["centre"][:n, self.day_type, blk.day] * _below32(ratio)[:, None]
        if bound.view(np.int32).min() < 0 or (ratio < 0).any():  # sign bit: a centre < 0
            bound = self._surge_centre(slice(0, n), blk.day).astype(np.float64)
            np.multiply(bound, ratio[:, None], out=bound)
            return np.flatnonzero(blk.values > bound)
        return np.flatnonzero(blk.values >= bound)

    def _exemptions(
        self, blk: _Block, cond: _Cond, rule: str
    ) -> tuple[np.ndarray | None, dict[int, np.ndarray]]:
        """Where an approved exemption covers a flagged slot (None: nowhere), its id per row."""
        if cond.rows.size == 0:
            return None, {}
        ids = self.context.exemption(blk.ids[cond.rows], _last_instant(blk), rule)
        hit = ids != ""
        if not hit.any():
            return None, {}
        exempt = np.zeros(cond.mask.shape, dtype=bool)
        exempt[cond.rows] = hit
        by_row = {int(cond.rows[i]): ids[i] for i in np.flatnonzero(hit.any(axis=1))}
        return exempt, by_row

    # -- episodes into detections ------------------------------------------------------

    def _episodes(self, rule: str, blk: _Block, cond: _Cond) -> list[Detection]:
        exempt, exempt_ids = self._exemptions(blk, cond, rule)
        p = self.params[rule]
        n = blk.values.shape[0]
        recovery = (
            p["recovery_slots"][:n]
            if "recovery_slots" in p
            else np.full(n, NIGHT_RECOVERY_SLOTS, dtype=np.int64)
        )

        def track(tracker: EpisodeTracker, mask: np.ndarray) -> EpisodeEvents:
            return tracker.step(
                self.state,
                mask,
                blk.valid,
                blk.values,
                blk.first,
                p["min_run_slots"][:n],
                recovery,
                candidates=cond.rows,
            )

        ev = track(self.trackers[rule], cond.mask if exempt is None else cond.mask & ~exempt)
        out = self._detections(rule, ev, blk)
        held = None if exempt is None else cond.mask & exempt
        tracker = self.exempt_trackers[rule]
        if (held is not None and held.any()) or tracker.pending(self.state).any():
            ev = track(tracker, np.zeros_like(cond.mask) if held is None else held)
            at = ev.open_at - blk.first
            by = [str(exempt_ids[int(r)][t]) for r, t in zip(ev.open_rows, at, strict=True)]
            out.extend(self._detections(rule, ev, blk, suppressed_by=by))
        return out

    def _detections(
        self, rule: str, ev: EpisodeEvents, blk: _Block, suppressed_by: list[str] | None = None
    ) -> list[Detection]:
        final = suppressed_by is None
        rows, starts, lasts, means = ev.open_rows, ev.open_start, ev.open_at, ev.open_mean
        if final:  # an exempted episode is reported when it opens only
            rows = np.concatenate([rows, ev.close_rows])
            starts = np.concatenate([starts, ev.close_start])
            lasts = np.concatenate([lasts, ev.close_last])
            means = np.concatenate([means, ev.close_mean])
        if rows.size == 0:
            return []
        if rule == "usage_surge":  # every surge's baseline at once (the spread is computed)
            ref, spread = self._surge_ref(rows, lasts % SLOTS_PER_DAY)
            usual = list(zip(ref.tolist(), spread.tolist(), strict=True))
        else:
            usual = [(np.nan, np.nan)] * rows.size
        described = [
            self._describe(rule, row, start, last, mean, usual[i])
            for i, (row, start, last, mean) in enumerate(
                zip(rows.tolist(), starts.tolist(), lasts.tolist(), means.tolist(), strict=True)
            )
        ]
        evidence = self._evidence(rows, lasts, [d[4] for d in described])
        opened = ev.open_rows.size
        return self._make(
            rule,
            rows,
            starts,
            lasts,
            [d[:4] for d in described],
            [final and i >= opened for i in range(rows.size)],
            suppressed_by or [None] * rows.size,
            evidence,
        )

    def _describe(
        self, rule: str, row: int, start: int, last: int, mean: float, surge: tuple[float, float]
    ) -> tuple[float, float, float, str, float]:
        """Observed, baseline, score, explanation and the threshold line it crossed.

        ``surge`` is the baseline and spread a usage surge was judged by (else unused).
        """
        slots = last - start + 1
        prod = float(self.state["prod_level"][row])
        if rule == "suspended_operation":
            return self._describe_suspended(np.array([row]), mean, slots, prod)
        if rule == "night_production":
            return self._describe_night(row, mean, slots, prod)
        if rule == "usage_surge":
            return self._describe_surge(row, *surge, mean, slots)
        raise KeyError(rule)

    def _describe_suspended(self, rows: np.ndarray, mean: float, slots: int, prod: float):
        standby = float(self._standby(rows, np.array([prod]))[0])
        text = explain.suspended_operation(mean, standby, slots)
        return mean, standby, mean / standby, text, standby

    def _describe_night(self, row: int, mean: float, slots: int, prod: float):
        p = self.params["night_production"]
        window = SlotWindow(int(p["window_start_slot"][row]), int(p["window_end_slot"][row]))
        text = explain.night_production(mean, prod, str(window).replace("-", "–"), slots)
        return mean, prod, mean / prod, text, float(p["production_fraction"][row]) * prod

    def _describe_surge(self, row: int, r: float, s: float, mean: float, slots: int):
        z = (mean - r) / s
        p = self.params["usage_surge"]
        # a reading is a surge above all three of these levels
        line = max(r + p["z"][row] * s, p["min_ratio"][row] * r, r + p["min_excess_kwh"][row])
        return mean, r, z, explain.usage_surge(mean, r, z, slots), float(line)

    def _make(
        self,
        rule: str,
        rows: np.ndarray,
        starts: np.ndarray,
        lasts: np.ndarray,
        described: list[tuple[float, float, float, str]],
        final: list[bool],
        suppressed_by: list[str | None],
        evidence: list[dict[str, object]],
    ) -> list[Detection]:
        """Detections of episodes (row, first and last slot), described as observed, baseline,
        score and explanation; what they take from the rows is read for all at once."""
        start_ms = slot_start_ms(starts).tolist()
        end_ms = slot_end_ms(lasts).tolist()
        ids = self.ids[rows].tolist()
        counties = self.counties[rows].tolist()
        severity = self.params[rule]["severity"][rows].tolist()
        thresholds = params_used_of_rows(self.params, rule, rows)
        return [
            Detection(
                rule=rule,
                entity_id=ids[i],
                county=str(counties[i]),
                episode_start_ms=start_ms[i],
                start_ms=start_ms[i],
                end_ms=end_ms[i],
                severity=str(severity[i]),
                score=round(float(score), 4),
                observed=round(float(observed), 4),
                baseline=round(float(baseline), 4),
                thresholds=thresholds[i],
                thresholds_version=self.thresholds.version,
                explanation=text,
                final=final[i],
                suppressed_by=suppressed_by[i],
                evidence=evidence[i],
            )
            for i, (observed, baseline, score, text) in enumerate(described)
        ]

    def _evidence(
        self, rows: np.ndarray, lasts: np.ndarray, thresholds: list[float]
    ) -> list[dict[str, object]]:
        """Per detection, the 24 h of readings up to its last slot and the baseline they were
        judged by; all detections of a block at once."""
        st = self.state
        prev, cur = self.prev_day_type, self.day_type
        values = np.concatenate([st["prev_day"][rows], st["cur_day"][rows]], axis=1)
        centre = np.concatenate([st["centre"][rows, prev], st["centre"][rows, cur]], axis=1)
        spread = self.baseline.spread_of_rows(st, rows, [prev, cur])
        # the usual band: median +/- one robust standard deviation (1.4826 MAD)
        series = np.stack(
            [values, centre, np.maximum(centre - spread, 0.0), centre + spread], axis=1
        )
        base = (self.day - 1) * SLOTS_PER_DAY
        ends = np.clip(np.asarray(lasts) - base + 1, 1, values.shape[1])
        begins = np.maximum(ends - EVIDENCE_SLOTS, 0)
        # each detection's window, padded to EVIDENCE_SLOTS; NaN shows as None
        at = np.minimum(begins[:, None] + np.arange(EVIDENCE_SLOTS), values.shape[1] - 1)
        window = np.round(np.take_along_axis(series, at[:, None, :], axis=2).astype(np.float64), 3)
        cells = window.astype(object)
        cells[np.isnan(window)] = None
        first_end = slot_end_ms(base + begins).tolist()
        out: list[dict[str, object]] = []
        for i, width in enumerate((ends - begins).tolist()):
            shown, usual, low, high = cells[i, :, :width].tolist()
            threshold = thresholds[i]
            out.append(
                {
                    "unit": "kWh",
                    "slot_minutes": SLOT_MINUTES,
                    "first_end_ms": first_end[i],
                    "values": shown,
                    "baseline": usual,
                    "baseline_low": low,
                    "baseline_high": high,
                    "threshold": round(float(threshold), 3) if np.isfinite(threshold) else None,
                }
            )
        return out

    # -- meter_offline -----------------------------------------------------------------

    def _meter_offline(self, blk: _Block) -> list[Detection]:
        st, (n, t_len) = self.state, blk.values.shape
        p = self.params["meter_offline"]
        # k silent slots are k * 15 minutes without readings: offline once k * 15 > max_gap
        gap = p["max_gap_minutes"][:n] // SLOT_MINUTES
        last_seen = st["last_seen"][:n]
        # a row with a reading in every slot is seen at each slot: not offline (a gap >= 0)
        rows = np.union1d(_rows_with(~blk.valid), np.flatnonzero(gap < 0))
        lv = np.maximum.accumulate(np.where(blk.valid[rows], blk.slots[None, :], -1), axis=1)
        lv = np.maximum(lv, last_seen[rows, None])
        cond = np.zeros((n, t_len), dtype=bool)
        cond[rows] = (
            p["enabled"][rows, None] & (lv >= 0) & (blk.slots[None, :] - lv > gap[rows, None])
        )
        ones = np.ones(n, dtype=np.int64)
        ev = self.trackers["meter_offline"].step(
            st,
            cond,
            np.broadcast_to(True, cond.shape),
            np.broadcast_to(0.0, cond.shape),
            blk.first,
            ones,
            ones,
            candidates=_cond(cond, rows).rows,
        )
        np.maximum(last_seen, blk.slots[-1], out=last_seen)
        last_seen[rows] = lv[:, -1]
        found: list[tuple[int, int, int, bool]] = []
        at_row = np.searchsorted(rows, ev.open_rows)
        for i, row, at in zip(
            at_row.tolist(), ev.open_rows.tolist(), ev.open_at.tolist(), strict=True
        ):
            start = int(lv[i, at - blk.first]) + 1
            st["offline_start"][row] = start
            found.append((row, start, at, False))
        for row, last in zip(ev.close_rows.tolist(), ev.close_last.tolist(), strict=True):
            found.append((row, int(st["offline_start"][row]), last, True))
        if not found:
            return []
        rows, starts, lasts, final = (np.array(col) for col in zip(*found, strict=True))
        evidence = self._evidence(rows, lasts, [np.nan] * rows.size)
        limits = self.params["meter_offline"]["max_gap_minutes"][rows].tolist()
        described = [
            self._describe_offline(slots, limit)
            for slots, limit in zip((lasts - starts + 1).tolist(), limits, strict=True)
        ]
        return self._make(
            "meter_offline",
            rows,
            starts,
            lasts,
            described,
            final.tolist(),
            [None] * rows.size,
            evidence,
        )

    @staticmethod
    def _describe_offline(slots: int, limit_minutes: int) -> tuple[float, float, float, str]:
        hours = slots * SLOT_MINUTES / 60
        limit = float(limit_minutes) / 60
        return hours, limit, hours / limit, explain.meter_offline(slots)

    # -- snapshot ----------------------------------------------------------------------

    def snapshot(self) -> bytes:
        """Everything the detector knows, as bytes; restore() gives it back exactly."""
        buf = io.BytesIO()
        scalars = np.array([self.day, self.day_type, int(self.holiday), self.prev_day_type])
        entities = np.frombuffer(self.state.snapshot(), dtype=np.uint8)
        np.savez(buf, entities=entities, scalars=scalars, **self.grid.snapshot_arrays())
        return buf.getvalue()

    def restore(self, data: bytes) -> None:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            self.state.restore(npz["entities"].tobytes())
            self.day, self.day_type, holiday, self.prev_day_type = (int(x) for x in npz["scalars"])
            self.holiday = bool(holiday)
            self.grid.restore_arrays({k: npz[k] for k in npz.files if k.startswith("grid.")})
        self.counties = np.empty(0, dtype=object)
        self.industries = np.empty(0, dtype=object)
        self.params = {}
        self.night_window = np.empty((0, SLOTS_PER_DAY), dtype=bool)
        self.type_prod = np.empty((0, DAY_TYPES), dtype=np.float32)
        self.type_night = np.empty((0, DAY_TYPES), dtype=np.float64)
        if len(self.state):
            self._register(np.arange(len(self.state)))

    def state_bytes_per_entity(self) -> float:
        return self.state.nbytes() / max(self.state.capacity, 1)
