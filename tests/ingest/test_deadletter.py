"""Dead-letter sinks keep every reject with its reason; ingest_path routes them there."""

from __future__ import annotations

import json

import pyarrow as pa

from ingest.deadletter import DeadLetterSink, JsonLinesDeadLetter, MemoryDeadLetter
from ingest.intake import ingest_path
from ingest.rejects import rejects_table
from ingest.schema import READING_SCHEMA
from ingest.validate import Validator

HEADER = "entity_id,metric,ts,value\n"
NOW_MS = 1_717_200_000_000


def test_json_lines_sink_appends_one_object_per_reject(tmp_path):
    path = tmp_path / "out" / "dead.jsonl"
    sink = JsonLinesDeadLetter(path)
    sink.write(rejects_table(["not_finite"], "a.csv", [3], ['{"value": "nan"}'], ["nan"]))
    sink.write(rejects_table(["duplicate", "not_finite"], "b.csv", [7, 9], ["r1", "r2"], ["", ""]))
    again = JsonLinesDeadLetter(path)  # a restart appends to the same file
    again.write(rejects_table(["too_late"], "c.csv", [1], ["r"], ["late"]))
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(r["reason"], r["source"], r["position"]) for r in lines] == [
        ("not_finite", "a.csv", 3),
        ("duplicate", "b.csv", 7),
        ("not_finite", "b.csv", 9),
        ("too_late", "c.csv", 1),
    ]
    assert set(lines[0]) == {"reason", "source", "position", "record", "detail"}
    assert sink.counts == {"not_finite": 2, "duplicate": 1}
    assert again.counts == {"too_late": 1}


def test_tables_of_readings_with_a_reason_become_records():
    """Later stages (register normalization) hand over reading rows plus a reason."""
    rows = pa.table(
        {
            "entity_id": ["E1"],
            "metric": pa.array(["electricity.register_kwh"]).dictionary_encode(),
            "ts": pa.array([NOW_MS], pa.timestamp("ms", "UTC")),
            "value": [5.0],
            "reason": ["register_decrease"],
        }
    )
    sink = MemoryDeadLetter()
    sink.write(rows)
    (row,) = sink.rows
    assert row["reason"] == "register_decrease"
    assert json.loads(row["record"])["entity_id"] == "E1"
    assert row["source"] is None
    assert sink.counts == {"register_decrease": 1}


def test_sinks_satisfy_the_protocol(tmp_path):
    assert isinstance(MemoryDeadLetter(), DeadLetterSink)
    assert isinstance(JsonLinesDeadLetter(tmp_path / "d.jsonl"), DeadLetterSink)


def test_ingest_path_yields_valid_tables_and_sends_every_reject_to_the_sink(tmp_path):
    (tmp_path / "a.csv").write_text(
        HEADER
        + "E1,electricity.kwh,2024-01-01T00:00:00Z,1\n"
        + "E1,electricity.kwh,2024-01-01T00:15:00Z,-1\n"
        + "broken line\n"
        + "E2,electricity.kwh,2024-01-01T00:00:00Z,2\n"
    )
    (tmp_path / "b.jsonl").write_text('{"entity_id": "E3", "metric": "x", "ts": 1, "value": 1}\n')
    sink = JsonLinesDeadLetter(tmp_path / "dead" / "rejects.jsonl")
    tables = list(ingest_path(tmp_path, Validator(now_ms=lambda: NOW_MS), sink, batch_rows=2))
    assert all(t.schema == READING_SCHEMA for t in tables)
    assert [r["entity_id"] for t in tables for r in t.to_pylist()] == ["E1", "E2"]
    assert sink.counts == {"negative_energy": 1, "malformed_record": 1, "unknown_metric": 1}
    written = [json.loads(x) for x in sink.path.read_text().splitlines()]
    assert sorted((r["source"].rsplit("/", 1)[1], r["position"]) for r in written) == [
        ("a.csv", 3),
        ("a.csv", 4),
        ("b.jsonl", 1),
    ]
