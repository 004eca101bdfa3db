"""Every parameter config/thresholds.yaml may hold: name, type, allowed values, default, meaning.

This table is the one place that says what a valid thresholds file is. The loader validates
against it, resolution and ``param_table`` take their types from it, and docs/thresholds.md
describes it. A new rule adds a :class:`RuleSpec` to :data:`RULES`; a new parameter of an
existing rule adds a :class:`ParamSpec` to its tuple.

Electricity rules count 15-minute slots; station rules (gas every minute, water every five)
count minutes, so that one value means the same whatever a sensor's interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from detectors.season import MONTH_DAY_EXPECTED, MonthDay
from detectors.slot_window import WINDOW_EXPECTED, SlotWindow

ParamKind = Literal["int", "float", "bool", "choice", "window", "monthday"]

SEVERITIES: tuple[str, ...] = ("low", "medium", "high", "critical")
SLOTS_MAX = 96  # one day of 15-minute slots


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """One parameter: its type, allowed values, built-in default and meaning."""

    name: str
    kind: ParamKind
    default: object
    doc: str
    minimum: float | None = None
    maximum: float | None = None
    min_exclusive: bool = False
    choices: tuple[str, ...] = ()
    at_most: str | None = None  # name of a sibling parameter this one may not exceed

    def expected(self) -> str:
        """What a valid value looks like, in words (used in errors and docs)."""
        if self.kind == "bool":
            return "true or false"
        if self.kind == "choice":
            return "one of " + ", ".join(self.choices)
        if self.kind == "window":
            return WINDOW_EXPECTED
        if self.kind == "monthday":
            return MONTH_DAY_EXPECTED
        noun = "an integer" if self.kind == "int" else "a number"
        upper = self.at_most if self.at_most else _num(self.maximum)
        if self.min_exclusive:
            return f"{noun} greater than {_num(self.minimum)} and at most {upper}"
        return f"{noun} from {_num(self.minimum)} to {upper}"

    def convert(self, value: object) -> object:
        """The validated value (a SlotWindow for windows); ValueError if not allowed."""
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise ValueError(self.expected())
            return value
        if self.kind == "choice":
            if not isinstance(value, str) or value not in self.choices:
                raise ValueError(self.expected())
            return value
        if self.kind == "window":
            if not isinstance(value, str):
                raise ValueError(self.expected())
            return SlotWindow.parse(value)
        if self.kind == "monthday":
            if not isinstance(value, str):
                raise ValueError(self.expected())
            return MonthDay.parse(value)
        return self._convert_number(value)

    def _convert_number(self, value: object) -> int | float:
        # bool is a subclass of int in Python; `z: true` is a mistake, not 1.
        if isinstance(value, bool):
            raise ValueError(self.expected())
        if self.kind == "int":
            if not isinstance(value, int):
                raise ValueError(self.expected())
            number: int | float = value
        else:
            if not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError(self.expected())
            number = float(value)
        assert self.minimum is not None and self.maximum is not None
        too_low = number <= self.minimum if self.min_exclusive else number < self.minimum
        if too_low or number > self.maximum:
            raise ValueError(self.expected())
        return number


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """A rule and its parameters; every rule has ``enabled`` and ``severity``."""

    name: str
    label: str  # user-facing, Chinese / English
    params: tuple[ParamSpec, ...]

    def param(self, name: str) -> ParamSpec:
        for spec in self.params:
            if spec.name == name:
                return spec
        raise KeyError(name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.params)


def _num(x: float | None) -> str:
    assert x is not None
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def _int(name: str, default: int, lo: int, hi: int, doc: str, at_most: str | None = None):
    return ParamSpec(name, "int", default, doc, minimum=lo, maximum=hi, at_most=at_most)


def _float(name: str, default: float, lo: float, hi: float, doc: str, *, above: bool = False):
    return ParamSpec(name, "float", default, doc, minimum=lo, maximum=hi, min_exclusive=above)


def _rule(name: str, label: str, severity: str, *params: ParamSpec) -> RuleSpec:
    enabled = ParamSpec("enabled", "bool", True, "whether the rule runs at all")
    sev = ParamSpec(
        "severity", "choice", severity, "severity of the alerts it raises", choices=SEVERITIES
    )
    return RuleSpec(name, label, (enabled, *params, sev))


def _run_slots(default: int) -> ParamSpec:
    return _int(
        "min_run_slots", default, 1, SLOTS_MAX, "consecutive 15-min slots needed before it fires"
    )


def _recovery_slots(default: int) -> ParamSpec:
    return _int(
        "recovery_slots",
        default,
        1,
        SLOTS_MAX,
        "consecutive normal slots that end an episode (a new run after that is a new event)",
    )


def _minutes(name: str, default: int, hi: int, doc: str) -> ParamSpec:
    return _int(name, default, 1, hi, doc)


def _duration(default: int, doc: str = "minutes the condition must hold before it fires"):
    return _minutes("min_duration_minutes", default, 1440, doc)


def _recovery(default: int) -> ParamSpec:
    return _minutes(
        "recovery_minutes",
        default,
        1440,
        "minutes back to normal that end an episode (a new crossing after that is a new event)",
    )


def _severity(name: str, default: str, doc: str) -> ParamSpec:
    return ParamSpec(name, "choice", default, doc, choices=SEVERITIES)


#: Global settings: may not be overridden per region, industry or entity.
SECTIONS: dict[str, tuple[ParamSpec, ...]] = {
    "baseline": (
        _int(
            "history_days",
            8,
            3,
            28,
            "days of the same day type (workday / rest day) kept per 15-min slot",
        ),
        _int(
            "min_history_days",
            4,
            1,
            28,
            "days of that day type needed before the baseline is ready (rules wait until then)",
            at_most="history_days",
        ),
    ),
    "ingest": (
        _int(
            "allowed_lateness_minutes",
            120,
            0,
            10_080,
            "how far behind the newest event time a reading may arrive and still be used",
        ),
    ),
}

#: Rules with per-region / industry / entity parameters.
RULES: dict[str, RuleSpec] = {
    r.name: r
    for r in (
        _rule(
            "suspended_operation",
            "停产整顿期间违规生产 / production while suspended",
            "high",
            _float(
                "standby_fraction",
                0.15,
                0.0,
                1.0,
                "standby level as a fraction of the enterprise's production baseline",
                above=True,
            ),
            _float(
                "standby_floor_kwh",
                2.0,
                0.0,
                100_000.0,
                "standby level never below this, kWh per 15-min slot",
            ),
            _run_slots(4),
            _recovery_slots(4),
        ),
        _rule(
            "night_production",
            "夜间违规生产 / night production",
            "medium",
            ParamSpec("window", "window", "22:00-06:00", "the night window, local time"),
            _float(
                "production_fraction",
                0.5,
                0.0,
                1.0,
                "a night slot counts as production at this fraction of the daytime level",
                above=True,
            ),
            _float(
                "night_shift_history_fraction",
                0.5,
                0.0,
                1.0,
                "enterprises whose own history produced on at least this fraction of nights "
                "are night-shift plants and not flagged",
                above=True,
            ),
            _run_slots(4),
            _recovery_slots(4),
        ),
        _rule(
            "usage_surge",
            "超能力生产 / usage surge",
            "medium",
            _float(
                "z",
                8.0,
                0.0,
                1000.0,
                "robust z-score over the same-slot baseline (median, MAD) to count as a surge",
                above=True,
            ),
            _float(
                "min_ratio",
                1.8,
                1.0,
                1000.0,
                "and at least this multiple of the baseline median",
            ),
            _float(
                "min_excess_kwh",
                5.0,
                0.0,
                100_000.0,
                "and at least this many kWh above the baseline median",
            ),
            _run_slots(3),
            _recovery_slots(4),
        ),
        _rule(
            "meter_offline",
            "电表离线 / meter offline",
            "low",
            _int(
                "max_gap_minutes",
                240,
                15,
                43_200,
                "no reading for longer than this (event time) raises the alert",
            ),
        ),
        _rule(
            "generic_score",
            "通用异常评分 / generic anomaly score",
            "low",
            _float(
                "threshold",
                0.9999,
                0.5,
                1.0,
                "a reading is anomalous once its score rises above this; about 1 - threshold "
                "of normal readings score above it, on any series",
                above=True,
            ),
            _float(
                "hysteresis",
                0.0099,
                0.0,
                0.5,
                "an anomaly lasts until the score falls below threshold - hysteresis",
            ),
            _int(
                "window",
                96,
                8,
                2048,
                "recent readings of the series that give its rolling baseline and spread",
            ),
            _int(
                "min_history",
                24,
                2,
                2048,
                "readings the series needs before it is scored (capped at window)",
            ),
            ParamSpec(
                "seasonal",
                "choice",
                "auto",
                "time-of-day baseline: auto (where it fits the series better than the "
                "rolling one), daily (always), none (never)",
                choices=("auto", "daily", "none"),
            ),
            _int(
                "season_days",
                14,
                2,
                56,
                "past days kept per 15-min slot of the day for the time-of-day baseline",
            ),
            _int(
                "min_season_days",
                3,
                1,
                56,
                "days a slot needs before the time-of-day baseline is used (capped at season_days)",
            ),
        ),
        # -- gas stations (燃气监管), one reading a minute --------------------------------
        _rule(
            "pressure_out_of_bounds",
            "燃气压力越限 / gas pressure out of bounds",
            "high",
            _float(
                "hysteresis_pct",
                1.0,
                0.0,
                50.0,
                "an episode lasts until the pressure is back inside the bounds by this "
                "percentage of the bound",
            ),
            _float(
                "critical_margin_pct",
                5.0,
                0.0,
                100.0,
                "beyond the bound by more than this percentage of it: critical_severity",
            ),
            _severity("critical_severity", "critical", "severity beyond the critical margin"),
            _duration(2),
            _recovery(5),
        ),
        _rule(
            "pressure_drop_rate",
            "燃气压力骤降 / sudden gas pressure drop",
            "critical",
            _float(
                "drop_pct",
                20.0,
                0.0,
                100.0,
                "the pressure fell by more than this percentage of the highest reading of the "
                "window before it",
                above=True,
            ),
            _minutes("window_minutes", 10, 60, "the window the fall is measured over"),
            _duration(2),
            _recovery(10),
        ),
        _rule(
            "night_min_flow",
            "夜间最小流量偏高（疑似泄漏）/ high night minimum flow (leak)",
            "high",
            ParamSpec("window", "window", "00:00-05:00", "the night window, local time"),
            _float(
                "excess_pct",
                30.0,
                0.0,
                1000.0,
                "the night's minimum flow is more than this percentage above the station's usual "
                "night minimum",
                above=True,
            ),
            _float(
                "min_excess_m3h",
                1.0,
                0.0,
                1.0e6,
                "and at least this many m³/h above it",
            ),
            _int(
                "history_nights", 7, 3, 14, "past normal nights whose median is the usual minimum"
            ),
            _int(
                "min_history_nights",
                3,
                1,
                14,
                "nights needed before the rule judges (capped at history_nights)",
            ),
            _float(
                "min_coverage_pct",
                50.0,
                0.0,
                100.0,
                "a night is judged only with readings for at least this percentage of the window",
                above=True,
            ),
        ),
        _rule(
            "leak_concentration",
            "可燃气体浓度超限 / gas concentration alarm",
            "high",
            _float("warning_lel", 20.0, 0.0, 100.0, "warning level, %LEL", above=True),
            _float("alarm_lel", 50.0, 0.0, 100.0, "alarm level, %LEL", above=True),
            _severity("alarm_severity", "critical", "severity once over the alarm level"),
            _float(
                "hysteresis_lel",
                5.0,
                0.0,
                50.0,
                "an episode lasts until the concentration is this far below the warning level",
            ),
            _duration(1),
            _recovery(5),
        ),
        # -- water stations (水利 / 小水电), one reading every five minutes ----------------
        _rule(
            "level_over_limit",
            "水位超限 / water level over limit",
            "medium",
            _severity("warning_severity", "high", "severity over the warning level"),
            _severity("guarantee_severity", "critical", "severity over the guarantee level"),
            ParamSpec(
                "flood_season_start",
                "monthday",
                "06-01",
                "first day of the flood season (汛期), when the flood-limit level applies",
            ),
            ParamSpec("flood_season_end", "monthday", "09-30", "last day of the flood season"),
            _float(
                "hysteresis_m",
                0.05,
                0.0,
                10.0,
                "an episode lasts until the level is this far below the limit, m",
            ),
            _duration(10),
            _recovery(30),
        ),
        _rule(
            "level_rise_rate",
            "水位上涨过快 / water level rising fast",
            "high",
            _float(
                "rate_m_per_h", 0.5, 0.0, 100.0, "the level rose faster than this, m/h", above=True
            ),
            _minutes("window_minutes", 60, 360, "the window the rise is measured over"),
            _duration(10),
            _recovery(30),
        ),
        _rule(
            "rainfall_accumulation",
            "累计降雨超限 / heavy rainfall",
            "high",
            _float("mm_1h", 30.0, 0.0, 2000.0, "rain in the last hour over this, mm", above=True),
            _float("mm_3h", 50.0, 0.0, 2000.0, "or in the last 3 hours over this, mm", above=True),
            _float(
                "mm_24h", 100.0, 0.0, 2000.0, "or in the last 24 hours over this, mm", above=True
            ),
            _duration(5),
            _recovery(60),
        ),
        _rule(
            "eco_flow_shortfall",
            "生态流量不足 / ecological flow shortfall",
            "medium",
            _int(
                "allowed_minutes",
                60,
                0,
                10_080,
                "discharge below the required ecological flow for longer than this fires",
            ),
            _float(
                "hysteresis_pct",
                5.0,
                0.0,
                100.0,
                "an episode lasts until the discharge is this percentage above the required flow",
            ),
            _recovery(60),
        ),
        # -- data quality of every station sensor ---------------------------------------
        _rule(
            "sensor_stuck",
            "传感器数据卡滞 / sensor stuck",
            "low",
            _duration(180, "minutes of one unchanged value that make a sensor stuck"),
            ParamSpec(
                "ignore_zero",
                "bool",
                True,
                "a sensor resting at exactly 0 (no rain, clean air, no flow) is not stuck",
            ),
        ),
        _rule(
            "sensor_spike",
            "传感器数据突跳 / sensor spike",
            "low",
            _float(
                "pressure_jump_pct",
                30.0,
                0.0,
                1000.0,
                "a pressure reading this percentage away from both neighbours, in the same "
                "direction, is a spike",
                above=True,
            ),
            _float(
                "flow_jump_pct", 80.0, 0.0, 1000.0, "the same for flow and discharge", above=True
            ),
            _float("leak_jump_lel", 50.0, 0.0, 100.0, "the same for %LEL, in %LEL", above=True),
            _float("level_jump_m", 0.5, 0.0, 100.0, "the same for water level, in m", above=True),
            _recovery(60),
        ),
        _rule(
            "sensor_gap",
            "传感器无数据 / sensor silent",
            "low",
            _int(
                "max_gap_minutes",
                30,
                1,
                43_200,
                "no reading from a sensor for longer than this (event time) raises the alert",
            ),
        ),
    )
}


def _check_defaults() -> None:
    # The built-in defaults must themselves be valid; fail at import, not in production.
    for params in (*SECTIONS.values(), *(r.params for r in RULES.values())):
        for spec in params:
            spec.convert(spec.default)
    for spec in (p for r in RULES.values() for p in r.params):
        assert spec.at_most is None, "at_most is only checked for global sections"


_check_defaults()
