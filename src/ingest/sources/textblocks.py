"""Cutting a text file into blocks of whole lines, with line numbers, in bounded memory.

Memory stays below about three times ``block_bytes`` whatever the file holds: a line
longer than ``block_bytes`` is not kept but reported as :class:`LongLine` (its first
bytes only), and the reader moves on to the next line.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import pyarrow as pa

from ingest.rawbatch import RawBatch
from ingest.rejects import Reason, rejects_table

DEFAULT_BLOCK_BYTES = 1 << 20
BOM = b"\xef\xbb\xbf"
_HEAD = 200  # bytes of an over-long line kept for the dead-letter record


@dataclass(frozen=True, slots=True)
class TextBlock:
    """Whole lines (each ends with ``\\n`` except maybe the file's last one)."""

    data: bytes
    first_line: int  # 1-based number of the first line in data

    @property
    def n_lines(self) -> int:
        return count_lines(self.data)


def count_lines(data: bytes) -> int:
    """Lines in a block of whole lines."""
    newlines = int(np.count_nonzero(np.frombuffer(data, dtype=np.uint8) == 10))
    return newlines + (0 if data.endswith(b"\n") or not data else 1)


def is_clean(data: bytes) -> bool:
    """Valid UTF-8, and every carriage return ends a CRLF line end: fit for pyarrow."""
    if b"\r" in data and data.count(b"\r") != data.count(b"\r\n"):
        return False
    offsets = pa.py_buffer(np.array([0, len(data)], dtype=np.int64))
    utf8 = pa.Array.from_buffers(pa.large_string(), 1, [None, offsets, pa.py_buffer(data)])
    try:
        utf8.validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


@dataclass(frozen=True, slots=True)
class LongLine:
    """A line longer than the block size: only its start is kept."""

    line: int
    head: bytes


def iter_text_blocks(
    stream: BinaryIO, block_bytes: int = DEFAULT_BLOCK_BYTES
) -> Iterator[TextBlock | LongLine]:
    """Yield blocks of whole lines and over-long lines, in file order.

    A UTF-8 byte order mark at the start of the file is dropped.
    """
    leftover = b""
    line = 1
    skipping: bytes | None = None  # head of the over-long line being skipped
    first = True
    while True:
        chunk = stream.read(block_bytes)
        if first:
            first = False
            if chunk.startswith(BOM):
                chunk = chunk[len(BOM) :]
        if not chunk:
            break
        if skipping is not None:
            nl = chunk.find(b"\n")
            if nl < 0:
                continue
            yield LongLine(line, skipping)
            line += 1
            skipping = None
            chunk = chunk[nl + 1 :]
        buf = leftover + chunk
        cut = buf.rfind(b"\n")
        if cut < 0:
            if len(buf) > block_bytes:
                skipping, leftover = buf[:_HEAD], b""
            else:
                leftover = buf
            continue
        block, leftover = buf[: cut + 1], buf[cut + 1 :]
        # Only the first line of a block can be longer than block_bytes: the others lie
        # inside one chunk.
        first_nl = block.find(b"\n")
        if first_nl > block_bytes:
            yield LongLine(line, block[:_HEAD])
            line += 1
            block = block[first_nl + 1 :]
        if block:
            yield TextBlock(block, line)
            line += count_lines(block)
        if len(leftover) > block_bytes:
            skipping, leftover = leftover[:_HEAD], b""
    if skipping is not None:
        yield LongLine(line, skipping)
    elif leftover:
        yield TextBlock(leftover, line)


def split_lines(data: bytes) -> list[bytes]:
    """The lines of a block without their ``\\n`` (and without one trailing ``\\r``)."""
    lines = data.split(b"\n")
    if data.endswith(b"\n"):
        lines.pop()
    return [ln[:-1] if ln.endswith(b"\r") else ln for ln in lines]


def is_blank(line: bytes) -> bool:
    """A line of nothing but spaces and tabs carries no record and is skipped."""
    return not line.strip(b" \t")


def long_line_batch(item: LongLine, source: str) -> RawBatch:
    """A batch holding only the rejection of an over-long line."""
    rejects = rejects_table(
        [Reason.MALFORMED_RECORD],
        source,
        [item.line],
        [item.head.decode("utf-8", "backslashreplace")],
        ["line longer than the read block; skipped"],
    )
    return RawBatch({}, source, np.empty(0, dtype=np.int64), rejects)
