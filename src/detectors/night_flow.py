"""night_min_flow: a gas station's lowest flow of the night against its usual night minimum.

At night demand is lowest; flow that does not come down to the station's usual minimum is
the signature of a leak (泄漏). Each night is judged once, when its window has passed: the
minimum of the night's readings against the median of the minima of the station's last
normal nights (flagged nights are not learnt). A night window may cross midnight; a night
belongs to the local day its window ends on. Nights are the tracker's "slots": consecutive
flagged nights are one episode.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from detectors import station_explain as explain
from detectors.episodes import EpisodeEvents, EpisodeTracker, episode_columns
from detectors.slot_window import in_window
from detectors.state import Column, EntityState
from detectors.station_rules import Episode, Finding, Piece
from ingest.schema import SLOT_MINUTES

NAME = "night_min_flow"
METRIC = "gas.flow_m3h"
NIGHTS_KEPT = 14  # the schema's largest history_nights


def night_columns() -> dict[str, Column]:
    return {
        f"{NAME}.min": Column((), "float32", np.inf),  # tonight's minimum so far
        f"{NAME}.count": Column((), "int32", 0),  # tonight's readings so far
        f"{NAME}.minima": Column((NIGHTS_KEPT,), "float32", np.nan),  # normal nights, oldest first
        f"{NAME}.nights": Column((NIGHTS_KEPT,), "int64", -1),  # the local day of each
        f"{NAME}.usual": Column((), "float32", np.nan),  # at the last night judged
        f"{NAME}.last_min": Column((), "float32", np.nan),  # the minimum of that night
    } | episode_columns(NAME, peak=True)


def median_of_last(minima: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Median of the last ``keep`` entries of each row (NaN = empty) and how many there were."""
    cols = np.arange(minima.shape[1])[None, :]
    recent = np.where(cols >= minima.shape[1] - keep[:, None], minima, np.nan)
    count = np.count_nonzero(~np.isnan(recent), axis=1)
    ordered = np.sort(recent, axis=1)  # NaN last
    lo = np.take_along_axis(ordered, np.maximum((count - 1) // 2, 0)[:, None], axis=1)[:, 0]
    hi = np.take_along_axis(ordered, (count // 2)[:, None], axis=1)[:, 0]
    return np.where(count > 0, (lo + hi) / 2, np.nan), count


@dataclass(frozen=True, slots=True)
class Window:
    """The night window of each station in slots of the sensor's day."""

    start: np.ndarray
    end: np.ndarray  # excluded
    last: np.ndarray  # the night's last slot of the day
    length: np.ndarray  # slots in the window


class NightMinFlow:
    """Per-station night minima, their history, and the judgement of each night."""

    name = NAME
    metric = METRIC

    def __init__(self) -> None:
        self.tracker = EpisodeTracker(NAME)

    def window(self, piece: Piece) -> Window:
        p = piece.rule(NAME)
        per_day = piece.clock.per_day
        scale = SLOT_MINUTES // piece.clock.minutes
        start, end = p["window_start_slot"] * scale, p["window_end_slot"] * scale
        length = (end - start) % per_day
        return Window(start, end, (end - 1) % per_day, np.where(length == 0, per_day, length))

    def step(self, state: EntityState, piece: Piece) -> EpisodeEvents:
        """Fold the piece into tonight's minimum and judge the nights whose window ended.

        The events' slots are local days (a night is named by the day its window ends).
        """
        n = piece.n
        w = self.window(piece)
        sod = piece.slot_of_day
        inside = in_window(sod[None, :], w.start[:, None], w.end[:, None])
        tonight = inside & (sod[None, :] <= w.last[:, None])
        self._fold(state, piece.values, tonight)
        judged = (w.last >= sod[0]) & (w.last <= sod[-1])
        cond, valid, night_min, excess = self._judge(state, piece, judged, w)
        state[f"{NAME}.min"][:n][judged] = np.inf
        state[f"{NAME}.count"][:n][judged] = 0
        self._fold(state, piece.values, inside & ~tonight)  # the next night has begun
        ones = np.ones(n, dtype=np.int64)
        return self.tracker.step(
            state,
            cond[:, None],
            valid[:, None],
            night_min[:, None],
            piece.day,
            ones,
            ones,
            peak=excess[:, None],
        )

    def _fold(self, state: EntityState, values: np.ndarray, mask: np.ndarray) -> None:
        n = values.shape[0]
        picked = np.where(mask, values, np.nan)
        low = state[f"{NAME}.min"]
        low[:n] = np.fmin(low[:n], np.fmin.reduce(picked, axis=1))
        state[f"{NAME}.count"][:n] += np.count_nonzero(~np.isnan(picked), axis=1).astype(np.int32)

    def _judge(
        self, state: EntityState, piece: Piece, judged: np.ndarray, w: Window
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        n, p = piece.n, piece.rule(NAME)
        night_min = state[f"{NAME}.min"][:n].astype(np.float64)
        coverage = 100 * state[f"{NAME}.count"][:n] / w.length
        covered = judged & (coverage >= p["min_coverage_pct"]) & np.isfinite(night_min)
        usual, count = median_of_last(state[f"{NAME}.minima"][:n], p["history_nights"])
        ready = count >= np.minimum(p["min_history_nights"], p["history_nights"])
        with np.errstate(invalid="ignore", divide="ignore"):
            excess = night_min / usual - 1
            cond = (
                covered
                & ready
                & (excess * 100 > p["excess_pct"])
                & (night_min - usual >= p["min_excess_m3h"])
            )
        rows = np.flatnonzero(covered)
        state[f"{NAME}.usual"][rows] = usual[rows]
        state[f"{NAME}.last_min"][rows] = night_min[rows]
        learn = np.flatnonzero(covered & ~cond)
        for col, value in (("minima", night_min[learn]), ("nights", piece.day)):
            ring = state[f"{NAME}.{col}"]
            ring[learn, :-1] = ring[learn, 1:]
            ring[learn, -1] = value
        return cond, covered & ready, night_min, excess

    def finding(self, state: EntityState, piece: Piece, ep: Episode) -> Finding:
        p = {k: v[ep.row] for k, v in piece.rule(NAME).items()}
        usual = float(state[f"{NAME}.usual"][ep.row])
        night_min = usual * (1 + ep.peak)  # the highest night minimum of the episode
        return Finding(
            observed=night_min,
            baseline=usual,
            score=ep.peak,
            severity=str(p["severity"]),
            text=explain.night_min_flow(night_min, usual, ep.last - ep.start + 1),
            threshold=usual * (1 + float(p["excess_pct"]) / 100),
            limits={},
        )

    def evidence(self, state: EntityState, row: int, day: int) -> tuple[list, list, int]:
        """The minima of the last nights up to ``day`` on a daily grid (None: not learnt),
        the usual minimum as the baseline line, and the first night's day."""
        nights = state[f"{NAME}.nights"][row]
        minima = state[f"{NAME}.minima"][row]
        first = day - NIGHTS_KEPT + 1
        values: list[float | None] = [None] * NIGHTS_KEPT
        for night, value in zip(nights.tolist(), minima.tolist(), strict=True):
            if first <= night <= day and value == value:
                values[night - first] = round(value, 3)
        last_min = float(state[f"{NAME}.last_min"][row])
        if last_min == last_min:
            values[-1] = round(last_min, 3)
        usual = float(state[f"{NAME}.usual"][row])
        return values, [round(usual, 3) if usual == usual else None] * NIGHTS_KEPT, first
