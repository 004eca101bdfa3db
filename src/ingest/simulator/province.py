"""Simulate a province: plan every entity and event, then write the readings day by day."""

from __future__ import annotations

import datetime
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ingest.catalogue import METRIC_NAMES
from ingest.simulator.day_part import DayPart
from ingest.simulator.electricity import ElectricityGenerator
from ingest.simulator.electricity_plan import plan_electricity
from ingest.simulator.events import Event, Occupancy
from ingest.simulator.gas import GasGenerator, GasStations, make_gas_stations, plan_gas
from ingest.simulator.places import MAX_COUNTIES, pick_counties
from ingest.simulator.plants import Plants, make_plants
from ingest.simulator.timeline import Timeline
from ingest.simulator.water import WaterGenerator, WaterStations, make_water_stations, plan_water
from ingest.simulator.writer import (
    ReadingWriter,
    write_entities,
    write_exemptions,
    write_json,
    write_statuses,
    write_truth,
)

#: A Monday, so that 35 days reach into the Spring Festival 2026 (Feb 15-23) and include
#: the 调休 make-up workday Saturday Feb 14.
DEFAULT_START = datetime.date(2026, 1, 19)
MAX_ENTERPRISES = 99_999
MAX_STATIONS_PER_COUNTY = 50

# Independent random streams, so that changing one part leaves the others' draws alone.
_PLANTS, _GAS, _WATER, _PLAN_E, _PLAN_G, _PLAN_W, _DAY_E, _DAY_G, _DAY_W = range(9)


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


@dataclass(frozen=True)
class SimulationSummary:
    """What a run wrote; ``str()`` is the summary the command line prints."""

    out_dir: Path
    seed: int
    start: datetime.date
    days: int
    counties: tuple[str, ...]
    enterprises: int
    gas_stations: int
    water_stations: int
    readings_by_metric: dict[str, int]
    events: dict[str, dict[str, int]]  # category -> label -> count
    statuses: dict[str, int]  # status -> number of periods
    exemptions: int
    row_groups: int
    elapsed_s: float = field(compare=False)

    @property
    def readings(self) -> int:
        return sum(self.readings_by_metric.values())

    def to_json(self) -> dict[str, object]:
        """The content of summary.json (without the run time, so it is deterministic)."""
        return {
            "seed": self.seed,
            "start": self.start.isoformat(),
            "days": self.days,
            "counties": list(self.counties),
            "entities": {
                "enterprise": self.enterprises,
                "gas_station": self.gas_stations,
                "water_station": self.water_stations,
            },
            "readings": self.readings,
            "readings_by_metric": self.readings_by_metric,
            "row_groups": self.row_groups,
            "events": self.events,
            "status_periods": self.statuses,
            "exemptions": self.exemptions,
        }

    def __str__(self) -> str:
        lines = [
            f"simulated {len(self.counties)} {'county' if len(self.counties) == 1 else 'counties'} "
            f"({', '.join(self.counties)}), "
            f"{self.enterprises} enterprises, {self.gas_stations} gas and "
            f"{self.water_stations} water stations, {self.days} days from {self.start} "
            f"(seed {self.seed}) in {self.elapsed_s:.1f} s",
            f"readings: {self.readings:,} in {self.out_dir / 'readings.parquet'}",
        ]
        lines += [f"  {m:<26} {n:>12,}" for m, n in self.readings_by_metric.items() if n]
        for category, labels in self.events.items():
            total = sum(labels.values())
            items = ", ".join(f"{label} {n}" for label, n in labels.items())
            lines.append(f"{category} events: {total} ({items})")
        statuses = ", ".join(f"{s} {n}" for s, n in self.statuses.items()) or "none"
        lines.append(
            f"registry: status periods {statuses}; exemptions {self.exemptions}; "
            f"truth in {self.out_dir / 'truth.csv'}"
        )
        return "\n".join(lines)


def _check(counties: int, enterprises: int, days: int, seed: int, gas: int, water: int) -> None:
    problems = []
    if not 1 <= counties <= MAX_COUNTIES:
        problems.append(f"counties must be 1..{MAX_COUNTIES}, got {counties}")
    if not 1 <= enterprises <= MAX_ENTERPRISES:
        problems.append(f"enterprises must be 1..{MAX_ENTERPRISES}, got {enterprises}")
    if days < 1:
        problems.append(f"days must be at least 1, got {days}")
    if seed < 0:
        problems.append(f"seed must be 0 or more, got {seed}")
    for name, value in (("gas", gas), ("water", water)):
        if not 0 <= value <= MAX_STATIONS_PER_COUNTY:
            problems.append(
                f"{name}_stations_per_county must be 0..{MAX_STATIONS_PER_COUNTY}, got {value}"
            )
    if problems:
        raise ValueError("; ".join(problems))


