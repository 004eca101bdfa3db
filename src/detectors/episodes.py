"""Episodes: turning per-slot conditions into runs with a minimum length and a recovery.

An episode opens when a condition has held for ``min_run`` valid slots in a row and ends
after ``recovery`` valid slots without it, so one violation gives one episode and a value
hovering at a threshold does not flap. Missing slots (NaN readings) neither extend nor
break a run: a meter that is silent is not read as "running" or as "stopped".

With a ``hold`` condition (hysteresis), an open episode stays abnormal while ``hold``
holds (e.g. the value is still inside the band below a limit), although only ``cond`` (over
the limit) starts a run. With ``peak`` columns the tracker also keeps the largest ``peak``
value of each episode and a ``tag`` recorded with it (which limit, which window), so a
rule can say how bad an episode got whatever the batch boundaries were.

The tracker is vectorized over entities; it walks the slots of a block (at most a day,
96 steps) with whole-array operations, only over the rows that have anything going on and
only on the slots where one of them may open, break or close a run or an episode; runs
that merely grow in between are added up at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from detectors.state import Column, EntityState


def episode_columns(prefix: str, peak: bool = False) -> dict[str, Column]:
    """Per-entity arrays of one rule's tracker, names prefixed with the rule."""
    extra = (
        {f"{prefix}.peak": Column((), "float64", -np.inf), f"{prefix}.tag": Column((), "int64", 0)}
        if peak
        else {}
    )
    return extra | {
        f"{prefix}.run": Column((), "int32", 0),
        f"{prefix}.run_start": Column((), "int64", -1),
        f"{prefix}.active": Column((), "bool", False),
        f"{prefix}.episode_start": Column((), "int64", -1),
        f"{prefix}.quiet": Column((), "int32", 0),
        f"{prefix}.last_true": Column((), "int64", -1),
        f"{prefix}.sum": Column((), "float64", 0.0),
        f"{prefix}.count": Column((), "int32", 0),
    }


@dataclass(frozen=True, slots=True)
class EpisodeEvents:
    """Episodes that opened or ended in a block (arrays aligned per event)."""

    open_rows: np.ndarray
    open_start: np.ndarray  # global slot of the episode's first abnormal slot
    open_at: np.ndarray  # global slot at which it reached the minimum run
    open_mean: np.ndarray  # mean observed value over the run so far
    close_rows: np.ndarray
    close_start: np.ndarray
    close_last: np.ndarray  # last abnormal slot
    close_mean: np.ndarray
    # with peak tracking: the largest peak value so far and its tag (else -inf and 0)
    open_peak: np.ndarray = field(default_factory=lambda: np.empty(0))
    open_tag: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    close_peak: np.ndarray = field(default_factory=lambda: np.empty(0))
    close_tag: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    close_at: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))  # decided

    @staticmethod
    def empty() -> EpisodeEvents:
        e = np.empty(0, dtype=np.int64)
        f = np.empty(0, dtype=np.float64)
        return EpisodeEvents(e, e, e, f, e, e, e, f, f, e, f, e, e)


