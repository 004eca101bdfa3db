"""The validator's memory (newest timestamp per series, recent keys) as bytes and back.

The validator judges ``too_late`` and ``duplicate`` against what it accepted before, so a
partition restored from a checkpoint needs that memory too, or readings replayed after a
crash would be judged differently. :class:`ingest.validate.Validator` has no snapshot of
its own yet; this module reads and writes its two state objects (the entity rows and the
:class:`ingest.seen.SeenReadings`) and is tested against them, so a change there fails
here first.

Entity rows are remapped on restore: a validator rebuilt from a newer registry may number
entities differently, and series keys follow their entity to its new row.
"""

from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ingest.entity_rows import EntityRows
from ingest.seen import NONE
from ingest.validate import Validator


def snapshot_validator(validator: Validator) -> bytes:
    """Entity ids by row and the seen-readings arrays, as one ``.npz``."""
    seen = validator._seen
    newest, keys_s, keys_t = seen.state()
    ids = validator._entities.ids.to_pylist()
    buf = io.BytesIO()
    np.savez(
        buf,
        ids=np.array(ids, dtype=np.str_) if ids else np.empty(0, dtype="<U1"),
        newest=newest,
        keys_s=keys_s,
        keys_t=keys_t,
        metrics=np.array([seen._m]),
    )
    return buf.getvalue()


def restore_validator(validator: Validator, data: bytes) -> None:
    """Load a :func:`snapshot_validator` into a validator built with the same settings."""
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        old_ids = pa.array(npz["ids"].tolist(), pa.string())
        newest = npz["newest"]
        keys_s, keys_t = npz["keys_s"], npz["keys_t"]
        m = int(npz["metrics"][0])
    seen = validator._seen
    if m != seen._m:
        raise ValueError(f"validator snapshot has {m} metrics, this validator {seen._m}")
    if not validator._closed:  # open validators learn entities as they come: take the old
        validator._entities = EntityRows(old_ids.to_pylist())
        seen.clear_entities()
        validator._register(validator._entities.ids)
    to_new = pc.fill_null(pc.index_in(old_ids, value_set=validator._entities.ids), -1)
    to_new = to_new.to_numpy(zero_copy_only=False).astype(np.int64)
    n_new = len(validator._entities)
    fresh = np.full(n_new * m, NONE, np.int64)
    old_rows = np.flatnonzero(to_new >= 0)
    if old_rows.size:
        src = (old_rows[:, None] * m + np.arange(m)).ravel()
        dst = (to_new[old_rows][:, None] * m + np.arange(m)).ravel()
        fresh[dst] = newest[src]
    row_of_key = to_new[keys_s // m] if keys_s.size else np.empty(0, np.int64)
    live = row_of_key >= 0
    seen.load(fresh, row_of_key[live] * m + keys_s[live] % m, keys_t[live])
