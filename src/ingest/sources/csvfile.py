"""CSV files of readings, read in blocks of lines.

The first line is the header; it must name ``entity_id``, ``metric``, ``ts`` and
``value`` (in any order; other columns are ignored; a missing one makes every row a
``missing_field`` reject downstream). One record per line: a line with the wrong number
of fields, invalid UTF-8 or a carriage return inside it is rejected as
``malformed_record`` and the lines around it survive. Lines of only spaces and tabs are
skipped.

Clean blocks (valid UTF-8, no stray carriage return) are parsed by pyarrow's CSV reader,
first with ``ts`` and ``value`` converted by pyarrow (fast); once a block holds a value
pyarrow will not convert, the rest of the file keeps every field as text so that
validation can say what did not parse. Lines of a dirty block are sorted first (bad
ones rejected), and lines pyarrow cannot map one to one onto rows (an unbalanced quote
joins lines) are parsed one by one with :mod:`csv`: slow, but exact.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ingest.rawbatch import RawBatch, rebatch
from ingest.rejects import Reason, rejects_table
from ingest.schema import COLUMNS
from ingest.sources.textblocks import (
    DEFAULT_BLOCK_BYTES,
    LongLine,
    TextBlock,
    count_lines,
    is_blank,
    is_clean,
    iter_text_blocks,
    long_line_batch,
    split_lines,
)


def iter_csv(
    path: Path, batch_rows: int, block_bytes: int = DEFAULT_BLOCK_BYTES
) -> Iterator[RawBatch]:
    """Yield the rows of one CSV file in batches of ``batch_rows`` rows (the last shorter)."""
    yield from rebatch(_blocks(path, block_bytes), batch_rows)


def _blocks(path: Path, block_bytes: int) -> Iterator[RawBatch]:
    """One raw batch per block of lines."""
    source = str(path)
    with open(path, "rb") as stream:
        blocks = iter_text_blocks(stream, block_bytes)
        parser: _FileParser | None = None
        for item in blocks:
            if isinstance(item, LongLine):
                if parser is None:
                    parser = _FileParser([])  # unusable header: every row lacks every column
                    continue
                yield long_line_batch(item, source)
                continue
            if parser is None:
                first, _, rest = item.data.partition(b"\n")
                parser = _FileParser.from_header(first)
                item = TextBlock(rest, item.first_line + 1)
                if not rest:
                    continue
            yield parser.parse_block(item, source)


class _FileParser:
    """How to parse the blocks of one file: its header's columns, typed or text."""

    def __init__(self, names: list[str]) -> None:
        self.ncols = len(names)
        self.index: dict[str, int] = {}
        for i, name in enumerate(names):
            if name in COLUMNS and name not in self.index:
                self.index[name] = i
        # Try pyarrow's own number and time conversion until a block refuses it.
        self.typed = True

    @classmethod
    def from_header(cls, line: bytes) -> _FileParser:
        text = line.rstrip(b"\r").decode("utf-8", "replace")
        try:
            names = next(csv.reader([text]), [])
        except csv.Error:
            names = []
        return cls([n.strip() for n in names])

    def parse_block(self, block: TextBlock, source: str) -> RawBatch:
        if self.ncols > 1 and is_clean(block.data):
            fast = self._with_arrow(block.data, block.first_line, None, source)
            if fast is not None:
                return fast
        return self._dirty(block, source)

    def _with_arrow(
        self, data: bytes, first_line: int, numbers: np.ndarray | None, source: str
    ) -> RawBatch | None:
        """Parse clean lines with pyarrow; None if rows do not map one to one onto lines.

        ``numbers`` gives the file line number of each line of ``data`` (default:
        consecutive from ``first_line``).
        """
        parsed = self._read(data, typed=self.typed)
        if parsed is None and self.typed:
            self.typed = False  # a value pyarrow would not convert: text from now on
            parsed = self._read(data, typed=False)
        if parsed is None:
            return None
        table, invalid = parsed
        n_lines = count_lines(data)
        if table.num_rows + len(invalid) != n_lines or any(
            not 1 <= num <= n_lines for num, _ in invalid
        ):
            return None  # a quote joined lines: only the line-by-line path can tell
        if numbers is None:
            numbers = np.arange(first_line, first_line + n_lines, dtype=np.int64)
        keep = np.ones(n_lines, dtype=bool)
        keep[[num - 1 for num, _ in invalid]] = False
        columns = {col: table.column(f"f{i}").combine_chunks() for col, i in self.index.items()}
        drop = _empty_line_rows(data, table, np.flatnonzero(keep))
        if drop is not None:
            columns = {col: arr.filter(pa.array(~drop)) for col, arr in columns.items()}
            keep[np.flatnonzero(keep)[drop]] = False
        bad = [(int(numbers[num - 1]), text) for num, text in invalid if text.strip(" \t")]
        rejects = rejects_table(
            [Reason.MALFORMED_RECORD] * len(bad),
            source,
            [num for num, _ in bad],
            [text for _, text in bad],
            [self._count_detail(text) for _, text in bad],
        )
        return RawBatch(columns, source, numbers[keep], rejects)

    def _read(self, data: bytes, typed: bool) -> tuple[pa.Table, list[tuple[int, str]]] | None:
        invalid: list[tuple[int, str]] = []

        def on_invalid(row: pacsv.InvalidRow) -> str:
            text = row.text[:-1] if row.text.endswith("\r") else row.text
            invalid.append((-1 if row.number is None else row.number, text))
            return "skip"

        names = [f"f{i}" for i in range(self.ncols)]
        types = {f"f{i}": pa.string() for i in self.index.values()}
        if typed:
            if "ts" in self.index:
                types[f"f{self.index['ts']}"] = pa.timestamp("ms", "UTC")
            if "value" in self.index:
                types[f"f{self.index['value']}"] = pa.float64()
        try:
            table = pacsv.read_csv(
                io.BytesIO(data),
                # One thread: pyarrow gives line numbers of invalid rows only then.
                read_options=pacsv.ReadOptions(
                    column_names=names, use_threads=False, block_size=len(data) + 64
                ),
                parse_options=pacsv.ParseOptions(
                    invalid_row_handler=on_invalid,
                    newlines_in_values=False,
                    ignore_empty_lines=False,
                ),
                convert_options=pacsv.ConvertOptions(
                    column_types=types,
                    include_columns=list(types) or [names[0]],
                    null_values=[""],
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                ),
            )
        except pa.ArrowException:
            return None
        return table, invalid

    def _dirty(self, block: TextBlock, source: str) -> RawBatch:
        """A block with invalid UTF-8 or stray carriage returns: sort its lines first."""
        good: list[bytes] = []
        numbers: list[int] = []
        bad: list[tuple[int, str, str]] = []
        for offset, raw in enumerate(split_lines(block.data)):
            if is_blank(raw):
                continue
            number = block.first_line + offset
            problem = _line_problem(raw)
            if problem:
                bad.append((number, raw.decode("utf-8", "backslashreplace"), problem))
            else:
                good.append(raw)
                numbers.append(number)
        parsed = None
        if good and self.ncols > 1:
            data = b"\n".join(good) + b"\n"
            parsed = self._with_arrow(data, 0, np.array(numbers, dtype=np.int64), source)
        if parsed is None:
            parsed = self._line_by_line(good, numbers, source)
        if not bad:
            return parsed
        extra = rejects_table(
            [Reason.MALFORMED_RECORD] * len(bad),
            source,
            [b[0] for b in bad],
            [b[1] for b in bad],
            [b[2] for b in bad],
        )
        rejects = pa.concat_tables([parsed.rejects, extra]).sort_by("position")
        return RawBatch(parsed.columns, source, parsed.position, rejects)

    def _line_by_line(self, lines: list[bytes], numbers: list[int], source: str) -> RawBatch:
        values: dict[str, list[str]] = {col: [] for col in self.index}
        positions: list[int] = []
        reasons, bad_positions, records, details = [], [], [], []
        for raw, number in zip(lines, numbers, strict=True):
            text = raw.decode("utf-8")
            try:
                fields = next(csv.reader([text]), [])
                problem = ""
            except csv.Error as exc:
                fields, problem = [], f"not a CSV line: {exc}"
            if not problem and self.ncols and len(fields) != self.ncols:
                problem = f"{len(fields)} fields, the header has {self.ncols}"
            if problem:
                reasons.append(Reason.MALFORMED_RECORD)
                bad_positions.append(number)
                records.append(text)
                details.append(problem)
                continue
            positions.append(number)
            for col, i in self.index.items():
                values[col].append(fields[i])
        columns = {col: pa.array(vals, pa.string()) for col, vals in values.items()}
        rejects = rejects_table(reasons, source, bad_positions, records, details)
        return RawBatch(columns, source, np.array(positions, dtype=np.int64), rejects)

    def _count_detail(self, text: str) -> str:
        try:
            n = len(next(csv.reader([text.replace("\r", "").replace("\n", " ")]), []))
        except csv.Error:
            return "not a CSV line"
        return f"{n} fields, the header has {self.ncols}"


def _line_problem(raw: bytes) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"invalid UTF-8 at byte {exc.start}"
    if "\r" in text:
        return "carriage return inside the line"
    return ""


def _empty_line_rows(data: bytes, table: pa.Table, row_lines: np.ndarray) -> np.ndarray | None:
    """Rows pyarrow made of empty lines (it reads one as a row of empty fields)."""
    blank = None
    for col in table.columns:
        empty = pc.equal(col, "") if pa.types.is_string(col.type) else pc.is_null(col)
        blank = empty if blank is None else pc.and_(blank, empty)
    if blank is None or not pc.any(blank).as_py():
        return None
    empty_lines = _empty_lines(data)
    return np.isin(row_lines, empty_lines) & blank.to_numpy(zero_copy_only=False)


def _empty_lines(data: bytes) -> np.ndarray:
    """0-based indices of the zero-length lines of a block (a lone ``\\r`` counts)."""
    buf = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(buf == 10)
    starts = np.concatenate(([0], ends[:-1] + 1)).astype(np.int64)
    length = ends - starts
    lone_cr = (length == 1) & (buf[np.minimum(starts, max(len(buf) - 1, 0))] == 13)
    return np.flatnonzero((length == 0) | lone_cr)
