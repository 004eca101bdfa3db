"""Reading files: every format, directories, and lines that must be rejected, not crash."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq
import pytest

from dianyan.errors import SchemaError
from ingest.rawbatch import RawBatch
from ingest.sources import iter_raw_batches, reading_files
from ingest.sources.csvfile import iter_csv

HEADER = "entity_id,metric,ts,value\n"


def rows_of(batches: list[RawBatch]) -> list[tuple]:
    """(position, entity_id, metric, ts, value) of every row read, as Python values."""
    out = []
    for b in batches:
        if not len(b.position):
            continue
        cols = [b.columns[c].to_pylist() for c in ("entity_id", "metric", "ts", "value")]
        out.extend(zip(b.position.tolist(), *cols, strict=True))
    return out


def rejected(batches: list[RawBatch]) -> dict[int, str]:
    out: dict[int, str] = {}
    for b in batches:
        for row in b.rejects.to_pylist():
            assert row["position"] not in out, "a line was rejected twice"
            out[row["position"]] = row["reason"]
    return out


def reading_table(n: int, start_ms: int = 1_704_067_200_000) -> pa.Table:
    return pa.table(
        {
            "entity_id": [f"E{i % 7}" for i in range(n)],
            "metric": ["electricity.kwh"] * n,
            "ts": pa.array(start_ms + np.arange(n) * 900_000, pa.timestamp("ms", "UTC")),
            "value": np.arange(n, dtype=np.float64),
        }
    )


def test_csv_rows_keep_their_line_numbers(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text(
        HEADER
        + "E1,electricity.kwh,2024-01-01T00:00:00Z,1.5\n"
        + "\n"
        + '"E2","gas.pressure_kpa",2024-01-01T00:00:00Z,"3"\n'
    )
    batches = list(iter_raw_batches(path))
    assert [(r[0], r[1], r[2]) for r in rows_of(batches)] == [
        (2, "E1", "electricity.kwh"),
        (4, "E2", "gas.pressure_kpa"),
    ]
    assert rejected(batches) == {}


def test_csv_columns_in_any_order_extra_columns_ignored(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text(
        "value,note,ts,metric,entity_id\n7,hello,2024-01-01T00:00:00Z,gas.flow_m3h,S9\n"
    )
    (batch,) = list(iter_raw_batches(path))
    assert sorted(batch.columns) == ["entity_id", "metric", "ts", "value"]
    assert batch.columns["entity_id"].to_pylist() == ["S9"]
    assert batch.columns["value"].cast(pa.float64()).to_pylist() == [7.0]


def test_csv_missing_column_is_not_an_exception(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("entity_id,metric,ts\nE1,electricity.kwh,2024-01-01T00:00:00Z\n")
    (batch,) = list(iter_raw_batches(path))
    assert "value" not in batch.columns
    assert batch.position.tolist() == [2]


def test_csv_bad_lines_are_rejected_and_neighbours_survive(tmp_path):
    path = tmp_path / "a.csv"
    good = "E1,electricity.kwh,2024-01-01T00:00:00Z,1\n"
    path.write_bytes(
        (HEADER + good + "E1,electricity.kwh,too,many,fields\n" + good).encode()
        + b"E1,\xff\xfe,2024-01-01T00:00:00Z,1\n"
        + good.encode()
        + b'E1,"electricity.kwh,2024-01-01T00:00:00Z,1\n'
        + good.encode()
        + b"E1,electricity.kwh\r,2024-01-01T00:00:00Z,1\n"
        + good.encode()
    )
    batches = list(iter_raw_batches(path))
    assert [r[0] for r in rows_of(batches)] == [2, 4, 6, 8, 10]
    assert rejected(batches) == {
        3: "malformed_record",
        5: "malformed_record",
        7: "malformed_record",
        9: "malformed_record",
    }


def test_csv_crlf_bom_and_no_final_newline(tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes(
        b"\xef\xbb\xbf"
        + HEADER.replace("\n", "\r\n").encode()
        + b"E1,electricity.kwh,2024-01-01T00:00:00Z,1\r\n\r\n"
        + b"E2,electricity.kwh,2024-01-01T00:00:00Z,2"
    )
    batches = list(iter_raw_batches(path))
    assert [(r[0], r[1]) for r in rows_of(batches)] == [(2, "E1"), (4, "E2")]
    assert rejected(batches) == {}


def test_csv_line_longer_than_a_block_is_rejected_and_reading_goes_on(tmp_path):
    path = tmp_path / "a.csv"
    good = "E1,electricity.kwh,2024-01-01T00:00:00Z,1\n"
    path.write_text(HEADER + good + "E9," + "x" * 5000 + ",1,2\n" + good)
    batches = list(iter_csv(path, batch_rows=100, block_bytes=256))
    assert [r[0] for r in rows_of(batches)] == [2, 4]
    assert rejected(batches) == {3: "malformed_record"}


def test_batches_are_bounded(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text(HEADER + "E1,electricity.kwh,2024-01-01T00:00:00Z,1\n" * 1000)
    batches = list(iter_raw_batches(path, batch_rows=64))
    assert max(len(b.position) for b in batches) == 64
    assert sum(b.num_rows for b in batches) == 1000


def test_parquet_typed_with_row_index_positions(tmp_path):
    table = reading_table(1000).append_column("extra", pa.array(["x"] * 1000))
    pq.write_table(table, tmp_path / "r.parquet", row_group_size=300)
    batches = list(iter_raw_batches(tmp_path / "r.parquet", batch_rows=128))
    assert max(len(b.position) for b in batches) <= 128
    assert np.concatenate([b.position for b in batches]).tolist() == list(range(1000))
    first = batches[0]
    assert sorted(first.columns) == ["entity_id", "metric", "ts", "value"]
    assert pa.types.is_timestamp(first.columns["ts"].type)
    assert pa.types.is_floating(first.columns["value"].type)
    values = np.concatenate([b.columns["value"].to_numpy() for b in batches])
    assert values.tolist() == table.column("value").to_pylist()


@pytest.mark.parametrize("fmt", ["file", "stream"])
def test_arrow_ipc_file_and_stream(tmp_path, fmt):
    table = reading_table(500)
    path = tmp_path / "r.arrow"
    with pa.OSFile(str(path), "wb") as sink:
        opener = ipc.new_file if fmt == "file" else ipc.new_stream
        with opener(sink, table.schema) as writer:
            writer.write_table(table, max_chunksize=200)
    batches = list(iter_raw_batches(path, batch_rows=150))
    assert max(len(b.position) for b in batches) <= 150
    assert np.concatenate([b.position for b in batches]).tolist() == list(range(500))
    entities = [e for b in batches for e in b.columns["entity_id"].to_pylist()]
    assert entities == table.column("entity_id").to_pylist()


@pytest.mark.parametrize("name", ["r.parquet", "r.arrow"])
def test_unreadable_binary_file_is_one_reject_not_a_crash(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"PAR1 this is not what it claims to be")
    (batch,) = list(iter_raw_batches(path))
    assert batch.rejects.column("reason").to_pylist() == ["malformed_record"]
    assert len(batch.position) == 0


def test_truncated_parquet_keeps_what_it_could_read(tmp_path):
    path = tmp_path / "r.parquet"
    pq.write_table(reading_table(1000), path, row_group_size=100)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] + data[-8:])  # footer kept, row groups cut
    batches = list(iter_raw_batches(path, batch_rows=50))
    read = sum(len(b.position) for b in batches)
    reasons = [r for b in batches for r in b.rejects.column("reason").to_pylist()]
    assert read < 1000
    assert reasons == ["malformed_record"]


def test_jsonl_typed_fast_path_and_line_by_line_fallback(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text(
        '{"entity_id": "E1", "metric": "gas.leak_lel", "ts": 1704067200000, "value": 3}\n'
        '{"entity_id": "E1", "metric": "gas.leak_lel", "ts": 1704067260000, "value": 4.5}\n'
    )
    (batch,) = list(iter_raw_batches(path))
    assert batch.position.tolist() == [1, 2]
    assert batch.columns["value"].cast(pa.float64()).to_pylist() == [3.0, 4.5]
    path.write_text(
        '{"entity_id": "E1", "metric": "gas.leak_lel", "ts": 1704067200000, "value": 3}\n'
        "\n"
        "{not json\n"
        '["an", "array"]\n'
        '{"entity_id": "E2", "value": {"nested": true}}\n'
    )
    (batch,) = list(iter_raw_batches(path))
    assert batch.position.tolist() == [1, 5]
    assert batch.columns["entity_id"].to_pylist() == ["E1", "E2"]
    assert batch.columns["metric"].to_pylist() == ["gas.leak_lel", None]
    assert rejected([batch]) == {3: "malformed_record", 4: "malformed_record"}


def test_directory_is_read_recursively_in_path_order(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "a.csv").write_text(HEADER + "A,electricity.kwh,2024-01-01T00:00:00Z,1\n")
    (tmp_path / "b" / "c.jsonl").write_text('{"entity_id": "C"}\n')
    pq.write_table(reading_table(2), tmp_path / "b" / "a.parquet")
    (tmp_path / "README.md").write_text("not readings")
    (tmp_path / ".hidden.csv").write_text(HEADER + "H,electricity.kwh,2024,1\n")
    files = reading_files(tmp_path)
    assert [f.relative_to(tmp_path).as_posix() for f in files] == [
        "a.csv",
        "b/a.parquet",
        "b/c.jsonl",
    ]
    sources = [b.source for b in iter_raw_batches(tmp_path)]
    assert sources == [str(f) for f in files]


def test_missing_path_and_unsupported_type_are_refused(tmp_path):
    with pytest.raises(SchemaError, match="no such file"):
        list(iter_raw_batches(tmp_path / "nope.csv"))
    (tmp_path / "x.xlsx").write_bytes(b"")
    with pytest.raises(SchemaError, match=r"unsupported file type '\.xlsx'"):
        list(iter_raw_batches(tmp_path / "x.xlsx"))


def test_small_read_blocks_still_make_full_batches(tmp_path):
    path = tmp_path / "a.csv"
    good = "E1,electricity.kwh,2024-01-01T00:00:00Z,1\n"
    path.write_text(HEADER + (good * 30 + "bad line\n") * 10)
    batches = list(iter_csv(path, batch_rows=50, block_bytes=256))
    sizes = [len(b.position) for b in batches]
    assert sizes == [50] * 6
    assert sum(b.rejects.num_rows for b in batches) == 10
    positions = np.concatenate([b.position for b in batches])
    assert (np.diff(positions) > 0).all()
