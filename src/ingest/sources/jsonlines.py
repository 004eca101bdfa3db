"""JSON-lines files of readings: one JSON object per line.

A line that is not valid UTF-8, does not parse, or is not an object is rejected as
``malformed_record`` and the lines around it survive. Blank lines are skipped. Keys
other than the four reading fields are ignored; a missing key or ``null`` is a missing
field.

Blocks of clean object lines that pyarrow's JSON reader takes whole keep the types it
infers (numbers stay numbers); any other block is parsed line by line with :mod:`json`,
fields as text.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.json as pajson

from ingest.rawbatch import RawBatch, rebatch
from ingest.rejects import Reason, rejects_table
from ingest.schema import COLUMNS
from ingest.sources.textblocks import (
    DEFAULT_BLOCK_BYTES,
    LongLine,
    TextBlock,
    is_blank,
    is_clean,
    iter_text_blocks,
    long_line_batch,
    split_lines,
)


def iter_jsonl(
    path: Path, batch_rows: int, block_bytes: int = DEFAULT_BLOCK_BYTES
) -> Iterator[RawBatch]:
    """Yield the rows of one JSON-lines file in batches of ``batch_rows`` rows (last shorter)."""
    yield from rebatch(_blocks(path, block_bytes), batch_rows)


def _blocks(path: Path, block_bytes: int) -> Iterator[RawBatch]:
    """One raw batch per block of lines."""
    source = str(path)
    with open(path, "rb") as stream:
        for item in iter_text_blocks(stream, block_bytes):
            if isinstance(item, LongLine):
                yield long_line_batch(item, source)
            else:
                yield parse_block(item, source)


def parse_block(block: TextBlock, source: str) -> RawBatch:
    """The JSON-object lines of one block as a raw batch; positions are line numbers."""
    return _parse_with_arrow(block, source) or _parse_line_by_line(block, source)


def _parse_with_arrow(block: TextBlock, source: str) -> RawBatch | None:
    """The whole block through pyarrow, or None when it holds anything unusual."""
    if not (is_clean(block.data) and _lines_open_objects(block.data)):
        return None
    try:
        table = pajson.read_json(
            io.BytesIO(block.data),
            read_options=pajson.ReadOptions(use_threads=False, block_size=len(block.data) + 64),
            parse_options=pajson.ParseOptions(newlines_in_values=False),
        )
    except pa.ArrowException:
        return None
    if table.num_rows != block.n_lines:
        return None  # blank lines: positions are only known line by line
    columns = {
        col: table.column(col).combine_chunks() for col in COLUMNS if col in table.column_names
    }
    positions = np.arange(block.first_line, block.first_line + table.num_rows, dtype=np.int64)
    return RawBatch(columns, source, positions)


def _lines_open_objects(data: bytes) -> bool:
    """Every line starts with ``{``.

    Anything else goes line by line: besides telling non-objects apart, this keeps
    pyarrow 26's JSON reader away from a block starting with a ``null`` line, on which
    it crashes the process.
    """
    buf = np.frombuffer(data, dtype=np.uint8)
    starts = np.flatnonzero(buf[:-1] == 10) + 1
    return bool(buf.size and buf[0] == 0x7B and (buf[starts] == 0x7B).all())


def _parse_line_by_line(block: TextBlock, source: str) -> RawBatch:
    items = [
        (raw, block.first_line + offset)
        for offset, raw in enumerate(split_lines(block.data))
        if not is_blank(raw)
    ]
    return objects_batch(
        [raw for raw, _ in items],
        [number for _, number in items],
        source,
        lambda raw: raw.decode("utf-8", "backslashreplace"),
    )


def objects_batch(
    raws: Sequence[bytes],
    positions: Sequence[int],
    source: str,
    record_text: Callable[[bytes], str | None],
) -> RawBatch:
    """A raw batch from JSON objects one by one (fields as text); anything that is not a
    JSON object is a ``malformed_record`` reject showing ``record_text(raw)``.

    The slow, exact path shared by JSON-lines files and message sources (Kafka, MQTT).
    """
    values: dict[str, list[str | None]] = {col: [] for col in COLUMNS}
    kept: list[int] = []
    reasons, bad_positions, records, details = [], [], [], []
    for raw, number in zip(raws, positions, strict=True):
        obj, problem = _load(raw)
        if obj is None:
            reasons.append(Reason.MALFORMED_RECORD)
            bad_positions.append(number)
            records.append(record_text(raw))
            details.append(problem)
            continue
        kept.append(number)
        for col in COLUMNS:
            values[col].append(_as_text(obj.get(col)))
    columns = {col: pa.array(vals, pa.string()) for col, vals in values.items()}
    rejects = rejects_table(reasons, source, bad_positions, records, details)
    return RawBatch(columns, source, np.array(kept, dtype=np.int64), rejects)


def _load(raw: bytes) -> tuple[dict[str, object] | None, str]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, f"invalid UTF-8 at byte {exc.start}"
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError) as exc:
        return None, f"not JSON: {str(exc)[:120]}"
    if not isinstance(obj, dict):
        return None, f"a JSON {type(obj).__name__}, not an object"
    return obj, ""


def _as_text(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False)
    except ValueError:  # a number too large to print under Python's digit limit
        return "<unprintable number>"
