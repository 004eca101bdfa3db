"""The stream: any batching within the allowed lateness gives the same detections; readings
later than that are handed back, not silently used or dropped."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from factories import (
    Exemption,
    FakeContext,
    Gap,
    Set,
    Status,
    detector,
    key,
    keys,
    local_ms,
    per_slot_batches,
    readings,
    run,
    shuffled_batches,
    thresholds,
)

SLOT_MS = 15 * 60 * 1000


def _context() -> FakeContext:
    return FakeContext(
        statuses=[Status("E4", "2026-03-10 12:00")],
        exemptions=[
            Exemption("BB-3", "E4", "suspended_operation", "2026-03-10 16:00", "2026-03-10 20:00")
        ],
    )


def _batch():
    return readings(
        ("E1", "E2", "E3", "E4"),
        "2026-03-04",
        7,
        injections=[
            Set("E1", "2026-03-09 23:00", "2026-03-10 02:00", 40.0),
            Set("E2", "2026-03-10 10:00", "2026-03-10 12:00", 100.0),
            Gap("E3", "2026-03-10 03:00", "2026-03-10 09:00"),
            Set("E4", "2026-03-10 09:00", "2026-03-11 00:00", 40.0),
        ],
    )


@pytest.mark.parametrize(
    "batching",
    ["per slot", "shuffled, seed 1", "shuffled, seed 2", "shuffled, batches of 1 reading"],
)
def test_any_batching_within_lateness_gives_the_same_detections(batching):
    batch = _batch()
    one = run(detector(context=_context()), batch)
    assert len({d.rule for d in one}) == 4
    if batching == "per slot":
        batches = per_slot_batches(batch)
    elif batching.endswith("1 reading"):  # one reading a batch from 20:00 to 14:00
        ts = batch["ts"].cast(pa.int64()).to_numpy()
        a = int((ts <= local_ms("2026-03-09 20:00")).sum())
        b = int((ts <= local_ms("2026-03-10 14:00")).sum())
        middle = shuffled_batches(batch.slice(a, b - a), lateness_slots=8, size=1)
        batches = [batch.slice(0, a), *middle, batch.slice(b)]
    else:
        batches = shuffled_batches(batch, 8, size=37, seed=int(batching[-1]))
    other = run(detector(context=_context()), batches)
    assert keys(other) == keys(one)
    assert sorted(other, key=key) == sorted(one, key=key)


def _at(batch: pa.Table, local: str, entity: str | None = None) -> pa.Table:
    """The readings stamped at local time ``local`` (the end of their slot)."""
    mask = pc.equal(batch["ts"].cast(pa.int64()), local_ms(local))
    if entity is not None:
        mask = pc.and_(mask, pc.equal(batch["entity_id"], entity))
    return batch.filter(mask)


def _without(batch: pa.Table, local: str, entity: str) -> pa.Table:
    mask = pc.and_(
        pc.equal(batch["ts"].cast(pa.int64()), local_ms(local)),
        pc.equal(batch["entity_id"], entity),
    )
    return batch.filter(pc.invert(mask))


def _until(batch: pa.Table, local: str) -> pa.Table:
    return batch.filter(pc.less_equal(batch["ts"].cast(pa.int64()), local_ms(local)))


@pytest.mark.parametrize(
    ("held_back", "late"),
    [
        ("2026-03-04 10:00", False),  # exactly the allowed 120 minutes behind 12:00
        ("2026-03-04 09:45", True),  # older than that
    ],
)
def test_reading_older_than_the_allowed_lateness_is_returned_as_late(held_back, late):
    early = _until(readings(("E1", "E2"), "2026-03-04", 1), "2026-03-04 12:00")
    held = _at(early, held_back, "E1")
    det = detector()
    assert det.step(_without(early, held_back, "E1")).late is None
    res = det.step(held)
    if late:
        assert res.late is not None and res.late.equals(held)
    else:
        assert res.late is None


def _as_metric(batch: pa.Table, metric: str) -> pa.Table:
    codes = pa.array([0] * batch.num_rows, pa.int32())
    metric_col = pa.DictionaryArray.from_arrays(codes, pa.array([metric], pa.string()))
    return batch.set_column(1, batch.schema.field("metric"), metric_col)


def test_late_reading_among_other_metrics_comes_back_alone_and_whole():
    early = _until(readings(("E1", "E2"), "2026-03-04", 1), "2026-03-04 12:00")
    held = _at(early, "2026-03-04 09:45", "E1")
    on_time = _at(early, "2026-03-04 12:00", "E2")
    det = detector()
    assert det.step(_without(early, "2026-03-04 09:45", "E1")).late is None
    gas = _as_metric(_until(early, "2026-03-04 00:30"), "gas.flow_m3h")
    mixed = pa.concat_tables([gas, held, gas, on_time, gas])
    res = det.step(mixed)
    assert res.late is not None and res.late.equals(held)


def test_late_reading_does_not_change_the_detections():
    # E1 is silent 10:00-15:00 (meter offline); its reading for 12:00 turns up when event
    # time is at 16:00, long after its slot closed: it is handed back, the episode stands.
    gap = Gap("E1", "2026-03-04 10:00", "2026-03-04 15:00")
    batch = readings(("E1", "E2"), "2026-03-04", 2, injections=[gap])
    straggler = _at(readings(("E1", "E2"), "2026-03-04", 1), "2026-03-04 12:00", "E1")
    first = _until(batch, "2026-03-04 16:00")
    det = detector()
    out = det.step(first).detections
    res = det.step(straggler)
    assert res.late is not None and res.late.equals(straggler)
    out += res.detections + run(det, [batch.slice(first.num_rows)])
    expected = run(detector(), batch)
    assert [d.rule for d in expected] == ["meter_offline", "meter_offline"]
    assert keys(out) == keys(expected)


def test_zero_lateness_still_takes_other_meters_of_the_newest_slot():
    # With no lateness allowed, a reading of the newest slot is not late: E2's reading for
    # a slot arriving in the batch after E1's must be used, not refused.
    batch = readings(("E1", "E2"), "2026-03-04", 1)
    det = detector(thresholds(lateness=0))
    for slot_batch in per_slot_batches(batch):
        for entity in ("E1", "E2"):
            res = det.step(slot_batch.filter(pc.equal(slot_batch["entity_id"], entity)))
            assert res.late is None
