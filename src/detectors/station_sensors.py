"""The sensors of gas and water stations: interval, history kept, how each is checked.

A :class:`Domain` is what a station detector runs: its sensors (one slot grid each) and the
rules over them. The per-station state columns of a sensor are declared here too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from detectors.episodes import episode_columns
from detectors.gas_rules import LeakConcentration, PressureDropRate, PressureOutOfBounds
from detectors.grid import SlotClock
from detectors.night_flow import NightMinFlow
from detectors.state import Column
from detectors.station_rules import StationRule
from detectors.water_rules import (
    EcoFlowShortfall,
    LevelOverLimit,
    LevelRiseRate,
    RainfallAccumulation,
)

QUALITY_RULES = ("sensor_stuck", "sensor_spike", "sensor_gap")


@dataclass(frozen=True, slots=True)
class Sensor:
    """One metric of a station: its interval, the slots drawn as evidence, the slots of
    history kept (the evidence and the longest rule window before it, so that every point
    drawn is complete whatever the batches were), how a spike is measured (None: not
    checked) and whether a repeated value means stuck (not for rain: steady drizzle repeats
    its 0.1 mm)."""

    metric: str
    minutes: int
    evidence: int
    history: int
    spike_param: str | None
    spike_relative: bool = False
    stuck: bool = True

    @property
    def clock(self) -> SlotClock:
        return SlotClock(self.minutes)

    def columns(self) -> dict[str, Column]:
        """The per-station state of this sensor, names prefixed with the metric."""
        m, nan = self.metric, np.float32(np.nan)
        cols = {
            f"{m}.judged": Column((self.history,), "float32", nan),  # NaN: stuck or spiking
            f"{m}.raw": Column((self.history,), "float32", nan),
            f"{m}.held": Column((), "float32", nan),  # the held-back slot's reading
            f"{m}.last_value": Column((), "float32", nan),
            f"{m}.last_slot": Column((), "int64", -1),
            f"{m}.repeats": Column((), "int32", 0),
            f"{m}.since": Column((), "int64", -1),
            f"{m}.sensor_stuck.start": Column((), "int64", -1),
            f"{m}.sensor_gap.start": Column((), "int64", -1),
        }
        for rule in QUALITY_RULES:
            cols |= episode_columns(f"{m}.{rule}")
        return cols


@dataclass(frozen=True, slots=True)
class Domain:
    name: str
    sensors: tuple[Sensor, ...]
    rules: tuple[StationRule, ...]
    night: NightMinFlow | None = None


def gas_domain() -> Domain:
    return Domain(
        "gas",
        (
            # 3 h drawn; pressure drops are measured over at most 60 minutes
            Sensor("gas.pressure_kpa", 1, 180, 240, "pressure_jump_pct", spike_relative=True),
            Sensor("gas.flow_m3h", 1, 180, 180, "flow_jump_pct", spike_relative=True),
            Sensor("gas.leak_lel", 1, 180, 180, "leak_jump_lel"),
        ),
        (PressureOutOfBounds(), PressureDropRate(), LeakConcentration()),
        NightMinFlow(),
    )


def water_domain() -> Domain:
    return Domain(
        "water",
        (
            # 24 h drawn; rises are measured over at most 6 h, rain totals over 24 h
            Sensor("water.level_m", 5, 288, 288 + 72, "level_jump_m"),
            Sensor("water.rain_mm", 5, 288, 2 * 288, None, stuck=False),
            Sensor("water.flow_m3s", 5, 288, 288, "flow_jump_pct", spike_relative=True),
        ),
        (LevelOverLimit(), LevelRiseRate(), RainfallAccumulation(), EcoFlowShortfall()),
    )
