"""Files in, valid reading tables out, rejects to the dead-letter sink: what a runtime calls."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from ingest.deadletter import DeadLetterSink
from ingest.sources import DEFAULT_BATCH_ROWS, iter_raw_batches
from ingest.validate import Validator


def ingest_path(
    path: str | Path,
    validator: Validator,
    sink: DeadLetterSink,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> Iterator[pa.Table]:
    """Yield the valid readings of a file or directory, batch by batch (READING_SCHEMA).

    Every rejected record goes to ``sink`` before the batch it came from is yielded;
    batches with no valid reading are not yielded.
    """
    for raw in iter_raw_batches(path, batch_rows=batch_rows):
        result = validator.validate(raw)
        if result.rejects.num_rows:
            sink.write(result.rejects)
        if result.valid.num_rows:
            yield result.valid
