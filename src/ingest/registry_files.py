"""Reading and checking the entity registry's files: entities, status, exemptions.

Master data is read once, checked row by row, and turned into columns (numpy arrays)
that :class:`ingest.registry.Registry` serves to the hot path. Any inconsistency is
refused with a :class:`RegistryError` naming the file, the line (CSV) or row (Parquet),
the column, the value and what was expected. Times without an offset are China
Standard Time. The file format is described in docs/data-files.md.
"""

from __future__ import annotations

import csv
import datetime
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from dianyan.errors import RegistryError
from ingest.intervals import MAX_GROUP, OPEN_END
from ingest.schema import CST

ENTITY_KINDS: tuple[str, ...] = ("enterprise", "gas_station", "water_station")
STATUSES: tuple[str, ...] = ("normal", "suspended", "closed")
LIMIT_COLUMNS: tuple[str, ...] = (
    "pressure_low_kpa",
    "pressure_high_kpa",
    "warning_level_m",
    "guarantee_level_m",
    "flood_limit_level_m",
    "eco_flow_m3s",
    "register_max_kwh",
)
_CODE = re.compile(r"[a-z][a-z0-9_]*")
_COUNTY = re.compile(r"\d{6}")
_REGION = re.compile(r"\d{2}|\d{4}|\d{6}")
_HINT = "Fix the master data and load it again; the registry in force is unchanged."


def registry_error(where: str, column: str, value: object, expected: str) -> RegistryError:
    """The one wording of a refused registry value."""
    return RegistryError(
        f"{where}, column {column}: {value!r} is invalid; expected {expected}. {_HINT}"
    )


