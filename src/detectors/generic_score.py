"""The generic score: how unusual a reading is against its own series' recent history.

For any series without a dedicated rule (and for ``dianyan score``). Per series, two robust
baselines are kept, both from readings strictly before the one judged:

- rolling: median and spread (1.4826 MAD) of the last ``window`` readings;
- time of day: median of the slot's value on each of the last ``season_days`` days (the
  first reading of each 15-minute slot of the local day), with the spread of the last
  ``window`` residuals against it.

``seasonal: auto`` judges a reading against the time-of-day baseline where its spread is
clearly narrower than the rolling one (the series has a daily cycle), else against the
rolling one. The robust z of the reading becomes ``score = 1 - P(|N(0,1)| >= |z|)``, a
number in [0, 1] that means the same on every series: about ``1 - T`` of normal readings
score above ``T``, whatever the series' level, scale or cycle. ``is_anomaly`` applies the
threshold with hysteresis (:mod:`detectors.hysteresis`).

Flagged readings still enter the windows (excluding them would make each reading depend on
the flags before it, a loop per reading): medians and MADs ignore a short anomaly, and a
lasting change becomes the new normal after about half a window.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import stdtr

from detectors.context import EntityContext, NoRegistry
from detectors.hysteresis import hysteresis
from detectors.state import Column, EntityState, StateMismatchError
from detectors.thresholds import Thresholds
from detectors.trailing import Robust, robust_rows, trailing_windows
from ingest.normalize import slot_index
from ingest.schema import SLOT_MINUTES, SLOTS_PER_DAY

RULE = "generic_score"
SEASON_GAIN = 0.8  # auto: time of day where its spread is below this share of the rolling one
MAD_EFFICIENCY = 0.37  # a MAD of n normal readings is as precise as a standard deviation of 0.37 n
SUB_BATCH = 8192  # readings per internal step: bounds the (readings x window) scratch arrays
_MODES = {"auto": 0, "daily": 1, "none": 2}


@dataclass(frozen=True, slots=True)
class Scores:
    """One entry per reading, in input order."""

    score: np.ndarray  # float64 in [0, 1]; NaN where not scored (bad value, warm-up)
    is_anomaly: np.ndarray  # bool
    baseline: np.ndarray  # the value the reading was compared with
    spread: np.ndarray  # robust standard deviation it was scaled by
    seasonal: np.ndarray  # bool: judged against the time-of-day baseline


def _columns(window: int, season_days: int) -> dict[str, Column]:
    nan = np.nan
    return {
        "recent": Column((window,), "float64", nan),
        "resid": Column((window,), "float64", nan),
        "season": Column((SLOTS_PER_DAY, season_days), "float32", nan),
        "season_slot": Column((SLOTS_PER_DAY,), "int64", np.iinfo(np.int64).min),
        "flag": Column((), "bool", False),
    }


def largest(thresholds: Thresholds, name: str) -> int:
    """The largest value of a generic_score parameter in the file (defaults and overrides)."""
    values = [int(thresholds.rules[RULE][name])]
    for table in thresholds.overrides.values():
        for rules in table.values():
            if name in rules.get(RULE, {}):
                values.append(int(rules[RULE][name]))
    return max(values)


class GenericScorer:
    """Vectorized generic score over many series at once, with per-series state."""

    def __init__(self, thresholds: Thresholds, context: EntityContext | None = None) -> None:
        self.context = context or NoRegistry()
        self.thresholds = thresholds
        self.window = largest(thresholds, "window")
        self.season_days = largest(thresholds, "season_days")
        shape = {
            "detector": "generic_score/1",
            "slot_minutes": SLOT_MINUTES,
            "window": self.window,
            "season_days": self.season_days,
        }
        self.state = EntityState(_columns(self.window, self.season_days), shape)
        self.entities: list[str] = []
        self.params: dict[str, np.ndarray] = {}

    # -- series and thresholds -----------------------------------------------------------

    def rows(self, names: Sequence[str], entities: Sequence[str] | None = None) -> np.ndarray:
        """State rows of series ``names``, adding new ones (``entities``: for thresholds)."""
        rows, new = self.state.rows_for(list(names))
        if new.size:
            owner = list(names) if entities is None else list(entities)
            first = {name: i for i, name in reversed(list(enumerate(names)))}
            ids = self.state.index.ids
            self._register([owner[first[ids[r]]] for r in new])
        return rows

    def _register(self, entities: list[str]) -> None:
        self.entities.extend(entities)
        table = self._table(entities)
        for name, arr in table.items():
            old = self.params.get(name)
            self.params[name] = arr if old is None else np.concatenate([old, arr])

    def _table(self, entities: list[str]) -> dict[str, np.ndarray]:
        counties, industries = self.context.describe(entities)
        return self.thresholds.param_table(entities, counties, industries)[RULE]

    def check_reload(self, thresholds: Thresholds) -> None:
        """Refuse thresholds whose largest window or season_days differ from the state's."""
        for name, have in (("window", self.window), ("season_days", self.season_days)):
            if largest(thresholds, name) != have:
                raise StateMismatchError(
                    f"generic_score {name} (largest in the file) changed from {have}; the "
                    "series state was sized by it. Restart with fresh state to apply it."
                )

    def reload(self, thresholds: Thresholds) -> None:
        """Switch to new thresholds; series keep their history and open anomalies."""
        self.check_reload(thresholds)
        self.thresholds = thresholds
        self.params = self._table(self.entities) if self.entities else {}

    # -- scoring -----------------------------------------------------------------------

    def score(self, rows: np.ndarray, ts_ms: np.ndarray, values: np.ndarray) -> Scores:
        """Score readings (state ``rows`` from :meth:`rows`), in order, and learn them.

        A NaN or infinite value is not scored and teaches nothing. Each score depends only
        on that reading and the earlier ones of its series, so any cut of a stream into
        batches gives the same scores.
        """
        rows = np.asarray(rows, dtype=np.int64)
        ts_ms = np.asarray(ts_ms, dtype=np.int64)
        values = np.asarray(values, dtype=np.float64)
        parts = [
            self._step(rows[i : i + SUB_BATCH], ts_ms[i : i + SUB_BATCH], values[i : i + SUB_BATCH])
            for i in range(0, len(rows), SUB_BATCH)
        ]
        if not parts:
            empty = np.empty(0)
            return Scores(empty, np.zeros(0, bool), empty, empty, np.zeros(0, bool))
        return Scores(*(np.concatenate(col) for col in zip(*parts, strict=True)))

    def _step(self, rows: np.ndarray, ts: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, ...]:
        st, p = self.state, self.params
        valid = np.isfinite(x)
        window = p["window"][rows]
        min_history = np.minimum(p["min_history"][rows], window)
        mode = np.select([p["seasonal"][rows] == m for m in _MODES], list(_MODES.values()))

        recent = self._windows("recent", rows, x, valid, window, self.window)
        rolling = robust_rows(recent, min_history)
        # the median of n values misses the true centre by about sqrt(pi / 2n) spreads
        widen = np.sqrt(1.0 + np.pi / (2.0 * np.maximum(rolling.count, 1)))
        z_roll = _z(x - rolling.centre, rolling.spread * widen, rolling.centre)

        n = len(rows)
        level = np.full(n, np.nan)
        resid = Robust(np.full(n, np.nan), np.full(n, np.nan), np.zeros(n, np.int64))
        z_season = np.full(n, np.nan)
        if (mode != _MODES["none"]).any():
            level = self._season_level(rows, ts, x, valid)
            r = x - level
            windows = self._windows("resid", rows, r, np.isfinite(r), window, self.window)
            resid = robust_rows(windows, min_history)
            z_season = _z(r - resid.centre, resid.spread, level)

        with np.errstate(invalid="ignore"):
            narrower = resid.spread < SEASON_GAIN * rolling.spread
        ready = ~np.isnan(z_season)
        use = (mode == _MODES["daily"]) | (
            (mode == _MODES["auto"]) & ready & (np.isnan(z_roll) | narrower)
        )
        z = np.where(use, z_season, z_roll)
        score = _two_sided(z, np.where(use, resid.count, rolling.count))
        score[~p["enabled"][rows]] = np.nan

        high = p["threshold"][rows]
        flags = hysteresis(rows, score, high, high - p["hysteresis"][rows], st["flag"])
        st["flag"][flags.groups] = flags.state
        baseline = np.where(use, level + resid.centre, rolling.centre)
        spread = np.where(use, resid.spread, rolling.spread)
        return score, flags.flags, baseline, spread, use

    def _windows(
        self,
        column: str,
        rows: np.ndarray,
        x: np.ndarray,
        push: np.ndarray,
        length: np.ndarray,
        capacity: int,
    ) -> np.ndarray:
        """Trailing windows from a per-series ring; entries beyond a row's length blanked."""
        ring = self.state[column]
        win = trailing_windows(rows, x, push, ring)
        ring[win.groups] = win.rings
        values = win.values
        short = length < capacity
        if short.any():
            old = np.arange(capacity)[None, :] < (capacity - length)[:, None]
            values[old] = np.nan
        return values

    def _season_level(
        self, rows: np.ndarray, ts: np.ndarray, x: np.ndarray, valid: np.ndarray
    ) -> np.ndarray:
        """Median of the reading's slot of day over the series' last season_days days."""
        st, p = self.state, self.params
        slot = slot_index(ts)
        group = rows * SLOTS_PER_DAY + slot % SLOTS_PER_DAY
        last = st["season_slot"].reshape(-1)
        prev = _previous_max(group, np.where(valid, slot, np.iinfo(np.int64).min), last)
        push = valid & (slot > prev)  # the first reading of its slot on that day
        ring = st["season"].reshape(-1, self.season_days)
        # the ring holds float32: round now too, so batch boundaries change nothing
        win = trailing_windows(group, x.astype(np.float32).astype(np.float64), push, ring)
        ring[win.groups] = win.rings
        np.maximum.at(last, group[push], slot[push])
        days = p["season_days"][rows]
        values = win.values
        if (days < self.season_days).any():
            old = np.arange(self.season_days)[None, :] < (self.season_days - days)[:, None]
            values[old] = np.nan
        need = np.minimum(p["min_season_days"][rows], days)
        return robust_rows(values, need).centre

    # -- snapshot ----------------------------------------------------------------------

    def snapshot(self) -> bytes:
        """Every series' windows and state, with the entity each series belongs to."""
        buf = io.BytesIO()
        entities = json.dumps(self.entities).encode()
        np.savez(
            buf,
            state=np.frombuffer(self.state.snapshot(), dtype=np.uint8),
            entities=np.frombuffer(entities, dtype=np.uint8),
        )
        return buf.getvalue()

    def restore(self, data: bytes) -> None:
        """Load a snapshot made with the same window and season_days; refuse any other."""
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            self.state.restore(npz["state"].tobytes())
            entities = json.loads(bytes(npz["entities"]).decode())
        self.entities = []
        self.params = {}
        if entities:
            self._register(entities)


