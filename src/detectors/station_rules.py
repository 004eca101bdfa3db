"""What a station rule sees and says: a :class:`Piece` of one sensor, a :class:`Signal` back.

A station rule reads one metric. For each closed piece of that sensor's slots (inside one
local day) it returns, per station and slot, whether the reading is beyond its line
(``cond``), whether an open episode still holds inside the hysteresis band (``hold``), and
how bad it is (``peak``, with a ``tag`` such as which limit). The station detector runs the
episode tracker over the signal and asks the rule for a :class:`Finding` of each episode
that opened or ended: the observed value, the line crossed, severity and the sentence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from detectors.episodes import EpisodeEvents
from detectors.grid import SlotClock
from detectors.threshold_model import ParamTable


@dataclass(frozen=True, slots=True)
class Piece:
    """Closed slots ``[first, first + T)`` of one sensor inside one local day, rows 0..n-1."""

    metric: str
    clock: SlotClock
    first: int
    values: np.ndarray  # (n, T) float32 readings judged (NaN: missing, stuck or spike)
    history: np.ndarray  # (n, L + T): the L judged slots before the piece, then values
    params: ParamTable
    limits: dict[str, np.ndarray]  # registry limits, (n,) each

    @property
    def n(self) -> int:
        return self.values.shape[0]

    @property
    def lead(self) -> int:
        """L: slots of history before the piece's first slot."""
        return self.history.shape[1] - self.values.shape[1]

    @property
    def day(self) -> int:
        """Local day (days since 1970-01-01) of the piece."""
        return self.first // self.clock.per_day

    @property
    def slot_of_day(self) -> np.ndarray:
        t = self.values.shape[1]
        return (self.first + np.arange(t)) % self.clock.per_day

    def rule(self, name: str) -> dict[str, np.ndarray]:
        """One rule's parameter columns for the piece's rows."""
        return {k: v[: self.n] for k, v in self.params[name].items()}

    def limit(self, name: str) -> np.ndarray:
        """A registry limit as float32, so that a reading exactly at it compares equal."""
        return self.limits[name][: self.n].astype(np.float32)

    def slots(self, minutes: np.ndarray) -> np.ndarray:
        """Minutes as whole slots of this sensor, rounded up, at least one."""
        return np.maximum(-(-np.asarray(minutes, dtype=np.int64) // self.clock.minutes), 1)


@dataclass(frozen=True, slots=True)
class Signal:
    """A rule's verdict on every (station, slot) of a piece."""

    cond: np.ndarray  # beyond the line: starts (and continues) an episode
    valid: np.ndarray  # judged at all; elsewhere an episode neither grows nor ends
    observed: np.ndarray  # the value averaged over an episode
    peak: np.ndarray  # how bad; an episode keeps its largest
    hold: np.ndarray | None = None  # inside the hysteresis band: an open episode goes on
    tag: np.ndarray | None = None  # recorded with the peak (which limit, which window)
    line: np.ndarray | None = None  # the line each reading was compared with, for the chart


@dataclass(frozen=True, slots=True)
class Finding:
    """What a rule says about one episode, for one detection."""

    observed: float
    baseline: float  # the limit or usual level it was compared with
    score: float
    severity: str
    text: str
    threshold: float | None  # the line crossed, drawn on the chart
    limits: dict[str, float]  # the station's limit lines for the chart


@dataclass(frozen=True, slots=True)
class Episode:
    """One opened or ended episode as the tracker reports it."""

    row: int
    start: int  # global slot of its first abnormal slot
    last: int  # slot it opened at, or its last abnormal slot when it ended
    mean: float
    peak: float
    tag: int
    final: bool
    at: int  # slot at which the tracker decided (opened at, or ended after recovery)

    def minutes(self, clock: SlotClock) -> int:
        return (self.last - self.start + 1) * clock.minutes


class StationRule(Protocol):
    """A rule over one sensor metric of stations."""

    name: str
    metric: str

    def signal(self, piece: Piece) -> Signal: ...

    def min_run(self, piece: Piece) -> np.ndarray: ...

    def recovery(self, piece: Piece) -> np.ndarray: ...

    def finding(self, piece: Piece, ep: Episode) -> Finding: ...

    def evidence_series(self, history: np.ndarray, ep: Episode, piece: Piece) -> np.ndarray: ...


class MinutesRule:
    """Defaults of most station rules: durations from ``min_duration_minutes`` and
    ``recovery_minutes``, and the readings themselves as the chart's series."""

    name = ""
    metric = ""

    def min_run(self, piece: Piece) -> np.ndarray:
        return piece.slots(piece.rule(self.name)["min_duration_minutes"])

    def recovery(self, piece: Piece) -> np.ndarray:
        return piece.slots(piece.rule(self.name)["recovery_minutes"])

    def evidence_series(self, history: np.ndarray, ep: Episode, piece: Piece) -> np.ndarray:
        return history


def episodes_of(ev: EpisodeEvents) -> list[Episode]:
    """The tracker's events as episodes, in time order per station."""
    opened = [
        Episode(int(r), int(s), int(a), float(m), float(p), int(t), False, int(a))
        for r, s, a, m, p, t in zip(
            ev.open_rows,
            ev.open_start,
            ev.open_at,
            ev.open_mean,
            ev.open_peak,
            ev.open_tag,
            strict=True,
        )
    ]
    ended = [
        Episode(int(r), int(s), int(a), float(m), float(p), int(t), True, int(d))
        for r, s, a, m, p, t, d in zip(
            ev.close_rows,
            ev.close_start,
            ev.close_last,
            ev.close_mean,
            ev.close_peak,
            ev.close_tag,
            ev.close_at,
            strict=True,
        )
    ]
    # in time order per station: an episode that ended before a new one began comes first
    return sorted(opened + ended, key=lambda e: (e.row, e.start, e.final))


def present(limits: dict[str, float]) -> dict[str, float]:
    """The limits a station has (NaN: none), rounded for the chart."""
    return {k: round(float(v), 3) for k, v in limits.items() if math.isfinite(v)}