def parse_time(value: object) -> int | None:
    """UTC epoch ms of an ISO 8601 text, ``datetime`` or ms integer; None when empty.

    A text or ``datetime`` without an offset is China Standard Time.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        value = datetime.datetime.fromisoformat(value.strip())
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=CST)
        return (
            int(value.timestamp()) * 1000
            if value.microsecond == 0
            else round(value.timestamp() * 1000)
        )
    if isinstance(value, datetime.date):
        return parse_time(datetime.datetime.combine(value, datetime.time()))
    raise TypeError(f"cannot read {value!r} as a time")


class Sheet:
    """One registry table, with the row labels its error messages need."""

    def __init__(self, label: str, table: pa.Table, *, csv_lines: bool) -> None:
        self.label = label
        self.table = table
        self.csv_lines = csv_lines

    @classmethod
    def read(cls, path: Path) -> Sheet:
        """Read a CSV (UTF-8, every column as text) or Parquet file."""
        if path.suffix == ".parquet":
            return cls(path.name, pq.read_table(path), csv_lines=False)
        try:
            text = path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError as err:
            raise RegistryError(
                f"{path.name}: not UTF-8 text ({err.reason} at byte {err.start}). "
                "Save the file as UTF-8 (Excel: CSV UTF-8) and load it again."
            ) from None
        header = next(csv.reader(io.StringIO(text)), None)
        if not header:
            raise RegistryError(f"{path.name}: the file is empty; expected a header row. {_HINT}")
        table = pacsv.read_csv(
            io.BytesIO(text.encode("utf-8")),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in header}, strings_can_be_null=False
            ),
        )
        return cls(path.name, table, csv_lines=True)

    def __len__(self) -> int:
        return self.table.num_rows

    def where(self, i: int) -> str:
        """``entities.csv line 7`` (header is line 1) or ``entities.parquet row 6``."""
        return f"{self.label} line {i + 2}" if self.csv_lines else f"{self.label} row {i + 1}"

    def fail(self, i: int, column: str, value: object, expected: str) -> RegistryError:
        return registry_error(self.where(i), column, value, expected)

    def has(self, column: str) -> bool:
        return column in self.table.column_names

    def _require(self, column: str) -> None:
        if not self.has(column):
            raise RegistryError(
                f"{self.label}: column {column!r} is missing; the columns are "
                f"{self.table.column_names}. {_HINT}"
            )

    def text(self, column: str, *, required: bool = True) -> np.ndarray:
        """Stripped text per row; '' for an empty cell or an absent optional column."""
        if not self.has(column):
            if required:
                self._require(column)
            return np.full(len(self), "", dtype=object)
        values = self.table[column].to_pylist()
        return np.array(["" if v is None else str(v).strip() for v in values], dtype=object)

    def floats(self, column: str) -> np.ndarray:
        """float64 per row; NaN for an empty cell or an absent column."""
        if not self.has(column):
            return np.full(len(self), np.nan)
        out = np.full(len(self), np.nan)
        for i, v in enumerate(self.table[column].to_pylist()):
            if v is None or (isinstance(v, str) and not v.strip()):
                continue
            try:
                out[i] = float(v)
            except (TypeError, ValueError):
                raise self.fail(i, column, v, "a number") from None
            if not np.isfinite(out[i]):
                raise self.fail(i, column, v, "a finite number")
        return out

    def times(self, column: str, *, open_ended: bool) -> np.ndarray:
        """UTC ms per row; an empty cell is :data:`OPEN_END` if allowed, else refused."""
        self._require(column)
        out = np.empty(len(self), dtype=np.int64)
        # Parquet timestamps arrive as datetimes: naive ones are China Standard Time too.
        for i, v in enumerate(self.table[column].to_pylist()):
            try:
                ms = parse_time(v)
            except (TypeError, ValueError):
                raise self.fail(i, column, v, "an ISO 8601 time such as 2026-03-01T08:00") from None
            if ms is None and not open_ended:
                raise self.fail(i, column, v, "a time (this column cannot be empty)")
            out[i] = OPEN_END if ms is None else ms
        return out


def _check_unique(sheet: Sheet, column: str, values: np.ndarray) -> None:
    order = np.argsort(values, kind="stable")
    same = np.flatnonzero(values[order][1:] == values[order][:-1])
    if same.size:
        first, second = order[same[0]], order[same[0] + 1]
        raise sheet.fail(
            int(second),
            column,
            values[second],
            f"a unique value (already used at {sheet.where(int(first))})",
        )


def _check_each(
    sheet: Sheet, column: str, values: np.ndarray, ok: Callable[[str], bool], expected: str
) -> None:
    for i, v in enumerate(values):
        if not ok(v):
            raise sheet.fail(i, column, v, expected)


def _check_periods(sheet: Sheet, start: np.ndarray, end: np.ndarray, names: Sequence[str]) -> None:
    bad = np.flatnonzero(start >= end)
    if bad.size:
        i = int(bad[0])
        raise sheet.fail(i, names[1], sheet.text(names[1])[i], f"a time after {names[0]}")


def _known_entities(sheet: Sheet, ids: np.ndarray, rows: np.ndarray) -> None:
    unknown = np.flatnonzero(rows < 0)
    if unknown.size:
        i = int(unknown[0])
        raise sheet.fail(i, "entity_id", ids[i], "an entity_id listed in the entities file")


@dataclass(frozen=True, slots=True)
class EntityColumns:
    """Entity master data by row."""

    ids: np.ndarray
    name: np.ndarray
    county: np.ndarray
    industry: np.ndarray
    kind: np.ndarray
    limits: dict[str, np.ndarray]


@dataclass(frozen=True, slots=True)
class StatusColumns:
    """Status intervals ``[start, end)``; ``end`` is OPEN_END when open-ended."""

    row: np.ndarray
    code: np.ndarray
    start: np.ndarray
    end: np.ndarray


@dataclass(frozen=True, slots=True)
class ExemptionColumns:
    """Exemptions (报备); ``row`` is -1 and ``region`` set for a region-wide exemption."""

    ids: np.ndarray
    row: np.ndarray
    region: np.ndarray
    rules: np.ndarray  # frozenset of rule names per exemption; "*" means every rule
    start: np.ndarray
    end: np.ndarray
    reason: np.ndarray
    approver: np.ndarray


def read_entities(sheet: Sheet) -> EntityColumns:
    """Check and convert the entities file."""
    ids = sheet.text("entity_id")
    _check_each(sheet, "entity_id", ids, bool, "a non-empty id")
    _check_unique(sheet, "entity_id", ids)
    if len(ids) > MAX_GROUP + 1:
        raise RegistryError(f"{sheet.label}: {len(ids)} entities; at most {MAX_GROUP + 1}.")
    name = sheet.text("name")
    _check_each(sheet, "name", name, bool, "a non-empty display name")
    county = sheet.text("county")
    _check_each(sheet, "county", county, _COUNTY.fullmatch, "a 6-digit county code (行政区划代码)")
    industry = sheet.text("industry")
    _check_each(sheet, "industry", industry, _CODE.fullmatch, "a lower-case industry code")
    kind = sheet.text("kind")
    _check_each(sheet, "kind", kind, ENTITY_KINDS.__contains__, f"one of {list(ENTITY_KINDS)}")
    limits = {col: sheet.floats(col) for col in LIMIT_COLUMNS}
    low, high = limits["pressure_low_kpa"], limits["pressure_high_kpa"]
    for i in np.flatnonzero(low >= high):
        raise sheet.fail(int(i), "pressure_high_kpa", high[i], "more than pressure_low_kpa")
    for col in ("register_max_kwh", "eco_flow_m3s"):
        values = limits[col]
        for i in np.flatnonzero((values <= 0) if col == "register_max_kwh" else (values < 0)):
            raise sheet.fail(int(i), col, values[i], "a positive number")
    return EntityColumns(
        ids=ids.astype(str),
        name=name.astype(str),
        county=county.astype(str),
        industry=industry.astype(str),
        kind=kind.astype(str),
        limits=limits,
    )


def read_statuses(sheet: Sheet, row_of: Callable[[np.ndarray], np.ndarray]) -> StatusColumns:
    """Check and convert the status timeline; overlapping intervals are refused."""
    ids = sheet.text("entity_id")
    rows = row_of(ids.astype(str)) if len(ids) else np.empty(0, np.int64)
    _known_entities(sheet, ids, rows)
    status = sheet.text("status")
    _check_each(sheet, "status", status, STATUSES.__contains__, f"one of {list(STATUSES)}")
    start = sheet.times("effective_from", open_ended=False)
    end = sheet.times("effective_to", open_ended=True)
    _check_periods(sheet, start, end, ("effective_from", "effective_to"))
    order = np.lexsort((start, rows))
    clash = np.flatnonzero(
        (rows[order][1:] == rows[order][:-1]) & (start[order][1:] < end[order][:-1])
    )
    if clash.size:
        earlier, later = int(order[clash[0]]), int(order[clash[0] + 1])
        raise sheet.fail(
            later,
            "effective_from",
            sheet.text("effective_from")[later],
            f"no overlap with the interval of {ids[later]} at {sheet.where(earlier)}",
        )
    code = np.array([STATUSES.index(s) for s in status], dtype=np.int8)
    return StatusColumns(rows.astype(np.int64), code, start, end)


def _rules_ok(text: str) -> bool:
    parts = [p.strip() for p in text.split(";")]
    return bool(text) and all(p == "*" or _CODE.fullmatch(p) for p in parts)


def read_exemptions(sheet: Sheet, row_of: Callable[[np.ndarray], np.ndarray]) -> ExemptionColumns:
    """Check and convert exemptions; each names exactly one of entity_id or region."""
    ids = sheet.text("exemption_id")
    _check_each(sheet, "exemption_id", ids, bool, "a non-empty id")
    _check_unique(sheet, "exemption_id", ids)
    if not (sheet.has("entity_id") or sheet.has("region")):
        raise RegistryError(f"{sheet.label}: needs an entity_id or a region column. {_HINT}")
    entity = sheet.text("entity_id", required=False)
    region = sheet.text("region", required=False)
    for i in np.flatnonzero((entity == "") == (region == "")):
        raise sheet.fail(
            int(i),
            "entity_id",
            entity[i],
            f"exactly one of entity_id or region (region={region[i]!r})",
        )
    rows = np.full(len(ids), -1, dtype=np.int64)
    per_entity = np.flatnonzero(entity != "")
    if per_entity.size:
        rows[per_entity] = row_of(entity[per_entity].astype(str))
        for i in per_entity[rows[per_entity] < 0]:
            raise sheet.fail(
                int(i), "entity_id", entity[i], "an entity_id listed in the entities file"
            )
    for i in np.flatnonzero(entity == ""):
        if not _REGION.fullmatch(region[i]):
            raise sheet.fail(int(i), "region", region[i], "a region code of 2, 4 or 6 digits")
    rules = sheet.text("rules")
    _check_each(sheet, "rules", rules, _rules_ok, "rule names separated by ';', or '*'")
    start = sheet.times("start", open_ended=False)
    end = sheet.times("end", open_ended=False)
    _check_periods(sheet, start, end, ("start", "end"))
    rule_sets = np.empty(len(ids), dtype=object)
    rule_sets[:] = [frozenset(p.strip() for p in r.split(";")) for r in rules]
    return ExemptionColumns(
        ids=ids.astype(str),
        row=rows,
        region=region.astype(str),
        rules=rule_sets,
        start=start,
        end=end,
        reason=sheet.text("reason", required=False).astype(str),
        approver=sheet.text("approver", required=False).astype(str),
    )


def find_file(directory: Path, stem: str, *, required: bool) -> Path | None:
    """``stem.csv`` or ``stem.parquet`` in the directory (not both)."""
    found = [p for p in (directory / f"{stem}.csv", directory / f"{stem}.parquet") if p.is_file()]
    if len(found) > 1:
        raise RegistryError(
            f"{directory}: both {stem}.csv and {stem}.parquet exist; keep only one of them."
        )
    if not found and required:
        raise RegistryError(
            f"{directory}: no {stem}.csv or {stem}.parquet. Point to the registry directory "
            "(see docs/data-files.md)."
        )
    return found[0] if found else None
