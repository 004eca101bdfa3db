"""Validation: each reject reason from a real file, and the readings that come out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dianyan.errors import ConfigError
from ingest.catalogue import CATALOGUE, Domain
from ingest.rawbatch import RawBatch
from ingest.rejects import Reason
from ingest.schema import READING_SCHEMA
from ingest.sources import iter_raw_batches
from ingest.validate import Validator

HEADER = "entity_id,metric,ts,value\n"
NOW = datetime(2024, 6, 1, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)
OK = "E1,electricity.kwh,2024-01-01T00:00:00Z,1.5\n"


def validate_file(path, batch_rows=1000, **kwargs):
    """(valid table, rejects as dicts, counts) of a whole file through one validator."""
    kwargs.setdefault("now_ms", lambda: NOW_MS)
    validator = Validator(**kwargs)
    valid, rejects, counts = [], [], {}
    for raw in iter_raw_batches(path, batch_rows=batch_rows):
        result = validator.validate(raw)
        valid.append(result.valid)
        rejects.extend(result.rejects.to_pylist())
        for reason, n in result.counts.items():
            counts[reason] = counts.get(reason, 0) + n
    table = pa.concat_tables(valid) if valid else READING_SCHEMA.empty_table()
    return table, rejects, counts


def only_reject(path, **kwargs):
    table, rejects, counts = validate_file(path, **kwargs)
    assert len(rejects) == 1, rejects
    assert counts == {rejects[0]["reason"]: 1}
    return table, rejects[0]


@pytest.mark.parametrize(
    ("line", "reason", "detail"),
    [
        ("E1,electricity.kwh,2024-01-01T00:15:00Z,\n", Reason.MISSING_FIELD, "missing value"),
        ("  ,electricity.kwh,2024-01-01T00:15:00Z,1\n", Reason.MISSING_FIELD, "entity_id"),
        ("E1,electricity.kwh,2024-01-01T00:15:00Z\n", Reason.MALFORMED_RECORD, "3 fields"),
        ("E1,electricity.kwh,2024-01-01T00:15:00Z,1.2.3\n", Reason.UNPARSABLE_NUMBER, "1.2.3"),
        ("E1,electricity.kwh,2024-01-01T00:15:00Z,NaN\n", Reason.NOT_FINITE, "nan"),
        ("E1,electricity.kwh,2024-01-01T00:15:00Z,-inf\n", Reason.NOT_FINITE, "inf"),
        ("E1,electricity.kwh,2024-01-01T00:15:00Z,-0.5\n", Reason.NEGATIVE_ENERGY, "-0.5"),
        ("E1,electricity.register_kwh,2024-01-01T00:15:00Z,-3\n", Reason.NEGATIVE_ENERGY, "-3"),
        ("E1,gas.leak_lel,2024-01-01T00:15:00Z,150\n", Reason.OUT_OF_RANGE, "[0, 100] %LEL"),
        ("E1,water.level_m,2024-01-01T00:15:00Z,-101\n", Reason.OUT_OF_RANGE, "-101"),
        ("E1,electricity.kwh,yesterday noon,1\n", Reason.UNPARSABLE_TIMESTAMP, "yesterday"),
        ("E1,electricity.kwh,1999-12-31T23:59:59Z,1\n", Reason.ABSURD_TIMESTAMP, "before 2000"),
        ("E1,electricity.kwh,2024-06-02T00:00:01Z,1\n", Reason.ABSURD_TIMESTAMP, "after now"),
        ("E1,gas.temperature_c,2024-01-01T00:15:00Z,1\n", Reason.UNKNOWN_METRIC, "temperature"),
        (OK, Reason.DUPLICATE, "earlier reading"),
        ("E1,electricity.kwh,2023-12-31T21:59:59Z,1\n", Reason.TOO_LATE, "2:00:01 behind"),
    ],
)
def test_each_reason_from_a_csv_file(tmp_path, line, reason, detail):
    path = tmp_path / "r.csv"
    path.write_text(HEADER + OK + line + OK.replace("E1", "E2"))
    table, reject = only_reject(path)
    assert reject["reason"] == reason
    assert reject["position"] == 3
    assert reject["source"] == str(path)
    assert detail in reject["detail"]
    assert table.column("entity_id").to_pylist() == ["E1", "E2"]


def test_record_keeps_the_original_text(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text(HEADER + "E1,gas.leak_lel, 2024-01-01T00:15:00Z ,1e9\n")
    _, reject = only_reject(path)
    assert reject["reason"] == Reason.OUT_OF_RANGE
    assert "2024-01-01T00:15:00Z" in reject["record"] and '"E1"' in reject["record"]


def test_missing_column_rejects_every_row(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("entity_id,metric,ts\n" + "E1,electricity.kwh,2024-01-01T00:00:00Z\n" * 3)
    table, rejects, counts = validate_file(path)
    assert table.num_rows == 0
    assert counts == {"missing_field": 3}
    assert {r["detail"] for r in rejects} == {"missing value"}


def test_unknown_entity_only_with_a_registry(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text(HEADER + OK + OK.replace("E1", "X9"))
    table, reject = only_reject(path, registry_entities={"E1", "E2"})
    assert reject["reason"] == Reason.UNKNOWN_ENTITY and reject["position"] == 3
    assert table.column("entity_id").to_pylist() == ["E1"]
    table, rejects, _ = validate_file(path)
    assert rejects == [] and table.num_rows == 2


def test_duplicate_and_too_late_across_batches(tmp_path):
    path = tmp_path / "r.csv"
    lines = [f"E1,electricity.kwh,2024-01-01T{h:02d}:00:00Z,1\n" for h in range(6)]
    lines += [lines[4], "E1,electricity.kwh,2024-01-01T02:59:00Z,1\n"]
    path.write_text(HEADER + "".join(lines))
    table, rejects, counts = validate_file(path, batch_rows=2)
    assert counts == {"duplicate": 1, "too_late": 1}
    assert [(r["position"], r["reason"]) for r in rejects] == [(8, "duplicate"), (9, "too_late")]
    assert table.num_rows == 6


def test_lateness_override_per_entity(tmp_path):
    path = tmp_path / "r.csv"
    rows = ["2024-01-01T05:00:00Z", "2024-01-01T01:00:00Z"]
    path.write_text(
        HEADER
        + "".join(f"E1,electricity.kwh,{t},1\n" for t in rows)
        + "".join(f"E2,electricity.kwh,{t},1\n" for t in rows)
    )
    _, rejects, _ = validate_file(path, lateness_overrides={"E2": 5 * 3600 * 1000})
    assert [(r["position"], r["reason"]) for r in rejects] == [(3, "too_late")]


def test_now_is_injectable_for_replays(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text(HEADER + "E1,electricity.kwh,2030-01-01T00:00:00Z,1\n")
    _, rejects, _ = validate_file(path)
    assert rejects[0]["reason"] == Reason.ABSURD_TIMESTAMP
    later = int(datetime(2030, 1, 1, tzinfo=UTC).timestamp() * 1000)
    table, rejects, _ = validate_file(path, now_ms=lambda: later)
    assert rejects == [] and table.num_rows == 1


def test_text_timestamps_offsets_naive_and_epoch(tmp_path):
    path = tmp_path / "r.csv"
    texts = [
        "2024-01-01T08:00:00+08:00",
        "2024-01-01T00:15:00",
        "1704069000000",
        " 2024-01-01T00:45:00.250Z ",
        "2024-01-01T01:00:00.123456Z",
    ]
    path.write_text(HEADER + "".join(f"E1,water.rain_mm,{t},1\n" for t in texts))
    table, rejects, _ = validate_file(path)
    assert rejects == []
    start = datetime(2024, 1, 1, tzinfo=UTC)
    assert table.column("ts").to_pylist() == [
        start,
        start + timedelta(minutes=15),
        start + timedelta(minutes=30),
        start + timedelta(minutes=45, milliseconds=250),
        start + timedelta(hours=1, milliseconds=123),
    ]


def test_typed_parquet_of_other_types_is_converted(tmp_path):
    n = 4
    ts = datetime(2024, 1, 1) + np.arange(n) * timedelta(minutes=15)
    table = pa.table(
        {
            "entity_id": pa.array([101, 101, 102, 102], pa.int64()),
            "metric": pa.array(["gas.pressure_kpa"] * n).dictionary_encode(),
            "ts": pa.array(ts, pa.timestamp("ns")),  # naive: UTC
            "value": pa.array([1, 2, 3, 4], pa.int32()),
        }
    )
    pq.write_table(table, tmp_path / "r.parquet")
    valid, rejects, _ = validate_file(tmp_path / "r.parquet")
    assert rejects == []
    assert valid.schema == READING_SCHEMA
    assert valid.column("entity_id").to_pylist() == ["101", "101", "102", "102"]
    assert valid.column("value").to_pylist() == [1.0, 2.0, 3.0, 4.0]
    assert valid.column("ts")[0].as_py() == datetime(2024, 1, 1, tzinfo=UTC)


def test_parquet_rejects_use_row_index(tmp_path):
    values = [1.0, float("nan"), 2.0, -1.0]
    table = pa.table(
        {
            "entity_id": ["E1", "E1", "E2", "E3"],
            "metric": ["electricity.kwh"] * 4,
            "ts": pa.array([NOW_MS - 10**6] * 4, pa.timestamp("ms", "UTC")),
            "value": values,
        }
    )
    pq.write_table(table, tmp_path / "r.parquet")
    valid, rejects, _ = validate_file(tmp_path / "r.parquet")
    assert [(r["position"], r["reason"]) for r in rejects] == [
        (1, "not_finite"),
        (3, "negative_energy"),
    ]
    assert valid.column("entity_id").to_pylist() == ["E1", "E2"]


def test_valid_table_has_exactly_the_reading_schema(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text(HEADER + OK + "E2,gas.flow_m3h,2024-01-01T00:00:00Z,5\n")
    table, _, _ = validate_file(path)
    assert table.schema == READING_SCHEMA
    assert table.column("metric").type == pa.dictionary(pa.int32(), pa.string())
    assert set(table.column("metric").combine_chunks().dictionary.to_pylist()) == set(CATALOGUE)


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"allowed_lateness_ms": -1}, "allowed_lateness_ms"),
        ({"allowed_lateness_ms": 1.5}, "allowed_lateness_ms"),
        ({"lateness_overrides": {"E1": "2h"}}, "lateness_overrides['E1']"),
    ],
)
def test_bad_lateness_config_is_refused(kwargs, key):
    with pytest.raises(ConfigError, match=key.replace("[", r"\[").replace("]", r"\]")):
        Validator(**kwargs)


@st.composite
def messy_csv(draw):
    """Lines mixing every kind of fault, with repeated and out-of-order timestamps."""
    line = st.tuples(
        st.sampled_from(["E1", "E2", "E3", "", " E1 "]),
        st.sampled_from(["electricity.kwh", "gas.leak_lel", "nope"]),
        st.sampled_from(["2024-01-01T00:00:00Z", "2024-01-01T03:00:00Z", "1999-01-01T00:00:00Z"])
        | st.integers(0, 20).map(lambda k: str(1_704_067_200_000 + k * 900_000))
        | st.just("bad"),
        st.sampled_from(["1", "-1", "nan", "x", "", "120", "1e3"]),
    )
    rows = draw(st.lists(line, max_size=50))
    return HEADER + "".join(",".join(r) + "\n" for r in rows)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=messy_csv(), batch_rows=st.integers(1, 20))
def test_batch_size_does_not_change_the_outcome(tmp_path, text, batch_rows):
    path = tmp_path / "m.csv"
    path.write_text(text)
    whole, whole_rejects, _ = validate_file(path, batch_rows=10_000)
    split, split_rejects, _ = validate_file(path, batch_rows=batch_rows)
    assert split.to_pylist() == whole.to_pylist()
    key = sorted((r["position"], r["reason"]) for r in whole_rejects)
    assert sorted((r["position"], r["reason"]) for r in split_rejects) == key
    assert whole.num_rows + len(whole_rejects) == text.count("\n") - 1


@st.composite
def metric_dictionaries(draw):
    """A dictionary-encoded metric column as Parquet gives it: any order, unused entries."""
    names = draw(st.permutations([*sorted(CATALOGUE), "nope"]))
    size = draw(st.integers(1, len(names)))
    codes = draw(st.lists(st.integers(-1, size - 1), min_size=1, max_size=40))
    values = draw(
        st.lists(
            st.sampled_from([0.0, 5.0, -1.0, 150.0, 2e6, 2e10, float("nan"), -200.0]),
            min_size=len(codes),
            max_size=len(codes),
        )
    )
    return names[:size], codes, values


def expected_reason(name, value):
    """The value checks row by row, straight from the catalogue."""
    if name is None:
        return Reason.MISSING_FIELD
    if name not in CATALOGUE:
        return Reason.UNKNOWN_METRIC
    spec = CATALOGUE[name]
    if not np.isfinite(value):
        return Reason.NOT_FINITE
    if value < 0 and spec.domain is Domain.ELECTRICITY:
        return Reason.NEGATIVE_ENERGY
    if not spec.minimum <= value <= spec.maximum:
        return Reason.OUT_OF_RANGE
    return None


@settings(max_examples=150, deadline=None)
@given(case=metric_dictionaries())
def test_metric_dictionary_order_and_unused_entries_do_not_change_the_checks(case):
    names, codes, values = case
    n = len(codes)
    mask = np.array([c < 0 for c in codes])
    metric = pa.DictionaryArray.from_arrays(
        pa.array([max(c, 0) for c in codes], pa.int32(), mask=mask), pa.array(names)
    )
    raw = RawBatch(
        {
            "entity_id": pa.array([f"E{i}" for i in range(n)]),
            "metric": metric,
            "ts": pa.array(np.full(n, NOW_MS - 3_600_000), pa.timestamp("ms", "UTC")),
            "value": pa.array(values, pa.float64()),
        },
        "case",
        np.arange(n, dtype=np.int64),
    )
    result = Validator(now_ms=lambda: NOW_MS).validate(raw)
    got = {r["position"]: Reason(r["reason"]) for r in result.rejects.to_pylist()}
    for i, (c, v) in enumerate(zip(codes, values, strict=True)):
        assert got.get(i) == expected_reason(names[c] if c >= 0 else None, v), i
    assert result.valid.num_rows == n - len(got)
