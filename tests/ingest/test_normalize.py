"""Normalization: local-time slots and register readings turned into 15-minute energy."""

from __future__ import annotations

import datetime

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dianyan.errors import SchemaError
from ingest.normalize import (
    INTERVAL_METRIC,
    REGISTER_METRIC,
    RegisterNormalizer,
    local_day,
    slot_end_ms,
    slot_index,
    slot_of_day,
    slot_start_ms,
)
from ingest.schema import CST, READING_SCHEMA, SLOT_MS

# 2026-03-02 00:00 China Standard Time, i.e. 2026-03-01 16:00 UTC.
MIDNIGHT = int(datetime.datetime(2026, 3, 2, tzinfo=CST).timestamp() * 1000)


def batch(rows: list[tuple[str, str, int, float]]) -> pa.Table:
    entity, metric, ts, value = zip(*rows, strict=True) if rows else ((), (), (), ())
    return pa.table(
        {
            "entity_id": pa.array(entity, pa.string()),
            "metric": pa.array(metric, pa.string()).dictionary_encode(),
            "ts": pa.array(ts, pa.timestamp("ms", tz="UTC")),
            "value": pa.array(value, pa.float64()),
        }
    ).cast(READING_SCHEMA)


def registers(entity: str, start_slot: int, values: list[float]) -> list:
    return [
        (entity, REGISTER_METRIC, MIDNIGHT + (start_slot + i) * SLOT_MS, v)
        for i, v in enumerate(values)
    ]


def series(table: pa.Table, entity: str) -> list[tuple[int, float]]:
    rows = table.filter(pa.compute.equal(table["entity_id"], entity)).to_pylist()
    return [(int(r["ts"].timestamp() * 1000), r["value"]) for r in rows]


# --- slots -------------------------------------------------------------------------


def test_reading_at_local_midnight_closes_the_previous_day() -> None:
    assert datetime.datetime.fromtimestamp(MIDNIGHT / 1000, datetime.UTC).hour == 16
    slot = slot_index(np.array([MIDNIGHT]))
    assert slot_of_day(slot).tolist() == [95]
    assert local_day(slot).tolist() == [datetime.date(2026, 3, 1)]
    assert slot_end_ms(slot).tolist() == [MIDNIGHT]
    assert slot_start_ms(slot).tolist() == [MIDNIGHT - SLOT_MS]


def test_one_ms_after_local_midnight_opens_the_new_day() -> None:
    slot = slot_index(np.array([MIDNIGHT + 1, MIDNIGHT + SLOT_MS]))
    assert slot_of_day(slot).tolist() == [0, 0]
    assert local_day(slot).tolist() == [datetime.date(2026, 3, 2)] * 2
    assert slot_start_ms(slot).tolist() == [MIDNIGHT, MIDNIGHT]


def test_slot_index_accepts_datetime64() -> None:
    ts = np.array([MIDNIGHT, MIDNIGHT + 1], dtype="datetime64[ms]")
    assert slot_index(ts).tolist() == slot_index(ts.view(np.int64)).tolist()


@given(st.integers(min_value=0, max_value=4_102_444_800_000))
def test_every_timestamp_lies_in_its_slot(ts: int) -> None:
    slot = slot_index(np.array([ts]))
    assert slot_start_ms(slot)[0] < ts <= slot_end_ms(slot)[0]
    local = datetime.datetime.fromtimestamp((ts - 1) / 1000, CST)
    assert local_day(slot)[0] == np.datetime64(local.date())
    assert slot_of_day(slot)[0] == (local.hour * 60 + local.minute) // 15


# --- registers ---------------------------------------------------------------------


def test_normal_deltas_and_first_reading_gives_no_interval() -> None:
    norm = RegisterNormalizer()
    out = norm.normalize(batch(registers("e1", 0, [100.0, 104.5, 110.0])))
    assert series(out, "e1") == [(MIDNIGHT + SLOT_MS, 4.5), (MIDNIGHT + 2 * SLOT_MS, 5.5)]
    assert set(out["metric"].cast(pa.string()).to_pylist()) == {INTERVAL_METRIC}
    assert out.schema == READING_SCHEMA
    assert norm.normalize(batch(registers("e2", 0, [7.0]))).num_rows == 0


def test_rollover_uses_the_entity_register_maximum() -> None:
    norm = RegisterNormalizer({"small": 1000.0}, default_max=1e6)
    out = norm.normalize(
        batch(registers("small", 0, [990.0, 3.0]) + registers("big", 0, [999_995.0, 2.0]))
    )
    assert series(out, "small") == [(MIDNIGHT + SLOT_MS, pytest.approx(13.0))]
    assert series(out, "big") == [(MIDNIGHT + SLOT_MS, pytest.approx(7.0))]
    assert not norm.rejected_counts


def test_meter_replacement_counts_the_new_register() -> None:
    norm = RegisterNormalizer(default_max=1e8)
    out = norm.normalize(batch(registers("e1", 0, [52_000.0, 52_010.0, 1.5, 4.0])))
    assert [v for _, v in series(out, "e1")] == [10.0, 1.5, 2.5]
    assert not norm.rejected_counts


def test_implausible_drop_is_refused_with_a_reason_and_the_register_restarts() -> None:
    norm = RegisterNormalizer()
    out, rejected = norm.normalize_with_rejects(
        batch(registers("e1", 0, [5000.0, 5010.0, 4000.0, 4003.0]))
    )
    assert [v for _, v in series(out, "e1")] == [10.0, 3.0]
    assert rejected["reason"].to_pylist() == ["register_decrease"]
    assert rejected["value"].to_pylist() == [4000.0]
    assert norm.rejected_counts == {"register_decrease": 1}


