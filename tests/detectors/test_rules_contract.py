"""One contract, every electricity rule: the same checks run over a scenario that fires it.

Empty batch, single reading, NaN treated as a missing reading (validation rejects NaN
upstream; should one slip through it must not read as consumption), snapshot/restore
round trip and determinism under any batching within the allowed lateness.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pytest
from factories import (
    FakeContext,
    Gap,
    Set,
    Status,
    detector,
    episodes,
    key,
    local_ms,
    per_slot_batches,
    readings,
    run,
    shuffled_batches,
    slots_of,
    thresholds,
)

from detectors.electricity import RULES
from ingest.schema import SLOT_MS, empty_batch


@dataclass(frozen=True)
class Scenario:
    rule: str
    opens: str  # local start of the one episode it raises
    injections: tuple[Set | Gap, ...]
    hole: tuple[str, str]  # E1 sends nothing (or NaN) in this local span
    inside: str  # event time by which the episode has opened (2 h lateness) but not ended
    suspended: bool = False

    def context(self) -> FakeContext:
        statuses = [Status("E1", "2026-03-10 00:00", "2026-03-11 00:00")] if self.suspended else []
        return FakeContext(statuses=statuses)

    def batch(self, hole_as: str = "gap") -> pa.Table:
        """Day-shift plants E1 and E2 from Mon 2026-03-02 to Tue 2026-03-10."""
        injections = list(self.injections)
        if hole_as == "gap":
            injections.append(Gap("E1", *self.hole))
        table = readings(("E1", "E2"), "2026-03-02", 9, injections=injections)
        if hole_as == "nan":
            ts = table["ts"].cast(pa.int64()).to_numpy()
            inside = (
                (table["entity_id"].to_numpy(zero_copy_only=False) == "E1")
                & (ts > local_ms(self.hole[0]))
                & (ts <= local_ms(self.hole[1]))
            )
            values = np.where(inside, np.nan, table["value"].to_numpy())
            table = table.set_column(3, "value", pa.array(values, pa.float64()))
        return table


SCENARIOS = {
    "suspended_operation": Scenario(
        "suspended_operation",
        "2026-03-10 08:00",
        (),
        ("2026-03-10 10:00", "2026-03-10 11:00"),
        "2026-03-10 12:00",
        suspended=True,
    ),
    "night_production": Scenario(
        "night_production",
        "2026-03-09 23:00",
        (Set("E1", "2026-03-09 23:00", "2026-03-10 02:00", 40.0),),
        ("2026-03-10 00:00", "2026-03-10 00:30"),
        "2026-03-10 03:00",
    ),
    "usage_surge": Scenario(
        "usage_surge",
        "2026-03-10 10:00",
        (Set("E1", "2026-03-10 10:00", "2026-03-10 12:00", 100.0),),
        ("2026-03-10 10:45", "2026-03-10 11:15"),
        "2026-03-10 13:30",
    ),
    "meter_offline": Scenario(
        "meter_offline",
        "2026-03-10 10:00",
        (),
        ("2026-03-10 10:00", "2026-03-10 15:00"),
        "2026-03-10 17:00",
    ),
}

pytestmark = pytest.mark.parametrize("rule", RULES)


def _ordered(dets):
    return sorted(dets, key=key)


def test_scenario_raises_its_rule_once(rule):
    sc = SCENARIOS[rule]
    dets = run(detector(context=sc.context()), sc.batch())
    assert episodes(dets, rule) == [sc.opens]
    assert {(d.rule, d.entity_id) for d in dets} == {(rule, "E1")}


def test_empty_batch(rule):
    sc = SCENARIOS[rule]
    det = detector(context=sc.context())
    res = det.step(empty_batch())
    assert res.detections == [] and res.late is None
    assert det.flush().detections == []
    # an empty batch in the middle of a stream changes nothing
    batch = sc.batch()
    half = batch.num_rows // 2
    parts = [batch.slice(0, half), empty_batch(), batch.slice(half)]
    assert run(detector(context=sc.context()), parts) == run(detector(context=sc.context()), batch)


def test_single_reading(rule):
    # E1's reading of the slot where the episode opens (or the last before its silence)
    sc = SCENARIOS[rule]
    batch = sc.batch()
    ts = batch["ts"].cast(pa.int64()).to_numpy()
    e1 = batch["entity_id"].to_numpy(zero_copy_only=False) == "E1"
    pick = np.flatnonzero(e1 & (ts <= local_ms(sc.opens) + SLOT_MS))[-1:]
    det = detector(context=sc.context())
    res = det.step(batch.take(pa.array(pick)))
    assert res.detections == [] and res.late is None
    assert det.flush().detections == []


def test_nan_reading_counts_as_missing(rule):
    sc = SCENARIOS[rule]
    with_nan = run(detector(context=sc.context()), sc.batch("nan"))
    without = run(detector(context=sc.context()), sc.batch("gap"))
    assert with_nan == without
    assert episodes(with_nan, rule) == [sc.opens]


@pytest.mark.parametrize("cut", ["midnight", "inside the episode"])
def test_snapshot_restore_round_trip(rule, cut):
    sc = SCENARIOS[rule]
    batches = per_hour(sc.batch())
    whole = run(detector(context=sc.context()), batches)
    at = local_ms("2026-03-10 00:00" if cut == "midnight" else sc.inside)
    k = next(i for i, b in enumerate(batches) if _last_ms(b) > at)
    first = detector(context=sc.context())
    before = run(first, batches[:k], flush=False)
    if cut == "inside the episode":
        assert [d.final for d in before if d.rule == rule] == [False]
    resumed = detector(context=sc.context())
    resumed.restore(first.snapshot())
    assert before + run(resumed, batches[k:]) == whole
    # taking the snapshot does not disturb the detector it was taken from
    assert before + run(first, batches[k:]) == whole


@pytest.mark.parametrize("batching", ["per slot", "shuffled within lateness"])
def test_determinism(rule, batching):
    sc = SCENARIOS[rule]
    batch = sc.batch()
    one = run(detector(context=sc.context()), batch)
    if batching == "per slot":  # the warm-up week in one batch, the last two days per slot
        ts = batch["ts"].cast(pa.int64()).to_numpy()
        head = int(np.count_nonzero(ts <= local_ms("2026-03-09 00:00")))
        batches = [batch.slice(0, head), *per_slot_batches(batch.slice(head))]
    else:
        batches = shuffled_batches(batch, lateness_slots=8, size=23, seed=7)
    other = run(detector(context=sc.context()), batches)
    assert _ordered(other) == _ordered(one)


def per_hour(batch: pa.Table) -> list[pa.Table]:
    slots = slots_of(batch)
    hours = slots // 4
    cuts = np.flatnonzero(np.diff(hours)) + 1
    bounds = [0, *cuts.tolist(), len(slots)]
    return [batch.slice(a, b - a) for a, b in itertools.pairwise(bounds)]


def _last_ms(batch: pa.Table) -> int:
    return int(batch["ts"].cast(pa.int64()).to_numpy().max())


def test_detection_records_the_thresholds_as_resolved_for_the_entity(rule):
    # What the case page shows under the alert: the values of the file, as the file says
    # them (a night window as "22:00-06:00"), and its version.
    sc = SCENARIOS[rule]
    th = thresholds(
        'overrides:\n  regions:\n    "370481":\n      rules:\n'
        f"        {rule}:\n          severity: critical\n"
    )
    ctx = sc.context()
    ctx.counties["E1"] = "370481"
    ctx.industries["E1"] = "fireworks"
    dets = run(detector(th, ctx), sc.batch())
    expected = th.rule_params_used(rule, th.resolve("E1", "370481", "fireworks"))
    assert expected["severity"] == "critical"
    assert dets and all(d.thresholds == expected for d in dets)
    assert {(d.severity, d.county, d.thresholds_version) for d in dets} == {
        ("critical", "370481", th.version)
    }
