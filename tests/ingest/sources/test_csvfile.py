"""CSV reading is total: any bytes are read without a crash, each line accounted for once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from linegen import (
    BASE_MS,
    bad_csv_lines,
    expected_lines,
    good_csv_line,
    long_lines,
)

from ingest.deadletter import MemoryDeadLetter
from ingest.intake import ingest_path
from ingest.sources.csvfile import iter_csv
from ingest.validate import Validator

HEADER = b"entity_id,metric,ts,value\n"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MS = timedelta(milliseconds=1)
fixture_ok = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def accounted(path, block_bytes):
    """Line numbers that came out as rows, and as rejects; fails on a line seen twice."""
    rows: list[int] = []
    rejects: list[int] = []
    for batch in iter_csv(path, batch_rows=7, block_bytes=block_bytes):
        rows.extend(batch.position.tolist())
        rejects.extend(batch.rejects.column("position").to_pylist())
    seen = rows + rejects
    assert len(seen) == len(set(seen)), "a line came out twice"
    return set(rows), set(rejects)


@fixture_ok
@given(body=st.binary(max_size=1500), block_bytes=st.sampled_from([64, 300, 1 << 16]))
def test_any_bytes_every_line_is_a_row_or_a_reject(tmp_path, body, block_bytes):
    path = tmp_path / "fuzz.csv"
    path.write_bytes(HEADER + body)
    rows, rejects = accounted(path, block_bytes)
    expected = expected_lines(body, first_line=2)
    maybe = long_lines(body, first_line=2, limit=block_bytes)  # blank but over-long
    assert expected <= rows | rejects <= expected | maybe


@fixture_ok
@given(
    body=st.lists(
        st.one_of(
            st.sampled_from([b"", b" ", b"\r", b'"', b",,,", b'a,"b', b"\xff", b"\x00"]),
            st.binary(max_size=30),
        ),
        max_size=40,
    ).map(b"\n".join),
)
def test_line_soup_with_quotes_and_blanks(tmp_path, body):
    path = tmp_path / "soup.csv"
    path.write_bytes(HEADER + body)
    rows, rejects = accounted(path, 1 << 16)
    assert rows | rejects == expected_lines(body, first_line=2)


@st.composite
def mixed_file(draw):
    """Good and bad lines in any order, plus what each good line must become."""
    kinds = draw(st.lists(st.booleans(), min_size=1, max_size=60))
    lines, good, bad = [], [], []
    for i, is_good in enumerate(kinds):
        number = i + 2
        if is_good:
            line, reading = draw(good_csv_line(BASE_MS + i * 60_000))
            good.append((number, reading))
        else:
            line = draw(bad_csv_lines)
            bad.append(number)
        lines.append(line)
    ending = draw(st.sampled_from([b"\n", b"\r\n"]))
    return ending.join(lines) + draw(st.sampled_from([b"", ending])), good, bad


@fixture_ok
@given(case=mixed_file())
def test_good_rows_all_valid_and_bad_lines_rejected_once(tmp_path, case):
    body, good, bad = case
    path = tmp_path / "mixed.csv"
    path.write_bytes(HEADER + body)
    sink = MemoryDeadLetter()
    validator = Validator(allowed_lateness_ms=10**12, now_ms=lambda: BASE_MS)
    tables = list(ingest_path(path, validator, sink, batch_rows=5))
    got = [
        (r["entity_id"], r["metric"], (r["ts"] - EPOCH) // MS, r["value"])
        for t in tables
        for r in t.to_pylist()
    ]
    assert got == [reading for _, reading in good]
    assert sorted(r["position"] for r in sink.rows) == bad
    assert sink.counts == ({"malformed_record": len(bad)} if bad else {})