class EpisodeTracker:
    """Per-rule run/episode state kept in an :class:`EntityState` under ``prefix``."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def _col(self, state: EntityState, name: str) -> np.ndarray:
        return state[f"{self.prefix}.{name}"]

    def active(self, state: EntityState) -> np.ndarray:
        return self._col(state, "active")[: len(state)]

    def pending(self, state: EntityState) -> np.ndarray:
        """Rows with an open episode or a run in progress: a block must reach them."""
        n = len(state)
        return self._col(state, "active")[:n] | (self._col(state, "run")[:n] > 0)

    def step(
        self,
        state: EntityState,
        cond: np.ndarray,
        valid: np.ndarray,
        observed: np.ndarray,
        first_slot: int,
        min_run: np.ndarray,
        recovery: np.ndarray,
        hold: np.ndarray | None = None,
        peak: np.ndarray | None = None,
        tag: np.ndarray | None = None,
        candidates: np.ndarray | None = None,
    ) -> EpisodeEvents:
        """Advance every entity over a block of T slots.

        ``cond``, ``valid`` and ``observed`` are (entities x T) for rows 0..n-1 of the state;
        ``min_run`` and ``recovery`` are per-entity arrays. ``hold`` (entities x T) keeps an
        open episode abnormal; ``peak`` and ``tag`` (entities x T) need the peak columns.
        ``candidates`` (sorted rows), when given, are the only rows where ``cond`` may hold,
        which spares scanning it.
        """
        n = cond.shape[0]
        run = self._col(state, "run")
        active = self._col(state, "active")
        engaged = active[:n] | (run[:n] > 0)
        if candidates is None:
            rows = np.flatnonzero(cond.any(axis=1) | engaged)
        else:
            rows = np.union1d(candidates, np.flatnonzero(engaged))
        if rows.size == 0:
            return EpisodeEvents.empty()
        tracked = peak is not None
        v = valid[rows]
        c = cond[rows] & v
        h = c if hold is None else (hold[rows] | cond[rows]) & v
        if not tracked:
            # an open episode whose condition holds on every valid slot only grows
            steady = active[rows] & ~(v & ~h).any(axis=1)
            if steady.any():
                self._extend(state, rows[steady], h[steady], observed[rows[steady]], first_slot)
                keep = ~steady
                rows, v, c = rows[keep], v[keep], c[keep]
                h = c if hold is None else h[keep]
                if rows.size == 0:
                    return EpisodeEvents.empty()
        may_change = _may_change(h, v, engaged[rows], recovery[rows])
        # without hold or peaks, slots where a row only extends its run are summed up
        # between the slots where something may happen instead of walked
        grow = hold is None and not tracked
        if grow:
            events = _events(c, v, may_change, run[rows], active[rows], min_run[rows])
            visit = np.flatnonzero(events.any(axis=0))
        else:
            visit = np.flatnonzero(may_change.any(axis=0))
        obs = observed[rows]
        r_run = run[rows]
        r_run_start = self._col(state, "run_start")[rows]
        r_active = active[rows]
        r_ep_start = self._col(state, "episode_start")[rows]
        r_quiet = self._col(state, "quiet")[rows]
        r_last = self._col(state, "last_true")[rows]
        r_sum = self._col(state, "sum")[rows]
        r_count = self._col(state, "count")[rows]
        r_min = min_run[rows]
        r_rec = recovery[rows]
        if tracked:
            pk = np.asarray(peak, dtype=np.float64)[rows]
            tg = np.zeros(pk.shape, dtype=np.int64) if tag is None else tag[rows]
            r_peak = self._col(state, "peak")[rows]
            r_tag = self._col(state, "tag")[rows]
        else:
            r_peak = np.full(rows.size, -np.inf)
            r_tag = np.zeros(rows.size, dtype=np.int64)
        opens: list[tuple[np.ndarray, ...]] = []
        closes: list[tuple[np.ndarray, ...]] = []
        if h is c:  # without hold, what holds does not depend on the state: once per block
            offs = v & ~c
            xs = np.where(c, obs, 0.0)
        runs = (r_run, r_run_start, r_last, r_quiet, r_sum, r_count)
        done = 0
        for t in visit.tolist():
            if grow and t > done:
                _grow(c[:, done:t], xs[:, done:t], first_slot + done, *runs)
            done = t + 1
            slot = first_slot + t
            if h is c:
                ct, off, x = c[:, t], offs[:, t], xs[:, t]
            else:
                ct = np.where(r_active, h[:, t], c[:, t])
                off = v[:, t] & ~ct
                x = np.where(ct, obs[:, t], 0.0)
            # condition holds: extend the run
            new_run = ct & (r_run == 0)
            r_run_start[new_run] = slot
            r_run += ct
            r_last[ct] = slot
            r_quiet[ct] = 0
            r_sum += x
            r_count += ct
            if tracked:
                higher = ct & (pk[:, t] > r_peak)
                r_peak[higher] = pk[higher, t]
                r_tag[higher] = tg[higher, t]
            # an inactive run before reaching min_run only accumulates its own values
            opening = ct & ~r_active & (r_run >= r_min)
            if opening.any():
                r_active[opening] = True
                r_ep_start[opening] = r_run_start[opening]
                idx = np.flatnonzero(opening)
                opens.append(
                    (
                        rows[idx],
                        r_ep_start[idx],
                        np.full(idx.size, slot),
                        r_sum[idx] / np.maximum(r_count[idx], 1),
                        r_peak[idx].copy(),
                        r_tag[idx].copy(),
                    )
                )
            # condition does not hold on a valid slot: break the run, count recovery
            r_run[off] = 0
            idle = off & ~r_active
            r_sum[idle] = 0.0
            r_count[idle] = 0
            if tracked:
                r_peak[idle] = -np.inf
            r_quiet += off & r_active
            closing = off & r_active & (r_quiet >= r_rec)
            if closing.any():
                idx = np.flatnonzero(closing)
                closes.append(
                    (
                        rows[idx],
                        r_ep_start[idx],
                        r_last[idx].copy(),
                        r_sum[idx] / np.maximum(r_count[idx], 1),
                        r_peak[idx].copy(),
                        r_tag[idx].copy(),
                        np.full(idx.size, slot),
                    )
                )
                r_active[idx] = False
                r_quiet[idx] = 0
                r_sum[idx] = 0.0
                r_count[idx] = 0
                r_peak[idx] = -np.inf
        if grow and done < c.shape[1]:
            _grow(c[:, done:], xs[:, done:], first_slot + done, *runs)
        self._col(state, "run")[rows] = r_run
        self._col(state, "run_start")[rows] = r_run_start
        active[rows] = r_active
        self._col(state, "episode_start")[rows] = r_ep_start
        self._col(state, "quiet")[rows] = r_quiet
        self._col(state, "last_true")[rows] = r_last
        self._col(state, "sum")[rows] = r_sum
        self._col(state, "count")[rows] = r_count
        if tracked:
            self._col(state, "peak")[rows] = r_peak
            self._col(state, "tag")[rows] = r_tag
        return _collect(opens, closes)

    def _extend(
        self, state: EntityState, rows: np.ndarray, ct: np.ndarray, obs: np.ndarray, first: int
    ) -> None:
        """Open episodes of ``rows`` whose condition holds on every valid slot: no events."""
        names = ("run", "run_start", "last_true", "quiet", "sum", "count")
        runs = [self._col(state, name)[rows] for name in names]
        _grow(ct, np.where(ct, obs, 0.0), first, *runs)
        for name, values in zip(names, runs, strict=True):
            self._col(state, name)[rows] = values


def _may_change(
    hold: np.ndarray, valid: np.ndarray, engaged: np.ndarray, recovery: np.ndarray
) -> np.ndarray:
    """Where each of these rows may change state (rows x T); elsewhere a slot is a no-op.

    A row changes only on a slot where its condition (at most ``hold``) holds, or on a valid
    slot without it while a run or an episode is going on; a run or an episode has ended
    after ``max(recovery, 1)`` such slots since the condition last held.
    """
    t_len = hold.shape[1]
    quiet = valid & ~hold
    seen = np.zeros((hold.shape[0], t_len + 1), dtype=np.int64)
    np.cumsum(quiet, axis=1, out=seen[:, 1:])  # seen[:, t]: quiet slots before t
    # quiet slots counted up to the last holding slot before t (0 from the start if engaged)
    anchor = np.where(hold, seen[:, 1:], -1)
    np.maximum.accumulate(anchor, axis=1, out=anchor)
    before = np.empty_like(seen)
    before[:, 0] = np.where(engaged, 0, -1)
    np.maximum(anchor, before[:, :1], out=before[:, 1:])
    may_run = (before[:, :t_len] >= 0) & (
        seen[:, :t_len] - before[:, :t_len] < np.maximum(recovery, 1)[:, None]
    )
    return hold | (valid & may_run)


def _events(
    cond: np.ndarray,
    valid: np.ndarray,
    may_change: np.ndarray,
    run: np.ndarray,
    active: np.ndarray,
    min_run: np.ndarray,
) -> np.ndarray:
    """Slots where a row may open, break or close (rows x T), without hold.

    Elsewhere a row either does nothing or only extends its run. That holds for a slot
    where the condition holds in an open episode, or in a run that has not yet reached
    ``min_run``: the first slot where it reaches it (the count of holding slots since the
    last breaking one, plus the run carried in) is an event. A break or close can only
    happen on a valid slot without the condition where ``may_change``; once one may have
    happened, every later holding slot of the row counts as an event too.
    """
    off = valid & ~cond
    breaks = off & may_change
    events = breaks | (cond & np.logical_or.accumulate(breaks, axis=1))
    held = np.cumsum(cond, axis=1)
    at_break = np.where(off, held, -1)
    np.maximum.accumulate(at_break, axis=1, out=at_break)
    length = np.where(at_break >= 0, held - at_break, held + run[:, None])
    opening = cond & ~active[:, None] & (length >= min_run[:, None])
    return events | (opening & (np.cumsum(opening, axis=1) == 1))


def _grow(
    cond: np.ndarray,
    add: np.ndarray,
    first: int,
    run: np.ndarray,
    run_start: np.ndarray,
    last: np.ndarray,
    quiet: np.ndarray,
    total: np.ndarray,
    count: np.ndarray,
) -> None:
    """Slots [first, first + T) where rows only extend their runs: all at once, in place.

    The sum adds the values one by one (an accumulate, not a pairwise sum), so it is the
    same float as the slot walk's.
    """
    held = cond.sum(axis=1)
    rows = np.flatnonzero(held)
    if rows.size == 0:
        return
    cond, held, t_len = cond[rows], held[rows], cond.shape[1]
    fresh = run[rows] == 0
    run_start[rows[fresh]] = first + cond[fresh].argmax(axis=1)
    run[rows] += held.astype(run.dtype)
    last[rows] = first + t_len - 1 - cond[:, ::-1].argmax(axis=1)
    quiet[rows] = 0
    terms = np.empty((rows.size, t_len + 1))
    terms[:, 0] = total[rows]
    terms[:, 1:] = add[rows]
    total[rows] = np.add.accumulate(terms, axis=1)[:, -1]
    count[rows] += held.astype(count.dtype)


def _collect(
    opens: list[tuple[np.ndarray, ...]], closes: list[tuple[np.ndarray, ...]]
) -> EpisodeEvents:
    def cat(parts: list[tuple[np.ndarray, ...]], i: int, dtype: type) -> np.ndarray:
        if not parts:
            return np.empty(0, dtype=dtype)
        return np.concatenate([p[i] for p in parts]).astype(dtype)

    return EpisodeEvents(
        cat(opens, 0, np.int64),
        cat(opens, 1, np.int64),
        cat(opens, 2, np.int64),
        cat(opens, 3, np.float64),
        cat(closes, 0, np.int64),
        cat(closes, 1, np.int64),
        cat(closes, 2, np.int64),
        cat(closes, 3, np.float64),
        cat(opens, 4, np.float64),
        cat(opens, 5, np.int64),
        cat(closes, 4, np.float64),
        cat(closes, 5, np.int64),
        cat(closes, 6, np.int64),
    )
