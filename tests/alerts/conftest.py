"""Factories for the alert tests: detections and stores."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from alerts.store import SqliteAlertStore
from detectors.detection import Detection

SLOT_MS = 15 * 60 * 1000
# 2024-05-01 22:15 China Standard Time, inside the night window.
T0_MS = int(
    datetime.datetime(
        2024, 5, 1, 22, 15, tzinfo=datetime.timezone(datetime.timedelta(hours=8))
    ).timestamp()
    * 1000
)


def detection(
    rule: str = "night_production",
    entity_id: str = "E001",
    county: str = "370481",
    start_slot: int = 0,
    *,
    final: bool = False,
    slots: int | None = None,
    suppressed_by: str | None = None,
    observed: float = 42.0,
    evidence: dict[str, Any] | None = None,
) -> Detection:
    """One delivery of the episode starting ``start_slot`` slots after T0.

    The opening delivery covers 2 slots, the final one 4 unless ``slots`` says otherwise.
    """
    start_ms = T0_MS + start_slot * SLOT_MS
    covered = slots if slots is not None else (4 if final else 2)
    return Detection(
        rule=rule,
        entity_id=entity_id,
        county=county,
        episode_start_ms=start_ms,
        start_ms=start_ms,
        end_ms=start_ms + covered * SLOT_MS,
        severity="high",
        score=3.5,
        observed=observed,
        baseline=10.0,
        thresholds={"night_fraction": 0.6, "min_run": 2},
        thresholds_version="tv-1",
        explanation="夜间用电达到日间生产水平 / Night consumption at daytime production level",
        final=final,
        suppressed_by=suppressed_by,
        evidence=evidence if evidence is not None else {"kwh": [40.0, 44.0]},
    )


@pytest.fixture(scope="session")
def make_detection() -> Callable[..., Detection]:
    return detection


@pytest.fixture
def store() -> Iterator[SqliteAlertStore]:
    with SqliteAlertStore(":memory:") as s:
        yield s


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "alerts.sqlite"
