"""Water station rules (水利 / 小水电) over five-minute sensors: levels over their limits,
fast rises, rolling rainfall totals and the ecological flow of small hydropower stations.
"""

from __future__ import annotations

import numpy as np

from detectors import station_explain as explain
from detectors.season import day_ordinal, in_season
from detectors.station_rules import Episode, Finding, MinutesRule, Piece, Signal, present

LEVEL = "water.level_m"
RAIN = "water.rain_mm"
FLOW = "water.flow_m3s"

#: Level limits from the lowest to the highest; a tag is the index of the highest exceeded.
LEVEL_LIMITS = ("flood_limit_level_m", "warning_level_m", "guarantee_level_m")
LEVEL_SEVERITY = ("severity", "warning_severity", "guarantee_severity")


class LevelOverLimit(MinutesRule):
    """Over the flood-limit (in the flood season), warning or guarantee level."""

    name = "level_over_limit"
    metric = LEVEL

    def limits_today(self, piece: Piece) -> np.ndarray:
        """(3, n) float32 limits in force on the piece's day (flood limit NaN out of season)."""
        p = piece.rule(self.name)
        season = in_season(day_ordinal(piece.day), p["flood_season_start"], p["flood_season_end"])
        limits = np.stack([piece.limit(name) for name in LEVEL_LIMITS])
        limits[0] = np.where(season, limits[0], np.nan)
        return limits

    def signal(self, piece: Piece) -> Signal:
        v = piece.values
        limits = self.limits_today(piece)[:, :, None]
        lowest = np.fmin.reduce(limits, axis=0)
        band = piece.rule(self.name)["hysteresis_m"][:, None].astype(np.float32)
        with np.errstate(invalid="ignore"):
            exceeded = v[None] > limits
            return Signal(
                cond=v > lowest,
                valid=~np.isnan(v),
                observed=v,
                peak=v,
                hold=v > lowest - band,
                tag=np.where(exceeded.any(axis=0), 2 - np.argmax(exceeded[::-1], axis=0), 0),
                line=np.broadcast_to(lowest, v.shape),
            )

    def finding(self, piece: Piece, ep: Episode) -> Finding:
        p = {k: v[ep.row] for k, v in piece.rule(self.name).items()}
        limits = self.limits_today(piece)[:, ep.row]
        limit_name = LEVEL_LIMITS[ep.tag]
        limit = float(piece.limits[limit_name][ep.row])
        return Finding(
            observed=ep.peak,
            baseline=limit,
            score=ep.peak - limit,
            severity=str(p[LEVEL_SEVERITY[ep.tag]]),
            text=explain.level_over_limit(ep.peak, limit_name, limit, ep.minutes(piece.clock)),
            threshold=limit,
            limits=present(dict(zip(LEVEL_LIMITS, map(float, limits), strict=True))),
        )


class LevelRiseRate(MinutesRule):
    """The level now minus the level ``window_minutes`` ago, per hour, over the rate."""

    name = "level_rise_rate"
    metric = LEVEL

    def signal(self, piece: Piece) -> Signal:
        p = piece.rule(self.name)
        v = piece.values
        width = np.minimum(piece.slots(p["window_minutes"]), piece.lead)
        t_len = v.shape[1]
        back = piece.lead + np.arange(t_len)[None, :] - width[:, None]
        before = np.take_along_axis(piece.history, back, axis=1)
        hours = (width * piece.clock.minutes / 60)[:, None]
        rate = p["rate_m_per_h"][:, None]
        with np.errstate(invalid="ignore"):
            speed = (v.astype(np.float64) - before) / hours
            return Signal(
                cond=speed > rate,
                valid=~np.isnan(v) & ~np.isnan(before),
                observed=v,
                peak=speed,
                line=before + rate * hours,
            )

    def finding(self, piece: Piece, ep: Episode) -> Finding:
        p = {k: v[ep.row] for k, v in piece.rule(self.name).items()}
        rate = float(p["rate_m_per_h"])
        return Finding(
            observed=ep.peak,
            baseline=rate,
            score=ep.peak / rate,
            severity=str(p["severity"]),
            text=explain.level_rise_rate(ep.peak, rate, int(p["window_minutes"])),
            threshold=None,
            limits=present({name: float(piece.limits[name][ep.row]) for name in LEVEL_LIMITS}),
        )


