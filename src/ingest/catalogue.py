"""The metric catalogue: every metric dianyan accepts, its unit and physical range.

Ranges are physical plausibility limits used by validation, not alert thresholds:
a value outside them is a broken sensor or a parsing error, never an event.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Domain(StrEnum):
    ELECTRICITY = "electricity"
    GAS = "gas"
    WATER = "water"


class Kind(StrEnum):
    INTERVAL = "interval"  # amount over the interval ending at ts (kWh per 15 min, mm rain)
    CUMULATIVE = "cumulative"  # monotone register, turned into intervals by normalization
    INSTANT = "instant"  # sampled level or rate (pressure, flow, water level)


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    domain: Domain
    kind: Kind
    unit: str
    minimum: float
    maximum: float
    label: str  # user-facing, Chinese / English


CATALOGUE: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric(
            "electricity.kwh",
            Domain.ELECTRICITY,
            Kind.INTERVAL,
            "kWh",
            0.0,
            1.0e6,
            "用电量 / energy per interval",
        ),
        Metric(
            "electricity.register_kwh",
            Domain.ELECTRICITY,
            Kind.CUMULATIVE,
            "kWh",
            0.0,
            1.0e10,
            "电表示数 / energy register",
        ),
        Metric(
            "gas.pressure_kpa",
            Domain.GAS,
            Kind.INSTANT,
            "kPa",
            0.0,
            10_000.0,
            "燃气压力 / gas pressure",
        ),
        Metric("gas.flow_m3h", Domain.GAS, Kind.INSTANT, "m³/h", 0.0, 1.0e6, "燃气流量 / gas flow"),
        Metric(
            "gas.leak_lel",
            Domain.GAS,
            Kind.INSTANT,
            "%LEL",
            0.0,
            100.0,
            "可燃气体浓度 / gas concentration",
        ),
        Metric(
            "water.level_m", Domain.WATER, Kind.INSTANT, "m", -100.0, 9_000.0, "水位 / water level"
        ),
        Metric(
            "water.rain_mm",
            Domain.WATER,
            Kind.INTERVAL,
            "mm",
            0.0,
            500.0,
            "降雨量 / rainfall per interval",
        ),
        Metric(
            "water.flow_m3s", Domain.WATER, Kind.INSTANT, "m³/s", 0.0, 100_000.0, "流量 / discharge"
        ),
    )
}

METRIC_NAMES: tuple[str, ...] = tuple(CATALOGUE)
