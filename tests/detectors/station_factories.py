"""Factories for the station detector tests: sensor series, limits, thresholds, running.

Times are local (China Standard Time) strings such as ``"2026-07-01 08:00"``. A reading's
``ts`` is the END of its interval; ``Set(..., "08:00", "08:10", v)`` sets the readings of the
intervals starting at 08:00 ... 08:09 (gas, every minute) or 08:00, 08:05 (water).
"""

from __future__ import annotations

import datetime
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from factories import local_ms, thresholds

from detectors.context import no_limits
from detectors.detection import Detection
from detectors.detector_set import DetectorSet
from detectors.stations import GasDetector, WaterDetector
from detectors.thresholds import Thresholds
from ingest.schema import CST, READING_SCHEMA

MINUTES = {
    "gas.pressure_kpa": 1,
    "gas.flow_m3h": 1,
    "gas.leak_lel": 1,
    "water.level_m": 5,
    "water.rain_mm": 5,
    "water.flow_m3s": 5,
}
# usual readings and their noise (half-width), chosen so that nothing fires or repeats
BASE = {
    "gas.pressure_kpa": (300.0, 1.5),
    "gas.flow_m3h": (1000.0, 20.0),
    "gas.leak_lel": (0.5, 0.4),
    "water.level_m": (100.0, 0.01),
    "water.rain_mm": (0.0, 0.0),
    "water.flow_m3s": (5.0, 0.1),
}
LIMITS = {
    "pressure_low_kpa": 150.0,
    "pressure_high_kpa": 390.0,
    "warning_level_m": 101.0,
    "guarantee_level_m": 102.0,
    "flood_limit_level_m": 100.5,
    "eco_flow_m3s": 2.0,
}
ENTITIES = ("S1", "S2")


@dataclass(frozen=True)
class Set:
    """``metric`` of ``entity`` reads ``value`` for the intervals starting in [start, end)."""

    entity: str
    metric: str
    start: str
    end: str
    value: float


@dataclass(frozen=True)
class Ramp:
    """Readings go linearly from ``v0`` to ``v1`` over the intervals in [start, end)."""

    entity: str
    metric: str
    start: str
    end: str
    v0: float
    v1: float


@dataclass(frozen=True)
class Gap:
    """No readings of ``metric`` from ``entity`` for the intervals in [start, end)."""

    entity: str
    metric: str
    start: str
    end: str


