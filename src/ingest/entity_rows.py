"""Dense row numbers for entity ids, so that per-entity state can live in numpy arrays.

Rows are given in order of first appearance and never change. Lookups are vectorized
over a batch's distinct ids (pyarrow ``index_in``), and the last dictionary looked up is
remembered: a Parquet row group or a time-sorted file repeats the same dictionary batch
after batch, and then mapping costs nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


class EntityRows:
    """Entity id → dense row number (0, 1, 2, ... in order of first appearance)."""

    def __init__(self, ids: Iterable[str] = ()) -> None:
        self._ids = pc.unique(pa.array(list(ids), pa.string())).drop_null()
        self._last: tuple[pa.Array, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def ids(self) -> pa.StringArray:
        """Entity ids by row number."""
        return self._ids

    def rows(self, values: pa.StringArray, add: bool) -> tuple[np.ndarray, pa.StringArray]:
        """Row number of each value (-1 when unknown and not added) and the ids added.

        With ``add`` true, unknown non-null values get new rows (in order of first
        appearance in ``values``); null values always map to -1.
        """
        last = self._last
        if last is not None and (last[0] is values or last[0].equals(values)):
            return last[1], pa.array([], pa.string())
        found = pc.index_in(values, value_set=self._ids)
        added = pa.array([], pa.string())
        if add and found.null_count > values.null_count:
            unknown = pc.and_(pc.is_null(found), pc.is_valid(values))
            added = pc.unique(values.filter(unknown))
            self._ids = pa.concat_arrays([self._ids, added])
            found = pc.index_in(values, value_set=self._ids)
        rows = pc.fill_null(found, -1).to_numpy(zero_copy_only=False).astype(np.int64)
        self._last = (values, rows)
        return rows, added