def _two_sided(z: np.ndarray, count: np.ndarray) -> np.ndarray:
    """1 - P(|T| >= |z|), T Student-t with the degrees of freedom a MAD of ``count`` is worth.

    A spread estimated from n readings is itself uncertain, which fattens the tails of z;
    a MAD is as good as a standard deviation from about 0.37 n readings (its efficiency
    under normal noise). Without this, a threshold of 0.999 flags about 0.25 % of normal
    readings of a series with a 96-reading window instead of 0.1 %.
    """
    df = np.maximum(MAD_EFFICIENCY * count, 1.0)
    with np.errstate(invalid="ignore"):
        return 2.0 * stdtr(df, np.abs(z)) - 1.0


def _z(residual: np.ndarray, spread: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """residual / spread; a constant history (spread 0) makes any change infinitely unusual."""
    with np.errstate(invalid="ignore", divide="ignore"):
        floor = 1e-12 * np.abs(centre)  # differences at rounding level are no change
        scale = np.maximum(spread, floor)
        z = residual / scale
        flat = scale == 0
        if flat.any():
            z[flat] = np.where(residual[flat] == 0, 0.0, np.inf)
    return z


def _previous_max(groups: np.ndarray, keys: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Per reading: the largest key among the earlier readings of its group, or ``last``."""
    order = np.argsort(groups, kind="stable")
    g = groups[order]
    k = keys[order]
    _, first, counts = np.unique(g, return_index=True, return_counts=True)
    member = np.repeat(np.arange(len(first)), counts)
    running = k.copy()
    # a running maximum that restarts at each group: lift every group above the previous
    lo = np.iinfo(np.int64).min
    valid = k > lo
    if valid.any():
        kmin = int(k[valid].min())
        span = int(k[valid].max()) - kmin + 2
        lifted = np.where(valid, k - kmin + 1, 0) + member * span
        running = np.maximum.accumulate(lifted) - member * span
        running = np.where(running > 0, running + kmin - 1, lo)
    before = np.empty_like(running)
    before[1:] = running[:-1]
    before[first] = lo
    out = np.empty_like(before)
    out[order] = np.maximum(before, last[g])
    return out