def _entity_rows(plants: Plants, gas: GasStations, water: WaterStations) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for i in range(len(plants)):
        rows.append(
            {
                "entity_id": plants.ids[i],
                "name": plants.names[i],
                "county": plants.county[i],
                "industry": plants.industry[i],
                "kind": "enterprise",
                "register_max_kwh": plants.register_max[i],
            }
        )
    for i in range(len(gas)):
        rows.append(
            {
                "entity_id": gas.ids[i],
                "name": gas.names[i],
                "county": gas.county[i],
                "industry": "gas_utility",
                "kind": "gas_station",
                "pressure_low_kpa": gas.low[i],
                "pressure_high_kpa": gas.high[i],
            }
        )
    for i in range(len(water)):
        rows.append(
            {
                "entity_id": water.ids[i],
                "name": water.names[i],
                "county": water.county[i],
                "industry": "water_station",
                "kind": "water_station",
                "warning_level_m": water.warning[i],
                "guarantee_level_m": water.guarantee[i],
                "flood_limit_level_m": water.flood_limit[i],
                "eco_flow_m3s": water.eco_flow[i],
            }
        )
    return rows


def _merge(parts: list[tuple[int, DayPart]]) -> tuple[np.ndarray, ...]:
    return (
        np.concatenate([p.row.astype(np.int64) + offset for offset, p in parts]),
        np.concatenate([p.minute for _, p in parts]),
        np.concatenate([p.metric for _, p in parts]),
        np.concatenate([p.value for _, p in parts]),
    )


def _count_events(events: list[Event]) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for e in sorted(events, key=lambda e: (e.category, e.label)):
        labels = counts.setdefault(e.category, {})
        labels[e.label] = labels.get(e.label, 0) + 1
    return counts


def simulate(
    out_dir: str | Path,
    counties: int,
    enterprises: int,
    days: int,
    seed: int,
    start: datetime.date = DEFAULT_START,
    gas_stations_per_county: int = 2,
    water_stations_per_county: int = 2,
) -> SimulationSummary:
    """Write a simulated province with labelled violations to ``out_dir``.

    The same arguments give the same files. Memory stays at about one day of readings,
    whatever ``days`` is. See docs/simulator.md for every file and label.
    """
    began = time.perf_counter()
    _check(counties, enterprises, days, seed, gas_stations_per_county, water_stations_per_county)
    out = Path(out_dir)
    (out / "registry").mkdir(parents=True, exist_ok=True)
    timeline = Timeline.build(start, days)
    places = pick_counties(counties)
    plants = make_plants(_rng(seed, _PLANTS), places, enterprises, timeline)
    gas = make_gas_stations(_rng(seed, _GAS), places, gas_stations_per_county)
    water = make_water_stations(_rng(seed, _WATER), places, water_stations_per_county)

    occupancy = Occupancy()
    eplan = plan_electricity(_rng(seed, _PLAN_E), plants, timeline, occupancy)
    gas_events = plan_gas(_rng(seed, _PLAN_G), gas, timeline, occupancy)
    water_events = plan_water(_rng(seed, _PLAN_W), water, timeline, occupancy)

    registry = out / "registry"
    write_entities(registry / "entities.csv", _entity_rows(plants, gas, water))
    write_statuses(registry / "status.csv", eplan.statuses, timeline)
    write_exemptions(registry / "exemptions.csv", eplan.exemptions, timeline)

    electricity = ElectricityGenerator(plants, timeline, eplan)
    gas_gen = GasGenerator(gas, timeline, gas_events)
    water_gen = WaterGenerator(water, timeline, water_events)
    ids = np.concatenate([plants.ids, gas.ids, water.ids])
    with ReadingWriter(out / "readings.parquet", ids) as writer:
        for day in range(days):
            parts = [
                (0, electricity.day(day, _rng(seed, _DAY_E, day))),
                (len(plants), gas_gen.day(day, _rng(seed, _DAY_G, day))),
                (len(plants) + len(gas), water_gen.day(day, _rng(seed, _DAY_W, day))),
            ]
            day_start = int(timeline.utc_ms(day * 24 * 60))
            writer.write_day(day_start, *_merge(parts))

    events = eplan.events + electricity.rollovers + gas_events + water_events
    county_of = dict(
        zip(ids, np.concatenate([plants.county, gas.county, water.county]), strict=True)
    )
    write_truth(out / "truth.csv", events, county_of, timeline)
    statuses: dict[str, int] = {}
    for s in eplan.statuses:
        statuses[s.status] = statuses.get(s.status, 0) + 1
    summary = SimulationSummary(
        out_dir=out,
        seed=seed,
        start=start,
        days=days,
        counties=tuple(f"{c.code} {c.name}" for c in places),
        enterprises=len(plants),
        gas_stations=len(gas),
        water_stations=len(water),
        readings_by_metric={
            m: int(n) for m, n in zip(METRIC_NAMES, writer.rows_by_metric, strict=True)
        },
        events=_count_events(events),
        statuses=dict(sorted(statuses.items())),
        exemptions=len(eplan.exemptions),
        row_groups=writer.row_groups,
        elapsed_s=time.perf_counter() - began,
    )
    write_json(out / "summary.json", summary.to_json())
    return summary
