"""JSON-lines reading is total: any bytes are read without a crash, each line once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from linegen import BASE_MS, bad_json_lines, expected_lines, good_json_line, long_lines

from ingest.deadletter import MemoryDeadLetter
from ingest.intake import ingest_path
from ingest.sources.jsonlines import iter_jsonl
from ingest.validate import Validator

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MS = timedelta(milliseconds=1)
fixture_ok = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@fixture_ok
@given(
    body=st.one_of(
        st.binary(max_size=1500),
        st.lists(
            st.one_of(
                st.sampled_from([b"", b" ", b"\r", b"{}", b"[", b'{"a":1}', b"\xff", b"\x00"]),
                st.binary(max_size=30),
            ),
            max_size=40,
        ).map(b"\n".join),
    ),
    block_bytes=st.sampled_from([64, 1 << 16]),
)
def test_any_bytes_every_line_is_a_row_or_a_reject(tmp_path, body, block_bytes):
    path = tmp_path / "fuzz.jsonl"
    path.write_bytes(body)
    rows: list[int] = []
    rejects: list[int] = []
    for batch in iter_jsonl(path, batch_rows=7, block_bytes=block_bytes):
        rows.extend(batch.position.tolist())
        rejects.extend(batch.rejects.column("position").to_pylist())
    assert len(rows + rejects) == len(set(rows + rejects)), "a line came out twice"
    expected = expected_lines(body.removeprefix(b"\xef\xbb\xbf"), first_line=1)
    maybe = long_lines(body, first_line=1, limit=block_bytes)
    assert expected <= set(rows) | set(rejects) <= expected | maybe


@st.composite
def mixed_file(draw):
    kinds = draw(st.lists(st.booleans(), min_size=1, max_size=60))
    lines, good, bad = [], [], []
    for i, is_good in enumerate(kinds):
        if is_good:
            line, reading = draw(good_json_line(BASE_MS + i * 60_000))
            good.append(reading)
        else:
            line = draw(bad_json_lines)
            bad.append(i + 1)
        lines.append(line)
    return b"\n".join(lines) + b"\n", good, bad


@fixture_ok
@given(case=mixed_file())
def test_good_objects_all_valid_and_bad_lines_rejected_once(tmp_path, case):
    body, good, bad = case
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(body)
    sink = MemoryDeadLetter()
    validator = Validator(allowed_lateness_ms=10**12, now_ms=lambda: BASE_MS)
    got = [
        (r["entity_id"], r["metric"], (r["ts"] - EPOCH) // MS, r["value"])
        for t in ingest_path(path, validator, sink, batch_rows=5)
        for r in t.to_pylist()
    ]
    assert got == good
    assert sorted(r["position"] for r in sink.rows) == bad
    assert [r["reason"] for r in sink.rows] == ["malformed_record"] * len(bad), sink.rows
