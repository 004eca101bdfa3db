"""Files of a simulated province: readings (Parquet, one row group per day), the entity
registry (CSV, as in docs/data-files.md), the truth file and the summary."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ingest.catalogue import METRIC_NAMES
from ingest.schema import READING_SCHEMA
from ingest.simulator.events import Event
from ingest.simulator.registry_rows import ExemptionRow, StatusRow
from ingest.simulator.timeline import MS_PER_MINUTE, Timeline

ENTITY_COLUMNS = (
    "entity_id",
    "name",
    "county",
    "industry",
    "kind",
    "pressure_low_kpa",
    "pressure_high_kpa",
    "warning_level_m",
    "guarantee_level_m",
    "flood_limit_level_m",
    "eco_flow_m3s",
    "register_max_kwh",
)
STATUS_COLUMNS = ("entity_id", "status", "effective_from", "effective_to")
EXEMPTION_COLUMNS = (
    "exemption_id",
    "entity_id",
    "region",
    "rules",
    "start",
    "end",
    "reason",
    "approver",
)
TRUTH_COLUMNS = ("event_id", "category", "label", "entity_id", "county", "start", "end", "detail")
_METRIC_BITS = 8  # metric codes < 8 in the sort key


class ReadingWriter:
    """Appends one day of readings at a time, sorted by ts then entity_id.

    Entities are given as row numbers into ``entity_ids``, which must be sorted, so that
    sorting by row number is sorting by id.
    """

    def __init__(self, path: Path, entity_ids: np.ndarray) -> None:
        if entity_ids.size > 1 and not np.all(entity_ids[:-1] < entity_ids[1:]):
            raise ValueError("entity ids must be unique and sorted")
        if len(METRIC_NAMES) > _METRIC_BITS:
            raise ValueError("the sort key has room for 8 metrics")
        self._ids = pa.array(entity_ids, pa.string())
        self._n = entity_ids.size
        self._metrics = pa.array(METRIC_NAMES, pa.string())
        # LZ4 decodes about a third faster than zstd for 11 % more bytes: the file exists
        # to be replayed, so its read is on the replay's hot path
        self._writer = pq.ParquetWriter(
            path, READING_SCHEMA, compression="lz4", use_byte_stream_split=["value"]
        )
        self.rows_by_metric = np.zeros(len(METRIC_NAMES), dtype=np.int64)
        self.row_groups = 0

    def write_day(
        self,
        day_start_ms: int,
        entity: np.ndarray,
        minute: np.ndarray,
        metric: np.ndarray,
        value: np.ndarray,
    ) -> None:
        """One day's readings: ``ts = day_start_ms + minute`` (minutes 1..1440)."""
        if entity.size == 0:
            return
        key = (minute.astype(np.int64) * self._n + entity) * _METRIC_BITS + metric
        order = np.argsort(key)
        metric = metric[order]
        table = pa.Table.from_arrays(
            [
                self._ids.take(pa.array(entity[order])),
                pa.DictionaryArray.from_arrays(pa.array(metric.astype(np.int32)), self._metrics),
                pa.array(
                    day_start_ms + minute[order].astype(np.int64) * MS_PER_MINUTE,
                    pa.timestamp("ms", tz="UTC"),
                ),
                pa.array(value[order], pa.float64()),
            ],
            schema=READING_SCHEMA,
        )
        self._writer.write_table(table, row_group_size=table.num_rows)
        self.rows_by_metric += np.bincount(metric, minlength=len(METRIC_NAMES))
        self.row_groups += 1

    def close(self) -> None:
        self._writer.close()

    def __enter__(self) -> ReadingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _number(x: float) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, ".10g")


def _write_csv(path: Path, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> int:
    count = 0
    with path.open("w", encoding="utf-8", newline="") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(columns)
        for row in rows:
            out.writerow(row)
            count += 1
    return count


def write_entities(path: Path, rows: Iterable[dict[str, object]]) -> int:
    """``entities.csv``; missing optional columns are left empty."""
    return _write_csv(
        path,
        ENTITY_COLUMNS,
        (
            [
                _number(row[c]) if isinstance(row.get(c), float) else row.get(c, "")
                for c in ENTITY_COLUMNS
            ]
            for row in rows
        ),
    )


def write_statuses(path: Path, rows: Sequence[StatusRow], timeline: Timeline) -> int:
    return _write_csv(
        path,
        STATUS_COLUMNS,
        (
            [
                s.entity_id,
                s.status,
                timeline.iso_local(s.start),
                "" if s.end is None else timeline.iso_local(s.end),
            ]
            for s in rows
        ),
    )


def write_exemptions(path: Path, rows: Sequence[ExemptionRow], timeline: Timeline) -> int:
    return _write_csv(
        path,
        EXEMPTION_COLUMNS,
        (
            [
                x.exemption_id,
                x.entity_id,
                x.region,
                x.rules,
                timeline.iso_local(x.start),
                timeline.iso_local(x.end),
                x.reason,
                x.approver,
            ]
            for x in rows
        ),
    )


def write_truth(
    path: Path, events: Sequence[Event], county_of: dict[str, str], timeline: Timeline
) -> int:
    """``truth.csv``: events ordered by start, entity and label, numbered in that order."""
    ordered = sorted(events, key=lambda e: (e.start, e.entity_id, e.label, e.end))
    return _write_csv(
        path,
        TRUTH_COLUMNS,
        (
            [
                f"EV{i + 1:06d}",
                e.category,
                e.label,
                e.entity_id,
                county_of[e.entity_id],
                timeline.iso_utc(e.start),
                timeline.iso_utc(e.end),
                e.detail_text(),
            ]
            for i, e in enumerate(ordered)
        ),
    )


def write_json(path: Path, content: dict[str, object]) -> None:
    path.write_text(json.dumps(content, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
