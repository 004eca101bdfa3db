"""The entity registry: master data, regulatory status timeline and exemptions (报备).

Detectors keep their state in arrays indexed by an entity row; the registry gives each
entity its row, the row's attributes as numpy columns, and answers "what was this
entity's status at ts?" and "which exemption covers this entity, rule and ts?" for a
whole batch at once. A registry is immutable: :meth:`Registry.with_status` and
:meth:`Registry.with_exemption` return an updated copy, so a status change can be applied
at run time while readers keep a consistent view.

>>> import numpy as np
>>> reg = Registry.from_columns(ids=["e1"], name=["Plant"], county=["370481"],
...                             industry=["coal_mining"], kind=["enterprise"])
>>> reg = reg.with_status("e1", "suspended", "2026-03-01T00:00", None)
>>> rows = reg.row_of(np.array(["e1", "nobody"]))
>>> rows.tolist()
[0, -1]
>>> reg.status_at(rows, np.array([1772294400000, 1772294400000])).tolist()  # 03-01 00:00 CST
[1, 0]
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ingest.intervals import IntervalIndex
from ingest.registry_files import (
    EntityColumns,
    ExemptionColumns,
    Sheet,
    StatusColumns,
    find_file,
    read_entities,
    read_exemptions,
    read_statuses,
    registry_error,
)

NORMAL, SUSPENDED, CLOSED = np.int8(0), np.int8(1), np.int8(2)

# Region exemptions are grouped by code; the offsets keep 2-, 4- and 6-digit codes apart.
_REGION_OFFSET = {2: 0, 4: 100, 6: 100 + 10_000}

TimeLike = str | datetime.datetime | datetime.date | int


def _region_group(codes: np.ndarray) -> np.ndarray:
    """Group number of region codes of 2, 4 or 6 digits."""
    out = np.empty(len(codes), dtype=np.int64)
    for digits, offset in _REGION_OFFSET.items():
        mask = np.char.str_len(codes.astype(str)) == digits
        out[mask] = codes[mask].astype(np.int64) + offset
    return out


def _empty_statuses() -> StatusColumns:
    i64 = np.empty(0, np.int64)
    return StatusColumns(i64, np.empty(0, np.int8), i64, i64)


def _empty_exemptions() -> ExemptionColumns:
    text, i64 = np.empty(0, dtype=str), np.empty(0, np.int64)
    return ExemptionColumns(text, i64, text, np.empty(0, object), i64, i64, text, text)


class Registry:
    """Entities by row, with their status timeline and exemptions."""

    def __init__(
        self,
        entities: EntityColumns,
        statuses: StatusColumns | None = None,
        exemptions: ExemptionColumns | None = None,
    ) -> None:
        """Build from checked columns; use :meth:`load` or :meth:`from_columns` instead."""
        self._entities = entities
        self._statuses = statuses if statuses is not None else _empty_statuses()
        self._exemptions = exemptions if exemptions is not None else _empty_exemptions()
        self._id_set = pa.array(entities.ids, pa.string())
        self._status_index = IntervalIndex(
            self._statuses.row, self._statuses.start, self._statuses.end
        )
        self._region_groups = tuple(
            _region_group(entities.county.astype(f"U{digits}")) for digits in (6, 4, 2)
        )
        self._rule_indexes: dict[str, tuple[IntervalIndex, IntervalIndex]] = {}

    # --- construction ------------------------------------------------------------------

    @classmethod
    def load(cls, directory: str | Path) -> Registry:
        """Read ``entities``, and optionally ``status`` and ``exemptions`` (CSV or Parquet)."""
        directory = Path(directory)
        entities = read_entities(Sheet.read(find_file(directory, "entities", required=True)))
        base = cls(entities)
        status_file = find_file(directory, "status", required=False)
        statuses = read_statuses(Sheet.read(status_file), base.row_of) if status_file else None
        exemption_file = find_file(directory, "exemptions", required=False)
        exemptions = (
            read_exemptions(Sheet.read(exemption_file), base.row_of) if exemption_file else None
        )
        return cls(entities, statuses, exemptions)

    @classmethod
    def from_columns(cls, **columns: Sequence[object]) -> Registry:
        """A registry from entity columns named as in entities.csv (``ids`` = entity_id).

        Checked exactly like a file; handy for tests and the simulator.
        """
        data = dict(columns)
        data["entity_id"] = data.pop("ids")
        table = pa.table({k: pa.array([str(v) for v in vals]) for k, vals in data.items()})
        return cls(read_entities(Sheet("from_columns()", table, csv_lines=False)))

    # --- entity columns ----------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._entities.ids)

    @property
    def entity_ids(self) -> np.ndarray:
        """Entity id per row."""
        return self._entities.ids

    @property
    def name(self) -> np.ndarray:
        return self._entities.name

    @property
    def county(self) -> np.ndarray:
        """6-digit county code per row."""
        return self._entities.county

    @property
    def city(self) -> np.ndarray:
        """4-digit city code per row."""
        return self._entities.county.astype("U4")

    @property
    def province(self) -> np.ndarray:
        """2-digit province code per row."""
        return self._entities.county.astype("U2")

    @property
    def industry(self) -> np.ndarray:
        return self._entities.industry

    @property
    def kind(self) -> np.ndarray:
        return self._entities.kind

    @property
    def limits(self) -> Mapping[str, np.ndarray]:
        """Station limits and register maxima per row (NaN where not given), by column name."""
        return MappingProxyType(self._entities.limits)

    def register_maxima(self) -> dict[str, float]:
        """entity_id -> register_max_kwh, for :class:`ingest.normalize.RegisterNormalizer`."""
        values = self._entities.limits["register_max_kwh"]
        given = np.flatnonzero(~np.isnan(values))
        return dict(zip(self._entities.ids[given].tolist(), values[given].tolist(), strict=True))

    def row_of(self, entity_ids: np.ndarray | pa.Array | Sequence[str]) -> np.ndarray:
        """Row number per entity id, -1 for an id the registry does not know."""
        ids = (
            entity_ids
            if isinstance(entity_ids, pa.Array | pa.ChunkedArray)
            else pa.array(np.asarray(entity_ids, dtype=str), pa.string())
        )
        return (
            pc.fill_null(pc.index_in(ids, value_set=self._id_set), -1).to_numpy().astype(np.int64)
        )

    # --- timelines ---------------------------------------------------------------------

    def status_at(self, rows: np.ndarray, ts_ms: np.ndarray) -> np.ndarray:
        """0 normal, 1 suspended, 2 closed per (row, ts); unknown rows (-1) are normal.

        ``rows`` and ``ts_ms`` broadcast, e.g. ``rows[:, None]`` by ``slot_end_ms[None, :]``.
        """
        hit = self._status_index.covering(self._known(rows), ts_ms)
        if self._statuses.code.size == 0:
            return np.zeros(hit.shape, np.int8)
        return np.where(hit >= 0, self._statuses.code[np.maximum(hit, 0)], NORMAL).astype(np.int8)

    def status_entity_rows(self) -> np.ndarray:
        """Sorted rows that have any status interval (all others are always normal)."""
        return np.unique(self._statuses.row)

    @property
    def exemption_ids(self) -> np.ndarray:
        """Exemption id per exemption index (as returned by :meth:`exempt_at`)."""
        return self._exemptions.ids

    def exempt_at(self, rows: np.ndarray, ts_ms: np.ndarray, rule: str) -> np.ndarray:
        """Index of an exemption covering ``rule`` for (row, ts), or -1.

        An exemption for the entity itself wins over one for its county, then city, then
        province; among several, the one lasting longest is returned.
        """
        rows = self._known(rows)
        by_entity, by_region = self._rule_index(rule)
        found = by_entity.covering(rows, ts_ms)
        for groups in self._region_groups:  # county, then city, then province
            group = np.where(rows >= 0, groups[np.maximum(rows, 0)], -1) if len(self) else rows
            found = np.where(found >= 0, found, by_region.covering(group, ts_ms))
        return found

    def _known(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        return np.where((rows >= 0) & (rows < len(self)), rows, -1)

    def _rule_index(self, rule: str) -> tuple[IntervalIndex, IntervalIndex]:
        """Interval indexes of the exemptions that cover ``rule``, built once per rule."""
        if rule not in self._rule_indexes:
            ex = self._exemptions
            applies = np.array([rule in r or "*" in r for r in ex.rules], dtype=bool)
            ent = np.flatnonzero(applies & (ex.row >= 0))
            reg = np.flatnonzero(applies & (ex.row < 0))
            self._rule_indexes[rule] = (
                IntervalIndex(ex.row[ent], ex.start[ent], ex.end[ent], labels=ent),
                IntervalIndex(
                    _region_group(ex.region[reg]), ex.start[reg], ex.end[reg], labels=reg
                ),
            )
        return self._rule_indexes[rule]

    # --- run-time changes --------------------------------------------------------------

    def with_status(
        self,
        entity_id: str,
        status: str,
        effective_from: TimeLike,
        effective_to: TimeLike | None = None,
    ) -> Registry:
        """A copy with ``status`` for ``[effective_from, effective_to)`` (None: open-ended).

        The new interval takes precedence: the entity's existing intervals are cut
        where they overlap it, so "normal from tomorrow" ends an open suspension.
        """
        table = _one_row(
            entity_id=entity_id,
            status=status,
            effective_from=effective_from,
            effective_to=effective_to,
        )
        new = read_statuses(Sheet("with_status()", table, csv_lines=False), self.row_of)
        old = self._statuses
        row, start, end = new.row[0], new.start[0], new.end[0]
        mine = old.row == row
        keep = ~mine | (old.end <= start) | (old.start >= end)
        head = mine & ~keep & (old.start < start)  # part before the new interval
        tail = mine & ~keep & (old.end > end)  # part after it
        statuses = StatusColumns(
            row=np.concatenate([old.row[keep], old.row[head], old.row[tail], new.row]),
            code=np.concatenate([old.code[keep], old.code[head], old.code[tail], new.code]),
            start=np.concatenate(
                [old.start[keep], old.start[head], np.full(tail.sum(), end), new.start]
            ),
            end=np.concatenate([old.end[keep], np.full(head.sum(), start), old.end[tail], new.end]),
        )
        return Registry(self._entities, statuses, self._exemptions)

    def with_exemption(
        self,
        exemption_id: str,
        rules: str,
        start: TimeLike,
        end: TimeLike,
        *,
        entity_id: str = "",
        region: str = "",
        reason: str = "",
        approver: str = "",
    ) -> Registry:
        """A copy with one more exemption, checked like a row of exemptions.csv."""
        if exemption_id in set(self._exemptions.ids.tolist()):
            raise registry_error(
                "with_exemption()", "exemption_id", exemption_id, "an id not used yet"
            )
        table = _one_row(
            exemption_id=exemption_id,
            entity_id=entity_id,
            region=region,
            rules=rules,
            start=start,
            end=end,
            reason=reason,
            approver=approver,
        )
        new = read_exemptions(Sheet("with_exemption()", table, csv_lines=False), self.row_of)
        old = self._exemptions
        merged = ExemptionColumns(
            *(np.concatenate([getattr(old, f.name), getattr(new, f.name)]) for f in fields(old))
        )
        return Registry(self._entities, self._statuses, merged)


def _one_row(**values: object) -> pa.Table:
    """A one-row table for checking a run-time change like a file row (text stays text)."""
    return pa.table(
        {
            k: pa.array([v], pa.string()) if v is None or isinstance(v, str) else pa.array([v])
            for k, v in values.items()
        }
    )