RAIN_WINDOWS = (("mm_1h", 60), ("mm_3h", 180), ("mm_24h", 1440))


def rolling_totals(history: np.ndarray, slots: int) -> np.ndarray:
    """Sum of each slot and the ``slots - 1`` before it (missing = 0), in 0.001 mm, so that a
    total exactly at a threshold compares equal; NaN where the history is too short."""
    filled = np.nan_to_num(history.astype(np.float64), nan=0.0)
    cum = np.concatenate([np.zeros((history.shape[0], 1)), np.cumsum(filled, axis=1)], axis=1)
    out = np.full(history.shape, np.nan)
    out[:, slots - 1 :] = cum[:, slots:] - cum[:, : cum.shape[1] - slots]
    return np.round(out, 3)


class RainfallAccumulation(MinutesRule):
    """Rolling 1 h / 3 h / 24 h rain totals over their amounts; the most exceeded is kept."""

    name = "rainfall_accumulation"
    metric = RAIN

    def signal(self, piece: Piece) -> Signal:
        p = piece.rule(self.name)
        v = piece.values
        ratios = []
        for key, minutes in RAIN_WINDOWS:
            totals = rolling_totals(piece.history, minutes // piece.clock.minutes)
            ratios.append(totals[:, piece.lead :] / p[key][:, None])
        stacked = np.stack(ratios)
        peak = stacked.max(axis=0)
        return Signal(
            cond=peak > 1.0,
            valid=~np.isnan(v),
            observed=v,
            peak=peak,
            tag=np.argmax(stacked, axis=0),
        )

    def finding(self, piece: Piece, ep: Episode) -> Finding:
        p = {k: v[ep.row] for k, v in piece.rule(self.name).items()}
        key, minutes = RAIN_WINDOWS[ep.tag]
        limit = float(p[key])
        total = ep.peak * limit
        return Finding(
            observed=total,
            baseline=limit,
            score=ep.peak,
            severity=str(p["severity"]),
            text=explain.rainfall_accumulation(total, minutes // 60, limit),
            threshold=limit,
            limits={key: limit},
        )

    def evidence_series(self, history: np.ndarray, ep: Episode, piece: Piece) -> np.ndarray:
        """The rolling total of the window that was exceeded most, not the 5-minute amounts."""
        minutes = RAIN_WINDOWS[ep.tag][1]
        return rolling_totals(history[None, :], minutes // piece.clock.minutes)[0]


class EcoFlowShortfall(MinutesRule):
    """Discharge below ``eco_flow_m3s`` for longer than ``allowed_minutes``."""

    name = "eco_flow_shortfall"
    metric = FLOW

    def min_run(self, piece: Piece) -> np.ndarray:
        # k readings below cover k intervals: longer than allowed once k * interval > allowed
        return piece.rule(self.name)["allowed_minutes"] // piece.clock.minutes + 1

    def signal(self, piece: Piece) -> Signal:
        v = piece.values
        required = piece.limit("eco_flow_m3s")[:, None]
        band = (piece.rule(self.name)["hysteresis_pct"][:, None] / 100).astype(np.float32)
        with np.errstate(invalid="ignore", divide="ignore"):
            return Signal(
                cond=v < required,
                valid=~np.isnan(v),
                observed=v,
                peak=1 - v / required,
                hold=v < required * (1 + band),
                line=np.broadcast_to(required, v.shape),
            )

    def finding(self, piece: Piece, ep: Episode) -> Finding:
        p = {k: v[ep.row] for k, v in piece.rule(self.name).items()}
        required = float(piece.limits["eco_flow_m3s"][ep.row])
        return Finding(
            observed=ep.mean,
            baseline=required,
            score=ep.peak,
            severity=str(p["severity"]),
            text=explain.eco_flow_shortfall(ep.mean, required, ep.minutes(piece.clock)),
            threshold=required,
            limits={"eco_flow_m3s": round(required, 3)},
        )
