"""The data-quality rules of a station sensor: sensor_stuck, sensor_spike, sensor_gap.

:func:`quality_flags` marks, for a piece of one sensor, the readings that are spikes or
part of a stuck run (the station detector then judges them as missing) and the silent
slots; :func:`quality_episodes` turns the flags into episodes. A stuck episode starts at
the first reading of the unchanged run and a silent one at the first missing interval, so
both keep that start in the state for their final detection.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from detectors import station_explain as explain
from detectors.episodes import EpisodeTracker
from detectors.sensor_quality import equal_runs, silent, spikes
from detectors.state import EntityState
from detectors.station_rules import Episode, Finding, Piece, episodes_of
from detectors.station_sensors import QUALITY_RULES, Sensor
from detectors.threshold_model import ParamTable


@dataclass(frozen=True, slots=True)
class Flags:
    valid: np.ndarray
    spike: np.ndarray
    stuck: np.ndarray
    since: np.ndarray  # first slot of each reading's run of equal values
    gap: np.ndarray
    last_seen: np.ndarray  # slot of the last reading at or before each slot


def quality_flags(
    state: EntityState,
    params: ParamTable,
    s: Sensor,
    raw: np.ndarray,
    right: np.ndarray,
    left: np.ndarray,
    first: int,
) -> Flags:
    """Spikes, stuck readings and silent slots of one sensor's piece (carries the runs)."""
    m, n = s.metric, raw.shape[0]
    valid = ~np.isnan(raw)
    stuck_p, spike_p, gap_p = (params[r] for r in QUALITY_RULES)
    if s.spike_param is None:
        spike = np.zeros(raw.shape, dtype=bool)
    else:
        jump = spike_p[s.spike_param][:n]
        spike = spikes(raw, left, right, jump, s.spike_relative) & spike_p["enabled"][:n, None]
    since_col, repeats_col = state[f"{m}.since"], state[f"{m}.repeats"]
    runs = equal_runs(raw, left, first, repeats_col[:n], since_col[:n], stuck_p["ignore_zero"][:n])
    repeats_col[:n], since_col[:n] = runs.last_repeats, runs.last_since
    # a run of k equal readings spans k intervals: stuck once k * interval >= the duration
    need = np.maximum(-(-stuck_p["min_duration_minutes"][:n] // s.minutes) - 1, 1)
    stuck = valid & (runs.repeats >= need[:, None]) & (stuck_p["enabled"][:n, None] & s.stuck)
    gap, last_seen = silent(
        raw, first, state[f"{m}.last_slot"][:n], gap_p["max_gap_minutes"][:n] // s.minutes
    )
    gap &= gap_p["enabled"][:n, None]
    return Flags(valid, spike, stuck, runs.since, gap, last_seen)


def quality_episodes(
    state: EntityState,
    trackers: dict[str, EpisodeTracker],
    params: ParamTable,
    s: Sensor,
    piece: Piece,
    raw: np.ndarray,
    f: Flags,
) -> list[tuple[str, Episode, int, Finding]]:
    """(rule, episode, its first slot, finding) of each data-quality episode that opened
    or ended in the piece."""
    m, n = s.metric, raw.shape[0]
    ones = np.ones(n, dtype=np.int64)
    recovery = piece.slots(params["sensor_spike"]["recovery_minutes"][:n])
    silence = np.zeros(raw.shape, dtype=np.float32)
    runs = {
        "sensor_stuck": (f.stuck, f.valid, raw, ones, f.since),
        "sensor_spike": (f.spike, f.valid, raw, recovery, None),
        "sensor_gap": (f.gap, np.ones_like(f.gap), silence, ones, f.last_seen + 1),
    }
    out = []
    for rule, (cond, valid, observed, rec, starts) in runs.items():
        ev = trackers[f"{m}.{rule}"].step(state, cond, valid, observed, piece.first, ones, rec)
        for ep in episodes_of(ev):
            start = ep.start
            if starts is not None:
                kept = state[f"{m}.{rule}.start"]
                if not ep.final:
                    kept[ep.row] = starts[ep.row, ep.last - piece.first]
                start = int(kept[ep.row])
            out.append((rule, ep, start, _finding(rule, m, params, piece, ep, start)))
    return out


def _finding(
    rule: str, metric: str, params: ParamTable, piece: Piece, ep: Episode, start: int
) -> Finding:
    p = {k: v[ep.row] for k, v in params[rule].items()}
    minutes = (ep.last - start + 1) * piece.clock.minutes
    if rule == "sensor_stuck":
        text, limit = explain.sensor_stuck(metric, ep.mean, minutes), p["min_duration_minutes"]
    elif rule == "sensor_spike":
        text, limit = explain.sensor_spike(metric, ep.mean), np.nan
    else:
        text, limit = explain.sensor_gap(metric, minutes), p["max_gap_minutes"]
    return Finding(
        observed=ep.mean if rule != "sensor_gap" else minutes,
        baseline=float(limit) if limit == limit else 0.0,
        score=minutes / float(limit) if limit == limit and limit > 0 else 1.0,
        severity=str(p["severity"]),
        text=text,
        threshold=None,
        limits={},
    )
