"""``dianyan tune``: sweep one parameter of one rule for a region, propose a value.

Every grid value is the base thresholds file with the override
``overrides.regions.<region>.rules.<rule>.<param>: value``; all of them are replayed in one
pass (:func:`tuning.replay.replay`) and judged against the verification outcomes in the
store (:mod:`tuning.outcomes`). The proposal is the least strict value whose precision
reaches the target and whose recall stays at or above the bound, among the values that
raise no more unverified alerts than the current value: for the alerts nobody has checked,
precision is unknown, so loosening cannot be judged on them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from alerts.stats import precision
from alerts.store import AlertStore
from detectors.threshold_parse import read_yaml
from detectors.threshold_schema import RULES, ParamSpec
from detectors.thresholds import Thresholds
from dianyan.errors import DianyanError
from ingest.registry import Registry
from tuning.outcomes import Outcomes, judge, load_outcomes, recall, totals
from tuning.override import candidate_thresholds
from tuning.progress import Progress
from tuning.replay import History, replay
from tuning.scope import Scope

#: The parameter swept unless another is named: the rule's main threshold.
MAIN_PARAM = {
    "suspended_operation": "standby_fraction",
    "night_production": "production_fraction",
    "usage_surge": "z",
    "meter_offline": "max_gap_minutes",
    "generic_score": "threshold",
    "pressure_out_of_bounds": "min_duration_minutes",
    "pressure_drop_rate": "drop_pct",
    "night_min_flow": "excess_pct",
    "leak_concentration": "warning_lel",
    "level_over_limit": "min_duration_minutes",
    "level_rise_rate": "rate_m_per_h",
    "rainfall_accumulation": "mm_1h",
    "eco_flow_shortfall": "allowed_minutes",
    "sensor_stuck": "min_duration_minutes",
    "sensor_spike": "pressure_jump_pct",
    "sensor_gap": "max_gap_minutes",
}
#: Parameters a sweep may move, and which way is stricter: +1 when a higher value raises
#: fewer alerts, -1 when it raises more. Every main parameter is here.
STRICTER_WHEN = {
    **{(rule, param): 1 for rule, param in MAIN_PARAM.items()},
    ("suspended_operation", "standby_floor_kwh"): 1,
    ("suspended_operation", "min_run_slots"): 1,
    ("night_production", "night_shift_history_fraction"): -1,
    ("night_production", "min_run_slots"): 1,
    ("usage_surge", "min_ratio"): 1,
    ("usage_surge", "min_excess_kwh"): 1,
    ("usage_surge", "min_run_slots"): 1,
    ("pressure_drop_rate", "min_duration_minutes"): 1,
    ("night_min_flow", "min_excess_m3h"): 1,
    ("leak_concentration", "min_duration_minutes"): 1,
    ("level_rise_rate", "min_duration_minutes"): 1,
    ("rainfall_accumulation", "mm_3h"): 1,
    ("rainfall_accumulation", "mm_24h"): 1,
}
GRID_POINTS = 12


@dataclass(frozen=True)
class Target:
    """What a proposal must reach."""

    precision: float
    min_recall: float | None = None

    def __post_init__(self) -> None:
        if not 0 < self.precision <= 1:
            raise DianyanError(
                f"--target-precision {self.precision} must be above 0 and at most 1."
            )
        if self.min_recall is not None and not 0 <= self.min_recall <= 1:
            raise DianyanError(f"--min-recall {self.min_recall} must be from 0 to 1.")


@dataclass(frozen=True)
class Point:
    """One grid value and what it would have done in the region."""

    value: float | int
    alerts: int
    confirmed: int
    confirmed_kept: int
    explained: int
    explained_kept: int
    unverified: int
    precision: float | None
    recall: float | None
    meets: bool = False

    def to_dict(self) -> dict[str, object]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass
class Sweep:
    """The trade-off curve and the proposal."""

    rule: str
    param: str
    region: str
    target: Target
    current: float | int
    points: list[Point]
    proposal: Point | None
    history: History = field(repr=False)
    outcomes: Outcomes = field(repr=False)
    base_version: str = ""
    industry_or_entity_overrides: int = 0  # region entities whose own value of param wins

    @property
    def at_current(self) -> Point:
        return next(p for p in self.points if p.value == self.current)

    @property
    def recall_lost(self) -> float | None:
        if self.proposal is None or self.proposal.recall is None:
            return None
        if self.at_current.recall is None:
            return None
        return round(self.at_current.recall - self.proposal.recall, 4)

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": "tune",
            "rule": self.rule,
            "param": self.param,
            "region": self.region,
            "target_precision": self.target.precision,
            "min_recall": self.target.min_recall,
            "base_version": self.base_version,
            "current": self.current,
            "stricter_when": "higher" if STRICTER_WHEN[(self.rule, self.param)] > 0 else "lower",
            "points": [p.to_dict() for p in self.points],
            "proposal": None if self.proposal is None else self.proposal.to_dict(),
            "recall_lost": self.recall_lost,
            "outcomes": self.outcomes.to_dict(),
            "readings": {
                "read": self.history.readings_in,
                "replayed": self.history.readings_replayed,
                "seconds": round(self.history.seconds, 3),
                "per_second": round(self.history.readings_per_second),
            },
            "industry_or_entity_overrides": self.industry_or_entity_overrides,
        }


def tunable(rule: str, param: str | None) -> tuple[str, ParamSpec]:
    """The parameter to sweep (the main one by default), or a DianyanError saying which."""
    if rule not in RULES:
        raise DianyanError(f"--rule {rule!r} is not a rule; use one of {', '.join(RULES)}.")
    allowed = [p for r, p in STRICTER_WHEN if r == rule and p in RULES[rule].names]
    if not allowed:
        raise DianyanError(
            f"no parameter of {rule} can be swept yet: add its main one to MAIN_PARAM in "
            "tuning/sweep.py, with the direction that is stricter."
        )
    name = param or MAIN_PARAM.get(rule, allowed[0])
    if name not in allowed:
        raise DianyanError(
            f"--param {name!r} cannot be swept for {rule}; use one of {', '.join(allowed)}."
        )
    return name, RULES[rule].param(name)


def default_grid(spec: ParamSpec, current: float, points: int = GRID_POINTS) -> list:
    """About ``points`` values from half the looser of (current, default) to twice the
    stricter, inside the schema's range, log-spaced and rounded to two significant digits;
    the current value always among them."""
    assert spec.minimum is not None and spec.maximum is not None
    default = float(spec.default)  # type: ignore[arg-type]
    hi = min(max(current, default) * 2, spec.maximum)
    lo = max(min(current, default) / 2, spec.minimum, 1.0 if spec.kind == "int" else 0.0)
    lo = lo if lo > 0 else hi / 100
    allowed = []
    for x in np.geomspace(lo, hi, points) if hi > lo else [hi]:
        value = _round2(float(x))
        value = round(value) if spec.kind == "int" else value
        try:
            spec.convert(value)
        except ValueError:  # e.g. an exclusive lower bound
            continue
        allowed.append(value)
    return parse_grid([*allowed, current], spec)


def parse_grid(values: list, spec: ParamSpec) -> list:
    """Distinct allowed values, ascending; a value the schema refuses is a DianyanError."""
    out = set()
    for v in values:
        value = round(v) if spec.kind == "int" else float(v)
        try:
            spec.convert(value)
        except ValueError:
            raise DianyanError(
                f"grid value {v!r} is not allowed for {spec.name}: expected {spec.expected()}."
            ) from None
        out.add(value)
    return sorted(out)


def _round2(x: float) -> float:
    if x <= 0:
        return 0.0
    digits = 1 - math.floor(math.log10(x))
    return round(x, digits)


def current_value(base: Thresholds, region: str, rule: str, param: str) -> float | int:
    """The value the region has now (its own override, or a wider one, or the default)."""
    return base.resolve("", region, "").rule(rule)[param]  # type: ignore[return-value]


def run_sweep(
    data: str | Path,
    base: Thresholds,
    base_text: str,
    rule: str,
    param: str,
    region: str,
    target: Target,
    store: AlertStore,
    registry: Registry | None = None,
    scope: Scope | None = None,
    grid: list | None = None,
    progress: Progress | None = None,
) -> Sweep:
    """Replay every grid value once over the region's history and judge each."""
    scope = Scope(region, *(scope.from_ms, scope.to_ms) if scope else (None, None))
    _, spec = tunable(rule, param)
    current = current_value(base, region, rule, param)
    values = parse_grid([*(grid or default_grid(spec, float(current))), current], spec)
    doc = read_yaml(base_text, base.path)
    sets = {repr(v): candidate_thresholds(doc, base.path, region, rule, param, v) for v in values}
    history = replay(
        data,
        sets,
        registry=registry,
        scope=scope,
        exemptions=store.list_exemptions(),
        progress=progress,
    )
    outcomes = load_outcomes(store, scope, history)
    rule_outcomes = Outcomes(
        alerts=outcomes.alerts[outcomes.alerts["rule"] == rule],
        spans=outcomes.spans[outcomes.spans["rule"] == rule],
        unknown=outcomes.unknown,
        outside_scope=outcomes.outside_scope,
    )
    points = []
    for v in values:
        episodes = scope.episodes(history.runs[repr(v)].episodes)
        episodes = episodes[episodes["rule"] == rule]
        c = totals(judge(episodes, rule_outcomes, by=("rule",)))
        points.append(
            Point(
                value=v,
                alerts=len(episodes),
                confirmed=c["confirmed"],
                confirmed_kept=c["confirmed_kept"],
                explained=c["explained"],
                explained_kept=c["explained_kept"],
                unverified=c["unverified"],
                precision=_r(precision(c["confirmed_kept"], c["explained_kept"])),
                recall=_r(recall(c["confirmed_kept"], c["confirmed"])),
            )
        )
    points = _mark(points, target, current)
    eligible = [p for p in points if p.meets]
    direction = STRICTER_WHEN[(rule, param)]
    proposal = None
    if eligible:
        proposal = min(eligible, key=lambda p: p.value * direction)
    return Sweep(
        rule=rule,
        param=param,
        region=region,
        target=target,
        current=current,
        points=points,
        proposal=proposal,
        history=history,
        outcomes=rule_outcomes,
        base_version=base.version,
        industry_or_entity_overrides=_shadowed(base, registry, history, rule, param),
    )


def _mark(points: list[Point], target: Target, current: float | int) -> list[Point]:
    now = next(p for p in points if p.value == current)
    out = []
    for p in points:
        meets = (
            p.precision is not None
            and p.precision >= target.precision
            and (target.min_recall is None or (p.recall or 0.0) >= target.min_recall)
            and p.unverified <= now.unverified
        )
        out.append(Point(**{**p.to_dict(), "meets": meets}))
    return out


def _shadowed(
    base: Thresholds, registry: Registry | None, history: History, rule: str, param: str
) -> int:
    """Replayed entities whose industry or entity override of ``param`` beats the region's."""
    if registry is None:
        return 0
    ids = sorted(history.entities)
    rows = registry.row_of(np.asarray(ids, dtype=object))
    n = 0
    for entity, row in zip(ids, rows, strict=True):
        if row < 0:
            continue
        origin = base.resolve(entity, str(registry.county[row]), str(registry.industry[row]))
        if origin.origin(rule, param).startswith(("industry", "entity")):
            n += 1
    return n


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 4)
