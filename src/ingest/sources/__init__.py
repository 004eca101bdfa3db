"""Reading files of readings as a stream of bounded raw batches.

Supported: CSV (``.csv``), Parquet (``.parquet``, ``.pq``), Arrow IPC file or stream
format (``.arrow``, ``.feather``, ``.ipc``, ``.arrows``) and JSON lines (``.jsonl``,
``.ndjson``). A directory is read recursively, files in order of their path; files with
other suffixes and hidden files (name starting with ``.``) are not readings and are
skipped. Memory stays bounded whatever the file size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from dianyan.errors import SchemaError
from ingest.rawbatch import RawBatch
from ingest.sources.binary import iter_arrow_ipc, iter_parquet
from ingest.sources.csvfile import iter_csv
from ingest.sources.jsonlines import iter_jsonl

__all__ = ["DEFAULT_BATCH_ROWS", "READERS", "RawBatch", "iter_raw_batches", "reading_files"]

DEFAULT_BATCH_ROWS = 1 << 16

READERS: dict[str, Callable[[Path, int], Iterator[RawBatch]]] = {
    ".csv": iter_csv,
    ".parquet": iter_parquet,
    ".pq": iter_parquet,
    ".arrow": iter_arrow_ipc,
    ".arrows": iter_arrow_ipc,
    ".feather": iter_arrow_ipc,
    ".ipc": iter_arrow_ipc,
    ".jsonl": iter_jsonl,
    ".ndjson": iter_jsonl,
}


def iter_raw_batches(path: str | Path, batch_rows: int = DEFAULT_BATCH_ROWS) -> Iterator[RawBatch]:
    """Yield the rows of a file, or of every readings file under a directory, in batches.

    Each batch holds at most ``batch_rows`` rows of one file. Raises :class:`SchemaError`
    when ``path`` does not exist or is a file of an unsupported type.
    """
    if batch_rows < 1:
        raise ValueError(f"batch_rows must be at least 1, got {batch_rows}")
    for file in reading_files(path):
        yield from READERS[file.suffix.lower()](file, batch_rows)


def reading_files(path: str | Path) -> list[Path]:
    """The readings files ``path`` names: itself, or those under it sorted by path."""
    root = Path(path)
    if root.is_dir():
        return sorted(
            p
            for p in root.rglob("*")
            if p.is_file()
            and p.suffix.lower() in READERS
            and not any(part.startswith(".") for part in p.relative_to(root).parts)
        )
    if not root.exists():
        raise SchemaError(
            f"{root}: no such file or directory; pass a readings file or a directory of them."
        )
    if root.suffix.lower() not in READERS:
        raise SchemaError(
            f"{root}: unsupported file type {root.suffix!r}; use one of "
            f"{', '.join(sorted(READERS))} (see docs/data-files.md)."
        )
    return [root]
