"""The station detectors on a simulated province: each injected gas and water event raises
its rule once, and nothing else raises anything (no sensor fault is injected)."""

from __future__ import annotations

import datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from detectors.context import RegistryContext
from detectors.detector_set import DetectorSet
from detectors.stations import GasDetector, WaterDetector
from detectors.thresholds import load_thresholds
from ingest.registry import Registry
from ingest.simulator import simulate
from ingest.simulator.events import GAS_VIOLATIONS, WATER_VIOLATIONS


@pytest.fixture(scope="module")
def province(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("stations")
    simulate(
        out_dir=out,
        counties=1,
        enterprises=1,
        days=12,
        seed=4,
        start=datetime.date(2026, 7, 6),  # in the flood season
        gas_stations_per_county=2,
        water_stations_per_county=2,
    )
    return out


def test_every_injected_station_event_raises_its_rule_and_nothing_else(province: Path):
    detectors = DetectorSet(
        load_thresholds(Path(__file__).parents[2] / "config" / "thresholds.yaml"),
        RegistryContext(Registry.load(province / "registry")),
        factories={"gas": GasDetector, "water": WaterDetector},
    )
    dets = []
    for batch in pq.ParquetFile(province / "readings.parquet").iter_batches(200_000):
        dets += detectors.step(pa.Table.from_batches([batch])).detections
    dets += detectors.flush().detections
    truth = pd.read_csv(province / "truth.csv")
    truth = truth[truth["label"].isin(GAS_VIOLATIONS + WATER_VIOLATIONS)]
    for col in ("start", "end"):
        truth[col] = pd.to_datetime(truth[col]).astype("datetime64[ms, UTC]").astype("int64")
    episodes = {}
    for d in dets:
        span = episodes.setdefault((d.rule, d.entity_id, d.episode_start_ms), [d.start_ms, 0])
        span[1] = max(span[1], d.end_ms) if d.final else 2**62  # open at the end: ongoing
    assert set(truth["label"]) == set(GAS_VIOLATIONS + WATER_VIOLATIONS)

    def overlaps(rule, entity, start, end):
        return [
            k for k, (a, b) in episodes.items() if k[:2] == (rule, entity) and a < end and start < b
        ]

    for e in truth.itertuples():
        assert len(overlaps(e.label, e.entity_id, e.start, e.end)) == 1, e
    for (rule, entity, _), (a, b) in episodes.items():
        events = truth[(truth["label"] == rule) & (truth["entity_id"] == entity)]
        assert ((events["start"] < b) & (a < events["end"])).any(), (rule, entity, a)
