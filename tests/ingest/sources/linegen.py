"""Hypothesis strategies for text files of readings: good lines, bad lines, any bytes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import strategies as st

from ingest.catalogue import CATALOGUE

BASE_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
entity_ids = st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ0123456789-_", min_size=1, max_size=12)
metrics = st.sampled_from(sorted(CATALOGUE))


@st.composite
def readings(draw: st.DrawFn) -> tuple[str, str, float]:
    """(entity_id, metric, value) with the value inside the metric's physical range."""
    metric = draw(metrics)
    spec = CATALOGUE[metric]
    value = draw(st.floats(spec.minimum, spec.maximum, allow_nan=False, allow_infinity=False))
    return draw(entity_ids), metric, value


def ts_texts(ms: int) -> st.SearchStrategy[str]:
    """Text forms of one instant: Z, an offset, no offset (UTC), or epoch milliseconds."""
    instant = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    offsets = st.integers(-12, 14).map(lambda h: timezone(timedelta(hours=h)))
    return st.one_of(
        st.just(instant.isoformat(timespec="milliseconds").replace("+00:00", "Z")),
        offsets.map(lambda tz: instant.astimezone(tz).isoformat()),
        st.just(instant.replace(tzinfo=None).isoformat()),
        st.just(str(ms)),
    )


def csv_field(text: str) -> st.SearchStrategy[str]:
    return st.sampled_from([text, '"' + text.replace('"', '""') + '"'])


@st.composite
def good_csv_line(draw: st.DrawFn, ms: int) -> tuple[bytes, tuple[str, str, int, float]]:
    entity, metric, value = draw(readings())
    fields = [
        draw(csv_field(entity)),
        draw(csv_field(metric)),
        draw(csv_field(draw(ts_texts(ms)))),
        draw(csv_field(repr(value))),
    ]
    return ",".join(fields).encode(), (entity, metric, ms, value)


bad_csv_lines = st.one_of(
    # wrong number of fields
    st.lists(st.text(alphabet="abc123.-:", max_size=6), min_size=1, max_size=8)
    .filter(lambda f: len(f) != 4 and any(f))
    .map(lambda f: ",".join(f).encode()),
    # invalid UTF-8 inside an otherwise fine line
    st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x80abc"]).map(
        lambda junk: b"E1," + junk + b",2024-01-01T00:00:00Z,1"
    ),
    # a carriage return inside the line
    st.just(b"E1,electricity.kwh\r,2024-01-01T00:00:00Z,1"),
)


@st.composite
def good_json_line(draw: st.DrawFn, ms: int) -> tuple[bytes, tuple[str, str, int, float]]:
    entity, metric, value = draw(readings())
    obj: dict[str, object] = {
        "entity_id": entity,
        "metric": metric,
        "ts": draw(st.one_of(ts_texts(ms), st.just(ms))),
        "value": draw(st.sampled_from([value, repr(value)])),
    }
    if draw(st.booleans()):
        obj["note"] = draw(st.text(max_size=5))
    keys = draw(st.permutations(list(obj)))
    return json.dumps({k: obj[k] for k in keys}, ensure_ascii=draw(st.booleans())).encode(), (
        entity,
        metric,
        ms,
        value,
    )


bad_json_lines = st.one_of(
    st.sampled_from([b"{", b"not json", b'{"a": }', b"{'single': 1}", b'{"a": 1} x']),
    st.sampled_from([b"[1, 2]", b'"a string"', b"42", b"null", b"true"]),
    st.just(b'{"entity_id": "E\xff1"}'),
)


def expected_lines(body: bytes, first_line: int) -> set[int]:
    """Numbers of the lines of ``body`` that carry something (not only spaces/tabs)."""
    lines = body.split(b"\n")
    if body.endswith(b"\n"):
        lines.pop()
    out = set()
    for i, line in enumerate(lines):
        if line.endswith(b"\r"):
            line = line[:-1]
        if line.strip(b" \t"):
            out.add(first_line + i)
    return out


def long_lines(body: bytes, first_line: int, limit: int) -> set[int]:
    """Numbers of the lines longer than ``limit`` bytes (readers may reject those whole)."""
    return {first_line + i for i, line in enumerate(body.split(b"\n")) if len(line) > limit}
