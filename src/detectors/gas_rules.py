"""Gas station rules (燃气监管) over one-minute sensors: pressure bounds, sudden pressure
drops and leak concentration. The night minimum flow rule is in :mod:`detectors.night_flow`.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from detectors import station_explain as explain
from detectors.station_rules import Episode, Finding, MinutesRule, Piece, Signal, present

PRESSURE = "gas.pressure_kpa"
LEAK = "gas.leak_lel"


class PressureOutOfBounds(MinutesRule):
    """Below ``pressure_low_kpa`` or above ``pressure_high_kpa``, with a hysteresis band."""

    name = "pressure_out_of_bounds"
    metric = PRESSURE

    def signal(self, piece: Piece) -> Signal:
        p = piece.rule(self.name)
        v = piece.values
        low = piece.limit("pressure_low_kpa")[:, None]
        high = piece.limit("pressure_high_kpa")[:, None]
        band = (p["hysteresis_pct"][:, None] / 100).astype(np.float32)
        with np.errstate(invalid="ignore"):
            over, under = (v - high) / high, (low - v) / low
            hold = (v > high * (1 - band)) | (v < low * (1 + band))
            is_high = np.nan_to_num(over, nan=-np.inf) >= np.nan_to_num(under, nan=-np.inf)
            beyond = np.fmax(over, under)
            return Signal(
                cond=(v > high) | (v < low),
                valid=~np.isnan(v),
                observed=v,
                peak=beyond,
                hold=hold,
                tag=is_high.astype(np.int64),
                line=np.where(is_high, high, low),
            )

    def finding(self, piece: Piece, ep: Episode) -> Finding:
        p = {k: v[ep.row] for k, v in piece.rule(self.name).items()}
        low = float(piece.limit("pressure_low_kpa")[ep.row])
        high = float(piece.limit("pressure_high_kpa")[ep.row])
        bound = high if ep.tag else low
        extreme = bound * (1 + ep.peak) if ep.tag else bound * (1 - ep.peak)
        critical = ep.peak * 100 > p["critical_margin_pct"]
        return Finding(
            observed=extreme,
            baseline=bound,
            score=ep.peak,
            severity=str(p["critical_severity"] if critical else p["severity"]),
            text=explain.pressure_out_of_bounds(
                bool(ep.tag), extreme, bound, ep.minutes(piece.clock)
            ),
            threshold=bound,
            limits=present({"pressure_low_kpa": low, "pressure_high_kpa": high}),
        )


def window_max(history: np.ndarray, lead: int, width: np.ndarray) -> np.ndarray:
    """Per row, the highest value of the ``width`` slots before each of the last T slots.

    ``history`` is (n, lead + T); widths are at most ``lead``. Rows are grouped by width
    (a handful of distinct settings), never looped over one by one.
    """
    n, total = history.shape
    t_len = total - lead
    out = np.full((n, t_len), np.nan, dtype=np.float32)
    for w in np.unique(width):
        rows = np.flatnonzero(width == w)
        windows = sliding_window_view(history[rows], int(w), axis=1)
        out[rows] = np.fmax.reduce(windows[:, lead - w : lead - w + t_len], axis=2)
    return out


class PressureDropRate(MinutesRule):
    """Pressure down by more than ``drop_pct`` of the highest reading of the window before."""

    name = "pressure_drop_rate"
    metric = PRESSURE

    def signal(self, piece: Piece) -> Signal:
        p = piece.rule(self.name)
        v = piece.values
        width = np.minimum(piece.slots(p["window_minutes"]), piece.lead)
        ref = window_max(piece.history, piece.lead, width)
        limit = (p["drop_pct"][:, None] / 100).astype(np.float32)
        with np.errstate(invalid="ignore", divide="ignore"):
            drop = (ref - v) / ref
        return Signal(
            cond=drop > limit,
            valid=~np.isnan(v) & ~np.isnan(ref),
            observed=v,
            peak=drop,
            line=ref * (1 - limit),
        )

    def finding(self, piece: Piece, ep: Episode) -> Finding:
        p = {k: v[ep.row] for k, v in piece.rule(self.name).items()}
        window = int(p["window_minutes"])
        return Finding(
            observed=ep.peak * 100,
            baseline=float(p["drop_pct"]),
            score=ep.peak,
            severity=str(p["severity"]),
            text=explain.pressure_drop_rate(ep.peak * 100, window, ep.mean),
            threshold=None,
            limits=present(
                {
                    "pressure_low_kpa": float(piece.limits["pressure_low_kpa"][ep.row]),
                    "pressure_high_kpa": float(piece.limits["pressure_high_kpa"][ep.row]),
                }
            ),
        )


class LeakConcentration(MinutesRule):
    """%LEL over the warning level (``severity``) or the alarm level (``alarm_severity``)."""

    name = "leak_concentration"
    metric = LEAK

    def signal(self, piece: Piece) -> Signal:
        p = piece.rule(self.name)
        v = piece.values
        warning = p["warning_lel"][:, None].astype(np.float32)
        band = p["hysteresis_lel"][:, None].astype(np.float32)
        with np.errstate(invalid="ignore"):
            return Signal(
                cond=v > warning,
                valid=~np.isnan(v),
                observed=v,
                peak=v,
                hold=v > warning - band,
                line=np.broadcast_to(warning, v.shape),
            )

    def finding(self, piece: Piece, ep: Episode) -> Finding:
        p = {k: v[ep.row] for k, v in piece.rule(self.name).items()}
        warning, alarm = float(p["warning_lel"]), float(p["alarm_lel"])
        alarmed = ep.peak > np.float32(alarm)
        level = alarm if alarmed else warning
        return Finding(
            observed=ep.peak,
            baseline=level,
            score=ep.peak / warning,
            severity=str(p["alarm_severity"] if alarmed else p["severity"]),
            text=explain.leak_concentration(ep.peak, alarmed, level, ep.minutes(piece.clock)),
            threshold=level,
            limits={"warning_lel": warning, "alarm_lel": alarm},
        )
