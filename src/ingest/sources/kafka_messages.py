"""Kafka message payloads of readings as raw batches, validated afterwards like files.

Two payloads share the readings topic, told apart by their first bytes:

- one reading as a JSON object (what devices send), e.g.
  ``{"entity_id": "E1", "metric": "electricity.kwh", "ts": 1767225600000, "value": 3.2}``;
- many readings as an Arrow IPC stream (what bulk feeds and ``dianyan replay`` send),
  with the reading columns (other columns are ignored, types are converted by validation).

Consecutive JSON messages are parsed together: joined as JSON lines and read by
pyarrow's JSON reader in one call, or line by line when the block holds anything
unusual, so a bad message is rejected on its own and its neighbours survive. Anything
that is neither (garbage bytes, an empty message, a truncated Arrow stream) becomes one
``malformed_record`` reject with the reason in its detail.

Positions: for JSON readings the row's ``position`` is the Kafka offset and ``source``
is ``kafka:TOPIC/PARTITION``; for an Arrow batch ``source`` is
``kafka:TOPIC/PARTITION@OFFSET`` and ``position`` the row index inside the batch.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.json as pajson

from ingest.rawbatch import RawBatch
from ingest.rejects import Reason, rejects_table
from ingest.schema import COLUMNS
from ingest.sources.jsonlines import objects_batch
from ingest.sources.textblocks import is_clean

__all__ = ["ARROW_STREAM_PREFIX", "decode_messages", "encode_arrow", "is_arrow"]

#: An Arrow IPC stream starts with the continuation marker; an IPC file with ``ARROW1``.
ARROW_STREAM_PREFIX = b"\xff\xff\xff\xff"
_ARROW_FILE_PREFIX = b"ARROW1"
_WHITESPACE = b" \t\r\n"
_HEAD = 200  # bytes of an unreadable message kept in its dead-letter record


def is_arrow(value: bytes) -> bool:
    """Whether a payload is an Arrow IPC stream (or file)."""
    return value.startswith(ARROW_STREAM_PREFIX) or value.startswith(_ARROW_FILE_PREFIX)


def encode_arrow(table: pa.Table, compression: str | None = None) -> bytes:
    """A table as one Arrow IPC stream payload (``compression``: None, "lz4" or "zstd")."""
    sink = io.BytesIO()
    options = ipc.IpcWriteOptions(compression=compression)
    with ipc.new_stream(sink, table.schema, options=options) as writer:
        writer.write_table(table)
    return sink.getvalue()


def decode_messages(
    values: Sequence[bytes | None], offsets: Sequence[int], source: str
) -> list[RawBatch]:
    """Raw batches of the messages, in message order; rejects carry their reason.

    ``source`` names the partition, e.g. ``kafka:dianyan-readings/3``.
    """
    out: list[RawBatch] = []
    json_values: list[bytes] = []
    json_offsets: list[int] = []
    bad: list[tuple[int, bytes | None, str]] = []

    def flush_json() -> None:
        if json_values:
            out.append(_json_batch(json_values, json_offsets, source))
            json_values.clear()
            json_offsets.clear()

    for value, offset in zip(values, offsets, strict=True):
        body = value.strip(_WHITESPACE) if value else b""
        if body.startswith(b"{"):
            json_values.append(body)
            json_offsets.append(offset)
        elif is_arrow(body):
            flush_json()
            out.append(_arrow_batch(body, f"{source}@{offset}"))
        else:
            bad.append((offset, value, _why_unreadable(body)))
    flush_json()
    if bad:
        offsets_bad, raws, details = zip(*bad, strict=True)
        rejects = rejects_table(
            [Reason.MALFORMED_RECORD] * len(bad),
            source,
            list(offsets_bad),
            [_head(r) for r in raws],
            list(details),
        )
        out.append(RawBatch({}, source, np.empty(0, dtype=np.int64), rejects))
    return out


def _why_unreadable(body: bytes) -> str:
    if not body:
        return "empty message: expected a JSON object or an Arrow IPC stream"
    return "neither a JSON object nor an Arrow IPC stream"


def _head(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    return raw[:_HEAD].decode("utf-8", "backslashreplace")


# -- Arrow ---------------------------------------------------------------------------------


def _arrow_batch(body: bytes, source: str) -> RawBatch:
    try:
        buf = pa.py_buffer(body)
        if body.startswith(_ARROW_FILE_PREFIX):
            reader = ipc.open_file(buf)
            table = reader.read_all()
        else:
            table = ipc.open_stream(buf).read_all()
    except (pa.ArrowException, OSError, ValueError) as exc:
        rejects = rejects_table(
            [Reason.MALFORMED_RECORD],
            source,
            [0],
            [None],
            [f"unreadable Arrow IPC batch ({str(exc)[:200]}); the whole message is skipped"],
        )
        return RawBatch({}, source, np.empty(0, dtype=np.int64), rejects)
    columns = {c: table.column(c).combine_chunks() for c in COLUMNS if c in table.column_names}
    return RawBatch(columns, source, np.arange(table.num_rows, dtype=np.int64))


# -- JSON ----------------------------------------------------------------------------------


def _json_batch(values: list[bytes], offsets: list[int], source: str) -> RawBatch:
    # Whitespace between JSON tokens may be a line break; inside a valid document a raw
    # line break can be nothing else, so spaces keep it valid and one message one line.
    lines = [v.replace(b"\n", b" ").replace(b"\r", b" ") if b"\n" in v or b"\r" in v else v
             for v in values]  # fmt: skip
    data = b"\n".join(lines) + b"\n"
    return _parse_with_arrow(data, offsets, source) or _parse_one_by_one(lines, offsets, source)


def _parse_with_arrow(data: bytes, offsets: list[int], source: str) -> RawBatch | None:
    """All lines through pyarrow's JSON reader, or None when it refuses any of them."""
    if not is_clean(data):
        return None
    try:
        table = pajson.read_json(
            io.BytesIO(data),
            read_options=pajson.ReadOptions(use_threads=False, block_size=len(data) + 64),
            parse_options=pajson.ParseOptions(newlines_in_values=False),
        )
    except pa.ArrowException:
        return None
    if table.num_rows != len(offsets):
        return None
    columns = {c: table.column(c).combine_chunks() for c in COLUMNS if c in table.column_names}
    return RawBatch(columns, source, np.asarray(offsets, dtype=np.int64))


def _parse_one_by_one(lines: list[bytes], offsets: list[int], source: str) -> RawBatch:
    """Fields as text, one message at a time; a message that does not parse is rejected."""
    return objects_batch(lines, offsets, source, _head)