def readings(
    metrics: Sequence[str],
    start: str,
    hours: float,
    injections: Iterable[Set | Ramp | Gap] = (),
    entities: Sequence[str] = ENTITIES,
    seed: int = 0,
) -> pa.Table:
    """Readings of ``metrics`` for ``entities`` over ``hours`` from local ``start``, in time
    order: the usual value plus a small deterministic noise, then the injections."""
    rng = np.random.default_rng(seed)
    parts = []
    for metric in metrics:
        step = MINUTES[metric]
        n = int(hours * 60 // step)
        t0 = local_ms(start)
        ts = t0 + (np.arange(n) + 1) * step * 60_000  # end of each interval
        base, noise = BASE[metric]
        values = base + noise * rng.uniform(-1, 1, size=(len(entities), n))
        values = np.round(np.maximum(values, 0.0), 2)
        present = np.ones(values.shape, dtype=bool)
        for inj in injections:
            if inj.metric != metric:
                continue
            row = entities.index(inj.entity)
            idx = np.flatnonzero(
                (ts - step * 60_000 >= local_ms(inj.start)) & (ts <= local_ms(inj.end))
            )
            idx = idx[ts[idx] - step * 60_000 < local_ms(inj.end)]
            if isinstance(inj, Set):
                values[row, idx] = inj.value
            elif isinstance(inj, Ramp):
                values[row, idx] = np.linspace(inj.v0, inj.v1, idx.size)
            else:
                present[row, idx] = False
        rows, cols = np.nonzero(present.T)  # time-major
        parts.append((ts[rows], np.asarray(entities)[cols], metric, values[cols, rows]))
    return _table(parts)


def _table(parts: list[tuple[np.ndarray, np.ndarray, str, np.ndarray]]) -> pa.Table:
    ts = np.concatenate([p[0] for p in parts])
    ids = np.concatenate([p[1] for p in parts])
    names = [p[2] for p in parts]
    codes = np.concatenate([np.full(p[0].size, i, dtype=np.int32) for i, p in enumerate(parts)])
    values = np.concatenate([p[3] for p in parts])
    order = np.argsort(ts, kind="stable")
    return pa.table(
        {
            "entity_id": pa.array(ids[order].tolist(), pa.string()),
            "metric": pa.DictionaryArray.from_arrays(pa.array(codes[order]), pa.array(names)),
            "ts": pa.array(ts[order], pa.timestamp("ms", tz="UTC")),
            "value": pa.array(values[order].astype(np.float64), pa.float64()),
        },
        schema=READING_SCHEMA,
    )


def station_thresholds(extra: str = "", lateness: int = 15) -> Thresholds:
    """Default thresholds with a short allowed lateness (slots close 15 minutes behind)."""
    return thresholds(extra, lateness=lateness)


class FakeStations:
    """An entity context for stations: counties, limits and exemptions given in the test."""

    def __init__(
        self,
        limits: dict[str, dict[str, float]] | None = None,
        counties: dict[str, str] | None = None,
        exemptions: Iterable[tuple[str, str, str, str, str]] = (),
    ) -> None:
        self.station_limits = limits if limits is not None else dict.fromkeys(ENTITIES, LIMITS)
        self.counties = counties or {}
        self.exemptions = list(exemptions)  # (id, entity, rule, start, end)

    def describe(self, entity_ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
        county = [self.counties.get(e, "000000") for e in entity_ids]
        return np.array(county, dtype=object), np.full(len(entity_ids), "unknown", dtype=object)

    def status(self, entity_ids: np.ndarray, slot_end_ms: np.ndarray) -> np.ndarray:
        return np.zeros((len(entity_ids), len(slot_end_ms)), dtype=np.int8)

    def exemption(self, entity_ids: np.ndarray, slot_end_ms: np.ndarray, rule: str) -> np.ndarray:
        out = np.full((len(entity_ids), len(slot_end_ms)), "", dtype=object)
        ts = np.asarray(slot_end_ms, dtype=np.int64)
        for ex_id, entity, ex_rule, start, end in self.exemptions:
            if ex_rule == rule:
                hit = (ts >= local_ms(start)) & (ts < local_ms(end))
                rows = np.asarray(entity_ids) == entity
                out[rows] = np.where(hit, ex_id, out[rows])
        return out

    def limits(self, entity_ids: list[str]) -> dict[str, np.ndarray]:
        out = no_limits(len(entity_ids))
        for i, entity in enumerate(entity_ids):
            for name, value in self.station_limits.get(entity, {}).items():
                out[name][i] = value
        return out


def stations(th: Thresholds | None = None, context: FakeStations | None = None) -> DetectorSet:
    """The gas and water detectors behind one step/flush/snapshot interface."""
    return DetectorSet(
        th or station_thresholds(),
        context or FakeStations(),
        factories={"gas": GasDetector, "water": WaterDetector},
    )


def run(det: DetectorSet, batches: pa.Table | Iterable[pa.Table], flush: bool = True):
    if isinstance(batches, pa.Table):
        batches = [batches]
    out: list[Detection] = []
    for b in batches:
        out.extend(det.step(b).detections)
    if flush:
        out.extend(det.flush().detections)
    return out


def detect(batch: pa.Table, th: Thresholds | None = None, context: FakeStations | None = None):
    return run(stations(th, context), batch)


def local(ms: int) -> str:
    return datetime.datetime.fromtimestamp(ms / 1000, CST).strftime("%Y-%m-%d %H:%M")


def opened(dets: Iterable[Detection], rule: str, entity: str | None = None) -> list[str]:
    """Local start times of the episodes of ``rule`` that opened (alerting ones)."""
    return [
        local(d.episode_start_ms)
        for d in dets
        if d.rule == rule and not d.final and (entity is None or d.entity_id == entity)
    ]


def spans(dets: Iterable[Detection], rule: str) -> list[tuple[str, str, str, bool]]:
    """(entity, local start, local end, final) of each detection of ``rule``."""
    return [
        (d.entity_id, local(d.start_ms), local(d.end_ms), d.final) for d in dets if d.rule == rule
    ]


def rules_of(dets: Iterable[Detection]) -> set[str]:
    return {d.rule for d in dets}


def key(d: Detection) -> tuple[str, str, int, bool]:
    return (d.rule, d.entity_id, d.episode_start_ms, d.final)


def minute_batches(batch: pa.Table, minutes: int) -> list[pa.Table]:
    """Cut into consecutive batches of ``minutes`` of event time."""
    ts = batch["ts"].cast(pa.int64()).to_numpy()
    bucket = (ts - ts.min()) // (minutes * 60_000)
    cuts = np.flatnonzero(np.diff(bucket)) + 1
    bounds = [0, *cuts.tolist(), len(ts)]
    return [batch.slice(a, b - a) for a, b in itertools.pairwise(bounds)]


def shuffled(batch: pa.Table, within_minutes: int, size: int, seed: int = 1) -> list[pa.Table]:
    """Batches of ``size`` rows in an order shuffled by less than ``within_minutes``."""
    rng = np.random.default_rng(seed)
    ts = batch["ts"].cast(pa.int64()).to_numpy()
    order = np.argsort(ts + rng.uniform(0, within_minutes * 60_000, size=ts.size), kind="stable")
    mixed = batch.take(pa.array(order))
    return [mixed.slice(i, size) for i in range(0, mixed.num_rows, size)]
