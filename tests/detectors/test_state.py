"""Detector state: snapshot/restore continues a stream exactly; other shapes are refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from factories import (
    Exemption,
    FakeContext,
    Gap,
    Set,
    Status,
    detector,
    keys,
    local_ms,
    readings,
    run,
    shuffled_batches,
    thresholds,
)

from detectors.state import Column, EntityState, StateMismatchError
from detectors.thresholds import load_thresholds

CONFIG = Path(__file__).resolve().parents[2] / "config" / "thresholds.yaml"


def _context() -> FakeContext:
    return FakeContext(
        counties={"E1": "370481", "E2": "370481", "E3": "370402", "E4": "370402"},
        statuses=[Status("E4", "2026-03-10 12:00")],
        exemptions=[
            Exemption("BB-3", "E4", "suspended_operation", "2026-03-10 16:00", "2026-03-10 20:00")
        ],
    )


def _batch():
    """Four plants, every rule firing on Tue 2026-03-10, one under an exemption for a while."""
    return readings(
        ("E1", "E2", "E3", "E4"),
        "2026-03-02",
        10,
        injections=[
            Set("E1", "2026-03-09 23:00", "2026-03-10 02:00", 40.0),  # night production
            Set("E2", "2026-03-10 10:00", "2026-03-10 12:00", 100.0),  # surge
            Gap("E3", "2026-03-10 03:00", "2026-03-10 09:00"),  # meter offline
            Set("E4", "2026-03-10 09:00", "2026-03-11 00:00", 40.0),  # suspended from 12:00
        ],
    )


def _uninterrupted():
    batches = shuffled_batches(_batch(), lateness_slots=8, size=40)
    return batches, run(detector(context=_context()), batches)


@pytest.mark.parametrize("cut", ["2026-03-09 23:30", "2026-03-10 01:00", "2026-03-10 17:00"])
def test_restored_detector_continues_like_an_uninterrupted_run(cut):
    batches, whole = _uninterrupted()
    assert {d.rule for d in whole} == {
        "night_production",
        "usage_surge",
        "meter_offline",
        "suspended_operation",
    }
    k = next(
        i for i, b in enumerate(batches) if b["ts"].cast("int64").to_numpy().max() > local_ms(cut)
    )
    first = detector(context=_context())
    before = run(first, batches[:k], flush=False)
    restored = detector(context=_context())
    restored.restore(first.snapshot())
    assert before + run(restored, batches[k:]) == whole


def test_snapshot_under_other_history_days_is_refused():
    det = detector(context=_context())
    run(det, _batch(), flush=False)
    snap = det.snapshot()
    other = detector(thresholds(history_days=10), _context())
    with pytest.raises(StateMismatchError, match="history_days"):
        other.restore(snap)
    # the refusing detector is untouched and works on its own
    fresh = detector(thresholds(history_days=10), _context())
    assert keys(run(other, _batch())) == keys(run(fresh, _batch()))


def test_snapshot_carries_the_entities_and_their_county():
    det = detector(context=_context())
    run(det, _batch(), flush=False)
    restored = detector(context=_context())
    restored.restore(det.snapshot())
    assert list(restored.ids) == list(det.ids)
    assert list(restored.counties) == ["370481", "370481", "370402", "370402"]


def test_state_per_entity_is_at_most_16_kb_with_the_default_config():
    det = detector(load_thresholds(CONFIG))
    entities = tuple(f"E{i:03d}" for i in range(100))
    run(det, readings(entities, "2026-03-02", 3, noise=0.0), flush=False)
    assert det.state_bytes_per_entity() <= 16 * 1024
    assert len(det.snapshot()) / len(entities) <= 16 * 1024


def test_rows_start_from_their_fill_values_through_growth_and_restore():
    """Spare rows are left unwritten; a row gets its fill values when an entity takes it."""
    columns = {"x": Column((2,), "float32", np.float32(np.nan)), "n": Column((), "int64", -1)}
    st = EntityState(columns, {})
    st.rows_for(["a"])
    st["x"][0], st["n"][0] = 1.0, 5
    st.rows_for([f"e{i}" for i in range(200)])  # beyond the first reservation
    assert st.capacity > 201
    assert st["x"][0].tolist() == [1.0, 1.0] and st["n"][0] == 5
    assert np.isnan(st["x"][1:201]).all() and (st["n"][1:201] == -1).all()
    restored = EntityState(columns, {})
    restored.restore(st.snapshot())
    restored["x"][201:], restored["n"][201:] = 7.0, 7  # spare rows hold anything
    rows, new = restored.rows_for(["e5", "z"])
    assert rows.tolist() == [6, 201] and new.tolist() == [201]
    assert np.isnan(restored["x"][201]).all() and restored["n"][201] == -1
    assert restored["x"][0].tolist() == [1.0, 1.0] and restored["n"][0] == 5
