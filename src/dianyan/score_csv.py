"""CSV in, ``timestamp,value,score,is_anomaly`` out: what ``dianyan score`` runs.

For a user with a series and no registry. Input: a header naming a ``timestamp`` column and
one or more value columns (every other column). Output, one row per input row, in order:
``timestamp,value,score,is_anomaly`` (with the input's separator). The timestamp and value
fields are echoed byte for byte (the value is the first value column's); ``score`` is the
combined score of the row's value columns, ``is_anomaly`` the configured threshold with
hysteresis (config/thresholds.yaml, rule ``generic_score``).

A row that cannot be scored (empty or non-numeric value, unreadable timestamp, wrong number
of fields, still warming up) gets an empty score and ``false``, and teaches nothing. Every
line after the header is a row, blank ones included; a quoted field may not hold a line
break. Input is read and scored block by block, so stdin of any size streams.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from detectors.generic_score import RULE, GenericScorer
from detectors.hysteresis import hysteresis
from detectors.thresholds import Thresholds
from dianyan.errors import DianyanError
from ingest import coerce
from ingest.sources.textblocks import DEFAULT_BLOCK_BYTES, LongLine, TextBlock, iter_text_blocks

TIMESTAMP = "timestamp"
OUTPUT_COLUMNS = ("timestamp", "value", "score", "is_anomaly")
SCORE_DECIMALS = 6
# timestamps beyond about ±30,000 years are not times; they also keep slot arithmetic in range
MAX_ABS_MS = 10**15


class InputError(DianyanError):
    """The input cannot be scored at all (no header, no timestamp column)."""


def score_stream(
    source: BinaryIO,
    out: BinaryIO,
    thresholds: Thresholds,
    sep: str = ",",
    block_bytes: int = DEFAULT_BLOCK_BYTES,
) -> int:
    """Score CSV from ``source`` into ``out`` block by block; returns the rows written."""
    sep_b = sep.encode()
    out.write(sep_b.join(c.encode() for c in OUTPUT_COLUMNS) + b"\n")
    blocks = iter_text_blocks(source, block_bytes)
    header: _Header | None = None
    scorer = GenericScorer(thresholds)
    rule = thresholds.rules[RULE]
    high = float(rule.threshold)  # type: ignore[arg-type]
    low = high - float(rule.hysteresis)  # type: ignore[arg-type]
    flag = np.zeros(1, dtype=bool)
    written = 0
    for item in blocks:
        if header is None:
            if isinstance(item, LongLine):
                raise InputError("the header line is longer than a read block")
            first, _, rest = item.data.partition(b"\n")
            header = _Header.parse(first, sep_b)
            rows = scorer.rows(header.values)
            if not rest:
                continue
            item = TextBlock(rest, item.first_line + 1)
        fields = _long_line(header) if isinstance(item, LongLine) else header.split(item.data)
        ts, missing_ts = _timestamps(fields.timestamp)
        n = len(fields.timestamp)
        k = len(header.values)
        values = np.concatenate([_numbers(col) for col in fields.values])
        values[np.tile(missing_ts | fields.broken, k)] = np.nan
        scores = scorer.score(np.repeat(rows, n), np.tile(ts, k), values)
        combined = _combine(scores.score.reshape(k, n))
        flags = hysteresis(np.zeros(n, np.int64), combined, high, low, flag)
        if n:
            flag[0] = flags.state[0]
        out.write(_render(fields, combined, flags.flags, sep_b))
        written += n
    out.flush()
    return written


@dataclass(frozen=True, slots=True)
class _Fields:
    """The raw fields of a block's rows (binary, as in the input)."""

    timestamp: pa.Array
    values: list[pa.Array]  # one per value column, quotes removed
    first_value: pa.Array  # the first value column as in the input (quotes kept)
    broken: np.ndarray  # rows that are not CSV or have the wrong number of fields


