"""A small simulated province shared by the pipeline tests (built once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.simulator import simulate

SMALL = {"counties": 2, "enterprises": 120, "days": 28, "seed": 3}


@pytest.fixture(scope="session")
def province(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("province")
    simulate(out_dir=out, gas_stations_per_county=0, water_stations_per_county=0, **SMALL)
    return out


@pytest.fixture
def thresholds_file(tmp_path: Path) -> Path:
    """A private copy of the shipped thresholds file that a test may edit."""
    path = tmp_path / "thresholds.yaml"
    path.write_text(Path("config/thresholds.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    return path