def test_gap_is_spread_evenly_over_the_missed_slots() -> None:
    norm = RegisterNormalizer()
    rows = registers("e1", 0, [10.0]) + registers("e1", 3, [16.0])
    out = norm.normalize(batch(rows))
    assert series(out, "e1") == [(MIDNIGHT + k * SLOT_MS, 2.0) for k in (1, 2, 3)]


def test_gap_longer_than_the_spread_limit_is_refused() -> None:
    norm = RegisterNormalizer(max_spread_slots=4)
    rows = registers("e1", 0, [10.0]) + registers("e1", 5, [20.0, 21.0])
    out, rejected = norm.normalize_with_rejects(batch(rows))
    assert series(out, "e1") == [(MIDNIGHT + 6 * SLOT_MS, 1.0)]
    assert rejected["reason"].to_pylist() == ["register_gap_too_long"]


def test_giant_jump_is_refused() -> None:
    norm = RegisterNormalizer()
    _, rejected = norm.normalize_with_rejects(batch(registers("e1", 0, [10.0, 5e7])))
    assert rejected["reason"].to_pylist() == ["register_jump"]


def test_bad_rows_are_refused_not_dropped() -> None:
    norm = RegisterNormalizer()
    rows = registers("e1", 0, [10.0, 12.0]) + registers("e1", 1, [12.0])
    rows += registers("e2", 0, [float("nan"), -1.0])
    out, rejected = norm.normalize_with_rejects(batch(rows))
    assert series(out, "e1") == [(MIDNIGHT + SLOT_MS, 2.0)]
    assert sorted(rejected["reason"].to_pylist()) == [
        "register_duplicate",
        "register_invalid_value",
        "register_invalid_value",
    ]
    assert out.num_rows + rejected.num_rows + 1 == len(rows)  # plus the first reading of e1


def test_state_is_carried_across_batches() -> None:
    norm = RegisterNormalizer()
    norm.normalize(batch(registers("e1", 0, [100.0])))
    out, rejected = norm.normalize_with_rejects(
        batch(registers("e1", 0, [99.0]) + registers("e1", 1, [103.0]))
    )
    assert series(out, "e1") == [(MIDNIGHT + SLOT_MS, 3.0)]
    assert rejected["reason"].to_pylist() == ["register_stale"]


def test_snapshot_restores_the_carried_registers() -> None:
    first = RegisterNormalizer()
    first.normalize(batch(registers("e1", 0, [100.0]) + registers("e2", 0, [5.0])))
    second = RegisterNormalizer()
    second.restore(first.snapshot())
    out = second.normalize(batch(registers("e1", 1, [101.0]) + registers("e2", 1, [9.0])))
    assert series(out, "e1") == [(MIDNIGHT + SLOT_MS, 1.0)]
    assert series(out, "e2") == [(MIDNIGHT + SLOT_MS, 4.0)]


def test_other_metrics_pass_through_unchanged() -> None:
    other = [("g1", "gas.pressure_kpa", MIDNIGHT, 310.0), ("k1", INTERVAL_METRIC, MIDNIGHT, 2.0)]
    out = RegisterNormalizer().normalize(batch(other + registers("e1", 0, [1.0, 2.0])))
    assert out.slice(0, 2).to_pylist() == batch(other).to_pylist()
    assert out.num_rows == 3


def test_a_table_without_the_reading_schema_is_refused() -> None:
    with pytest.raises(SchemaError, match="ts"):
        RegisterNormalizer().normalize(pa.table({"entity_id": ["a"], "value": [1.0]}))


# --- properties --------------------------------------------------------------------

register_runs = st.lists(
    st.tuples(
        st.lists(st.floats(0, 500, allow_nan=False), min_size=1, max_size=20),  # increments
        st.lists(st.integers(1, 4), min_size=20, max_size=20),  # slot steps (gaps)
    ),
    min_size=1,
    max_size=4,
)


@settings(max_examples=60, deadline=None)
@given(register_runs, st.integers(0, 80), st.floats(0, 1e6))
def test_monotone_registers_preserve_total_consumption(runs, split: int, start: float) -> None:
    rows = []
    for n, (increments, steps) in enumerate(runs):
        slot, value = 0, start
        rows.append((f"e{n}", REGISTER_METRIC, MIDNIGHT, value))
        for inc, step in zip(increments, steps, strict=False):
            slot, value = slot + step, value + inc
            rows.append((f"e{n}", REGISTER_METRIC, MIDNIGHT + slot * SLOT_MS, value))
    rows.sort(key=lambda r: r[2])
    norm = RegisterNormalizer(default_max=1e8)
    split = min(split, len(rows))
    outs = [norm.normalize(batch(rows[:split])), norm.normalize(batch(rows[split:]))]
    out = pa.concat_tables(outs)
    assert not norm.rejected_counts
    values = np.array(out["value"].to_pylist())
    assert (values >= 0).all()
    for n, (increments, _) in enumerate(runs):
        got = sum(v for _, v in series(out, f"e{n}"))
        assert got == pytest.approx(sum(increments), rel=1e-9, abs=1e-6)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 2e6, allow_nan=False), min_size=1, max_size=40))
def test_output_is_never_negative(values: list[float]) -> None:
    norm = RegisterNormalizer(default_max=2e6)
    out, rejected = norm.normalize_with_rejects(batch(registers("e1", 0, values)))
    assert (np.array(out["value"].to_pylist()) >= 0).all()
    assert out.num_rows + rejected.num_rows == len(values) - 1