class _Header:
    def __init__(self, names: list[str], sep: bytes) -> None:
        self.sep = sep
        self.ncols = len(names)
        if TIMESTAMP not in names:
            raise InputError(
                f"the header must name a {TIMESTAMP!r} column and one or more value columns; "
                f"it names {names} (use --sep ';' for ;-separated files)"
            )
        self.ts = names.index(TIMESTAMP)
        self.value_idx = [i for i, name in enumerate(names) if i != self.ts]
        if not self.value_idx:
            raise InputError(f"the header names no value column besides {TIMESTAMP!r}")
        self.values = [names[i] for i in self.value_idx]
        self._raw = _field_pattern(sep)

    @classmethod
    def parse(cls, line: bytes, sep: bytes) -> _Header:
        raw = _split_raw(line.rstrip(b"\r"), sep, _field_pattern(sep)) or []
        names = [_unquote(f).decode("utf-8", "replace").strip() for f in raw]
        return cls(names, sep)

    def split(self, data: bytes) -> _Fields:
        """Fields of every line of a block; lines with quotes or bad counts one by one."""
        lines = _lines(data)
        n = len(lines)
        parts = pc.split_pattern(lines, self.sep)
        counts = pc.list_value_length(parts).to_numpy(zero_copy_only=False)
        quoted = pc.match_substring(lines, '"').to_numpy(zero_copy_only=False)
        fast = np.flatnonzero(~quoted & (counts == self.ncols))
        cols = [self.ts, *self.value_idx]
        if len(fast) == n:
            picked = [pc.list_element(parts, i) for i in cols]
            return _Fields(picked[0], picked[1:], picked[1], np.zeros(n, bool))
        good = parts.take(pa.array(fast))
        picked = [
            pc.list_element(good, i) if len(fast) else pa.array([], pa.binary()) for i in cols
        ]
        slow = np.flatnonzero(~np.isin(np.arange(n), fast))
        extra, first_raw, broken = self._slow(lines.take(pa.array(slow)).to_pylist(), cols)
        order = np.argsort(np.concatenate([fast, slow]), kind="stable")
        take = pa.array(order)

        def merge(a: pa.Array, b: list[bytes]) -> pa.Array:
            return pa.concat_arrays([a.cast(pa.binary()), pa.array(b, pa.binary())]).take(take)

        merged = [merge(a, b) for a, b in zip(picked, extra, strict=True)]
        bad = np.concatenate([np.zeros(len(fast), bool), broken])[order]
        first = merge(picked[1], first_raw)
        return _Fields(merged[0], merged[1:], first, bad)

    def _slow(
        self, lines: list[bytes], cols: list[int]
    ) -> tuple[list[list[bytes]], list[bytes], np.ndarray]:
        """Lines with quotes or the wrong field count (few): fields by regex, one by one."""
        out: list[list[bytes]] = [[] for _ in cols]
        first_raw: list[bytes] = []
        broken = np.zeros(len(lines), dtype=bool)
        for j, line in enumerate(lines):
            raw = _split_raw(line, self.sep, self._raw)
            if raw is None:
                raw = []
            broken[j] = len(raw) != self.ncols
            for slot, i in enumerate(cols):
                field = raw[i] if i < len(raw) else b""
                out[slot].append(field if slot == 0 else _unquote(field))
            v = self.value_idx[0]
            first_raw.append(raw[v] if v < len(raw) else b"")
        return out, first_raw, broken


def _field_pattern(sep: bytes) -> re.Pattern[bytes]:
    s = re.escape(sep)
    return re.compile(rb'"(?:[^"]|"")*"(?=' + s + rb"|$)|[^\"" + s + rb"]*(?=" + s + rb"|$)")


def _split_raw(line: bytes, sep: bytes, pattern: re.Pattern[bytes]) -> list[bytes] | None:
    """The fields of one line as written (quotes kept); None if it is not CSV."""
    fields: list[bytes] = []
    pos = 0
    while True:
        m = pattern.match(line, pos)
        if m is None:
            return None
        fields.append(m.group())
        pos = m.end()
        if pos == len(line):
            return fields
        pos += len(sep)


