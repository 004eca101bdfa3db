"""Columnar per-entity state: dense arrays indexed by entity row, snapshot-able to bytes.

Rows are assigned in first-seen order and never reused, so a row number is a stable key
inside one state. As entities appear, the arrays are reserved for twice the rows in use,
but a row is written (its columns' fill values) only when an entity takes it: spare rows
cost address space, not page faults and filling. A snapshot records the parameters that
shaped the arrays (slot size, history length, ...); restoring it under other parameters is
refused instead of silently reusing state of another shape.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dianyan.errors import DianyanError


class StateMismatchError(DianyanError):
    """A snapshot was made under other parameters; start fresh state or restore the old config."""


@dataclass(frozen=True, slots=True)
class Column:
    """One per-entity array: trailing shape, dtype and the value new rows start with."""

    tail: tuple[int, ...]
    dtype: str
    fill: Any


class EntityIndex:
    """Entity id -> dense row number."""

    def __init__(self, ids: Iterable[str] = ()) -> None:
        self._ids: list[str] = []
        self._index = pd.Index([], dtype=object)
        self.add(list(ids))

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def ids(self) -> list[str]:
        return self._ids

    def add(self, ids: list[str]) -> np.ndarray:
        """Rows of ``ids``, appending unknown ones; vectorized via a pandas index."""
        if not ids:
            return np.empty(0, dtype=np.int64)
        rows = self._index.get_indexer(ids)
        missing = rows < 0
        if missing.any():
            new = list(dict.fromkeys(np.asarray(ids, dtype=object)[missing].tolist()))
            self._ids.extend(new)
            self._index = pd.Index(self._ids, dtype=object)
            rows = self._index.get_indexer(ids)
        return rows.astype(np.int64)

    def get(self, ids: list[str]) -> np.ndarray:
        """Rows of ``ids``; -1 for unknown ones."""
        return self._index.get_indexer(ids).astype(np.int64)


class EntityState:
    """A set of named per-entity arrays that grow together with an :class:`EntityIndex`."""

    def __init__(self, columns: dict[str, Column], params: dict[str, Any]) -> None:
        self.columns = columns
        self.params = params
        self.index = EntityIndex()
        self.capacity = 0
        self.arrays: dict[str, np.ndarray] = {}
        self._allocate(64, keep=0)
        self._dictionary_rows: tuple[pa.Array, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.arrays[name]

    def _allocate(self, capacity: int, keep: int) -> None:
        """Arrays of ``capacity`` rows holding the first ``keep`` rows; the rest unwritten."""
        for name, col in self.columns.items():
            new = np.empty((capacity, *col.tail), dtype=col.dtype)
            old = self.arrays.get(name)
            if keep:
                new[:keep] = old[:keep]
            self.arrays[name] = new
        self.capacity = capacity

    def rows_for(self, ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Rows of ``ids`` (adding new entities) and the rows that were new."""
        before = len(self.index)
        rows = self.index.add(ids)
        after = len(self.index)
        if after > self.capacity:
            # twice what is in use: amortized growth, and a big first batch followed by a
            # few late-comers is not copied again
            self._allocate(2 * after, keep=before)
        for name, col in self.columns.items():
            self.arrays[name][before:after] = col.fill
        return rows, np.arange(before, after, dtype=np.int64)

    def rows_in(self, column: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray]:
        """Row of each reading of an ``entity_id`` column, and the new rows.

        Entities met for the first time are added. The column is dictionary-encoded (the
        reading schema): ids are looked up once per dictionary, and the rows found are
        kept for the next batch, which usually carries the same dictionary (the
        validator's), so a batch costs one gather through its codes.
        """
        before = len(self.index)
        chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
        parts = []
        for chunk in chunks:
            if not pa.types.is_dictionary(chunk.type):
                chunk = pc.dictionary_encode(chunk)
            codes = chunk.indices.to_numpy(zero_copy_only=False)
            table = self._rows_of_dictionary(chunk.dictionary)
            rows = table[codes]
            if rows.size and rows.min() < 0:  # a min pass, no mask, when all are known
                missing = rows < 0
                new = np.flatnonzero(np.bincount(codes[missing], minlength=len(table)))
                added, _ = self.rows_for(chunk.dictionary.take(pa.array(new)).to_pylist())
                table[new] = added
                rows = table[codes]
            parts.append(rows)
        rows = parts[0] if len(parts) == 1 else np.concatenate(parts or [np.empty(0, np.int64)])
        return rows, np.arange(before, len(self.index), dtype=np.int64)

    def _rows_of_dictionary(self, dictionary: pa.Array) -> np.ndarray:
        """Row per dictionary entry (-1 where not an entity yet); cached for the last one."""
        last = self._dictionary_rows
        if last is not None and last[0].equals(dictionary):
            return last[1]
        table = self.index.get(dictionary.to_pylist())
        self._dictionary_rows = (dictionary, table)
        return table

    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.arrays.values())

    def snapshot(self) -> bytes:
        """All arrays (trimmed to the used rows), the entity ids and the shaping params."""
        n = len(self.index)
        buf = io.BytesIO()
        meta = json.dumps({"params": self.params, "ids": self.index.ids}, sort_keys=True)
        np.savez(
            buf,
            __meta__=np.frombuffer(meta.encode(), dtype=np.uint8),
            **{k: v[:n] for k, v in self.arrays.items()},
        )
        return buf.getvalue()

    def restore(self, data: bytes) -> None:
        """Load a snapshot made under the same params; refuse any other."""
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            meta = json.loads(bytes(npz["__meta__"]).decode())
            if meta["params"] != self.params:
                raise StateMismatchError(
                    f"state snapshot was made with {meta['params']}, current parameters are "
                    f"{self.params}; discard the snapshot or restore the old configuration."
                )
            self.index = EntityIndex(meta["ids"])
            self._dictionary_rows = None
            self.arrays = {}
            n = len(self.index)
            self.capacity = 0
            self._allocate(max(64, 2 * n), keep=0)
            for name in self.columns:
                self.arrays[name][:n] = npz[name]
