"""A progress bar for long replays: on stderr, only on a terminal or when asked for."""

from __future__ import annotations

import sys
import time
from typing import TextIO

import pyarrow.parquet as pq

from ingest.sources import reading_files

_WIDTH = 28
_EVERY_S = 0.2


def count_readings(path: str) -> int | None:
    """Rows of the readings under ``path`` when the files say so (Parquet), else None."""
    total = 0
    for file in reading_files(path):
        if file.suffix.lower() not in (".parquet", ".pq"):
            return None
        total += pq.ParquetFile(file).metadata.num_rows
    return total


class Progress:
    """``advance(n)`` as readings go by; the bar redraws at most five times a second."""

    def __init__(
        self, label: str, total: int | None, stream: TextIO | None = None, force: bool = False
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = force or self.stream.isatty()
        self.label = label
        self.total = total
        self.done = 0
        self._started = time.perf_counter()
        self._drawn = 0.0

    def advance(self, n: int) -> None:
        self.done += n
        now = time.perf_counter()
        if self.enabled and now - self._drawn >= _EVERY_S:
            self._drawn = now
            self._draw(now)

    def close(self) -> None:
        if self.enabled:
            self._draw(time.perf_counter())
            self.stream.write("\n")
            self.stream.flush()

    def _draw(self, now: float) -> None:
        rate = self.done / max(now - self._started, 1e-9)
        if self.total:
            share = min(self.done / self.total, 1.0)
            filled = round(share * _WIDTH)
            bar = f"[{'#' * filled}{'.' * (_WIDTH - filled)}] {share:4.0%} "
            count = f"{self.done:,}/{self.total:,}"
        else:
            bar, count = "", f"{self.done:,}"
        self.stream.write(f"\r{self.label} {bar}{count} readings, {rate:,.0f}/s")
        self.stream.flush()