def _unquote(field: bytes) -> bytes:
    if len(field) >= 2 and field[:1] == b'"' and field[-1:] == b'"':
        return field[1:-1].replace(b'""', b'"')
    return field


def _long_line(header: _Header) -> _Fields:
    empty = pa.array([b""], pa.binary())
    return _Fields(empty, [empty] * len(header.values), empty, np.ones(1, bool))


def _lines(data: bytes) -> pa.Array:
    """The lines of a block as a binary array, without their line ends (no copy per line)."""
    buf = np.frombuffer(data, dtype=np.uint8)
    newlines = np.flatnonzero(buf == 10)
    ends = newlines if data.endswith(b"\n") else np.append(newlines, len(buf))
    starts = np.concatenate(([0], ends[:-1] + 1))
    cr = (ends > starts) & (buf[np.maximum(ends - 1, 0)] == 13)
    compact = np.delete(buf, np.concatenate([newlines, ends[cr] - 1]))
    offsets = np.concatenate(([0], np.cumsum(ends - cr - starts))).astype(np.int32)
    return pa.Array.from_buffers(
        pa.binary(), len(starts), [None, pa.py_buffer(offsets), pa.py_buffer(compact.tobytes())]
    )


def _text(col: pa.Array) -> pa.Array:
    """Binary fields as text; a field that is not UTF-8 becomes one that parses as nothing."""
    try:
        return col.cast(pa.string())
    except pa.ArrowInvalid:
        return pa.array([b.decode("utf-8", "replace") for b in col.to_pylist()], pa.string())


def _numbers(col: pa.Array) -> np.ndarray:
    values, missing, bad = coerce.numbers(_text(col), len(col))
    values = values.astype(np.float64, copy=True)
    for mask in (missing, bad):
        if mask is not None:
            values[mask] = np.nan
    return values


def _timestamps(col: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    text = pc.utf8_trim(_text(col), '"')
    ms, missing, bad = coerce.timestamps(text, len(col))
    unusable = np.zeros(len(col), dtype=bool)
    for mask in (missing, bad):
        if mask is not None:
            unusable |= mask
    unusable |= np.abs(ms) > MAX_ABS_MS
    return np.where(unusable, 0, ms), unusable


def _combine(scores: np.ndarray) -> np.ndarray:
    """One score from several columns' (k x n), calibrated like one (Šidák).

    Under independence the largest of m scores exceeds T with probability about m (1 - T);
    raising it to the power m brings that back to 1 - T.
    """
    if scores.shape[0] == 1:
        return scores[0]
    m = np.count_nonzero(~np.isnan(scores), axis=0)
    top = np.max(np.where(np.isnan(scores), -np.inf, scores), axis=0)
    with np.errstate(invalid="ignore"):
        return np.where(m > 0, np.power(np.maximum(top, 0.0), m), np.nan)


def _render(fields: _Fields, score: np.ndarray, flags: np.ndarray, sep: bytes) -> bytes:
    """The block's output rows, joined by pyarrow (no Python per row)."""
    if len(score) == 0:
        return b""
    text = pc.cast(pa.array(np.round(score, SCORE_DECIMALS), from_pandas=True), pa.string())
    text = pc.fill_null(text, "").cast(pa.binary())
    flag = pa.array(np.where(flags, "true", "false")).cast(pa.binary())
    line_end = pa.array(np.full(len(score), ""), pa.binary())
    rows = pc.binary_join_element_wise(
        fields.timestamp.cast(pa.binary()), fields.first_value.cast(pa.binary()), text, flag, sep
    )
    rows = pc.binary_join_element_wise(rows, line_end, pa.scalar(b"\n", pa.binary()))
    offsets = np.frombuffer(rows.buffers()[1], dtype=np.int32)
    start, stop = offsets[rows.offset], offsets[rows.offset + len(rows)]
    return rows.buffers()[2].to_pybytes()[start:stop]
