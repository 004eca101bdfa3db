"""Kafka payloads to raw batches: JSON readings, Arrow batches, and what is neither."""

from __future__ import annotations

import json

import pyarrow as pa

from ingest.sources.kafka_messages import decode_messages, encode_arrow
from ingest.validate import Validator

SRC = "kafka:r/0"


def validate(batches):
    v = Validator()
    results = [v.validate(b) for b in batches]
    valid = pa.concat_tables([r.valid for r in results])
    reasons = sorted(r for res in results for r in res.rejects.column("reason").to_pylist())
    return valid, reasons, results


def js(**fields) -> bytes:
    return json.dumps(fields).encode()


def test_json_messages_become_one_batch_with_offsets_as_positions():
    msgs = [
        js(entity_id="E1", metric="electricity.kwh", ts=1_772_323_200_000 + i * 900_000, value=i)
        for i in range(1, 4)
    ]
    batches = decode_messages(msgs, [10, 11, 12], SRC)
    assert len(batches) == 1
    assert batches[0].position.tolist() == [10, 11, 12]
    valid, reasons, _ = validate(batches)
    assert valid["value"].to_pylist() == [1.0, 2.0, 3.0] and reasons == []


def test_a_pretty_printed_json_reading_is_one_reading():
    fields = {"entity_id": "E1", "metric": "electricity.kwh", "ts": "2026-03-01T00:15:00Z"}
    msg = json.dumps(fields | {"value": 2.5}, indent=2).encode()
    assert b"\n" in msg
    valid, reasons, _ = validate(decode_messages([msg], [0], SRC))
    assert valid.num_rows == 1 and reasons == []


def test_bad_json_messages_are_rejected_alone():
    good = js(entity_id="E1", metric="electricity.kwh", ts=1_772_323_200_000, value=1)
    msgs = [
        good,
        b"{not json",
        b'{"entity_id": "E1", "metric": "electricity.kwh", "ts": 1772324100000, "value": NaN}',
        b"[1, 2]",
    ]
    valid, reasons, results = validate(decode_messages(msgs, [0, 1, 2, 3], SRC))
    assert valid.num_rows == 1
    assert reasons == ["malformed_record", "malformed_record", "not_finite"]
    rejects = pa.concat_tables([r.rejects for r in results]).to_pylist()
    assert {r["position"] for r in rejects} == {1, 2, 3}


def test_arrow_batches_keep_their_rows_and_order_around_json():
    table = pa.table(
        {
            "entity_id": ["E2", "E2"],
            "metric": ["electricity.kwh", "electricity.kwh"],
            "ts": pa.array([1_772_323_200_000, 1_772_324_100_000], pa.timestamp("ms", "UTC")),
            "value": [1.5, 2.5],
            "extra": [1, 2],
        }
    )
    j = js(entity_id="E1", metric="electricity.kwh", ts=1_772_323_200_000, value=1)
    batches = decode_messages([j, encode_arrow(table), encode_arrow(table, "zstd")], [5, 6, 7], SRC)
    assert [b.source for b in batches] == [SRC, f"{SRC}@6", f"{SRC}@7"]
    valid, reasons, _ = validate(batches)
    assert valid["entity_id"].to_pylist() == ["E1", "E2", "E2"]
    assert reasons == ["duplicate", "duplicate"]  # the zstd copy repeats the first batch


def test_garbage_empty_and_truncated_messages_are_malformed_with_a_reason():
    table = pa.table({"entity_id": ["E"], "metric": ["electricity.kwh"], "ts": [1], "value": [1.0]})
    msgs = [b"\x00\x01\x02", b"", None, encode_arrow(table)[:-30]]
    batches = decode_messages(msgs, [0, 1, 2, 3], SRC)
    _, reasons, results = validate(batches)
    assert reasons == ["malformed_record"] * 4
    details = " ".join(r["detail"] for res in results for r in res.rejects.to_pylist())
    assert "neither a JSON object nor an Arrow IPC stream" in details
    assert "empty message" in details and "unreadable Arrow IPC batch" in details


def test_an_arrow_batch_of_another_schema_rejects_every_row_as_missing_fields():
    other = pa.table({"meter": ["E1", "E2", "E3"], "reading": [1.0, 2.0, 3.0]})
    valid, reasons, _ = validate(decode_messages([encode_arrow(other)], [0], SRC))
    assert valid.num_rows == 0 and reasons == ["missing_field"] * 3
