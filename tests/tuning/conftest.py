"""A small simulated province, a thresholds file loosened for one county, and a live store
whose alerts were verified as the simulator's ground truth says (built once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from tuning_kit import LIVE, LOOSE, LOOSE_COUNTY, SIZE

from alerts.store import SqliteAlertStore
from detectors.thresholds import load_thresholds
from dianyan.metrics import Metrics
from dianyan.pipeline import Pipeline
from ingest.deadletter import MemoryDeadLetter
from ingest.registry import Registry
from ingest.simulator import simulate
from tuning.truth import load_truth, replay_with_inspections


@pytest.fixture(scope="session")
def province(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("province")
    simulate(out_dir=out, gas_stations_per_county=0, water_stations_per_county=0, **SIZE)
    return out


@pytest.fixture(scope="session")
def loose_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped thresholds with usage_surge z and min_ratio lowered for LOOSE_COUNTY."""
    doc = yaml.safe_load(LIVE.read_text(encoding="utf-8"))
    regions = doc.setdefault("overrides", {}).setdefault("regions", {})
    regions[LOOSE_COUNTY] = {"rules": {"usage_surge": dict(LOOSE)}}
    path = tmp_path_factory.mktemp("loose") / "loose.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def inspected(province: Path, loose_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The alert store of running ``loose_file`` live, every alert verified from truth.csv:
    confirmed when it matches a labelled violation, explained otherwise."""
    db = tmp_path_factory.mktemp("live") / "live.sqlite"
    with SqliteAlertStore(db) as store:
        pipeline = Pipeline(
            load_thresholds(loose_file),
            store,
            MemoryDeadLetter(),
            registry=Registry.load(province / "registry"),
            metrics=Metrics.create(),
        )
        replay_with_inspections(
            pipeline, province / "readings.parquet", load_truth(province / "truth.csv"), 20_000
        )
    return db
