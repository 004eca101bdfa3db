"""Partition checkpoints: a partition's state together with the offset it reached.

A checkpoint is written to the checkpoint topic's partition of the same number as the
readings partition, as zstd-compressed state cut into chunks (messages stay well below
the broker's size limit), then one small marker that names the chunks and the readings
offset the state covers. Only a marker makes a checkpoint: a worker killed halfway leaves
chunks without a marker, and the reader falls back to the previous checkpoint. Chunk keys
carry the checkpoint's generation, and the chunks of the checkpoint before are deleted
with tombstones once the marker is written, so a compacted topic keeps about one
checkpoint per partition (a broker that does not compact keeps all; the reader reads
backwards from the end and never the whole history).

State and offset always travel together: whoever restores a checkpoint seeks the readings
partition to its offset, so a restart or a takeover replays exactly the messages the state
has not seen. Detections replayed that way repeat earlier ones, and the store's idempotent
apply absorbs them.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

CHUNK_BYTES = 512 * 1024
_CODEC = pa.Codec("zstd")


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A partition's state as of readings offset ``next_offset`` (the next one to read)."""

    partition: int
    next_offset: int
    state: bytes
    created_ms: int = 0
    newest_event_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Record:
    """One message of the checkpoint topic, as written or as read back."""

    key: bytes
    value: bytes | None
    offset: int = -1


def chunk_records(cp: Checkpoint, chunk_bytes: int = CHUNK_BYTES) -> tuple[str, list[Record]]:
    """The generation name and the chunk messages of a checkpoint (the marker comes after)."""
    generation = f"{cp.next_offset}-{uuid.uuid4().hex[:12]}"
    packed = _CODEC.compress(cp.state, asbytes=True)
    pieces = [packed[i : i + chunk_bytes] for i in range(0, len(packed), chunk_bytes)] or [b""]
    records = [
        Record(_chunk_key(cp.partition, generation, i), piece) for i, piece in enumerate(pieces)
    ]
    return generation, records


def marker_record(
    cp: Checkpoint, generation: str, chunks: list[Record], previous: dict[str, Any] | None
) -> Record:
    """The marker naming the written chunks (their offsets known after the writes)."""
    packed = b"".join(c.value or b"" for c in chunks)
    marker = {
        "partition": cp.partition,
        "next_offset": cp.next_offset,
        "generation": generation,
        "chunks": len(chunks),
        "first_offset": chunks[0].offset,
        "last_offset": chunks[-1].offset,
        "packed_bytes": len(packed),
        "state_bytes": len(cp.state),
        "sha256": hashlib.sha256(packed).hexdigest(),
        "created_ms": cp.created_ms,
        "newest_event_ms": cp.newest_event_ms,
        "previous": None if previous is None else previous["generation"],
        "previous_chunks": 0 if previous is None else previous["chunks"],
    }
    return Record(_marker_key(cp.partition), json.dumps(marker, sort_keys=True).encode())


def tombstones(partition: int, marker: dict[str, Any]) -> list[Record]:
    """Deletes for the chunks of the checkpoint before ``marker``."""
    if not marker.get("previous"):
        return []
    return [
        Record(_chunk_key(partition, marker["previous"], i), None)
        for i in range(marker["previous_chunks"])
    ]


def parse_marker(record: Record, partition: int) -> dict[str, Any] | None:
    """The marker in ``record``, or None for chunks, tombstones and anything else."""
    if record.key != _marker_key(partition) or not record.value:
        return None
    try:
        marker = json.loads(record.value)
    except ValueError:
        return None
    return marker if isinstance(marker, dict) and "generation" in marker else None


def assemble(marker: dict[str, Any], records: list[Record]) -> Checkpoint | None:
    """The checkpoint a marker names, from records read back; None if a chunk is missing."""
    partition, generation = marker["partition"], marker["generation"]
    by_key = {r.key: r.value for r in records}
    pieces = [by_key.get(_chunk_key(partition, generation, i)) for i in range(marker["chunks"])]
    if any(p is None for p in pieces):
        return None
    packed = b"".join(p for p in pieces if p is not None)
    if hashlib.sha256(packed).hexdigest() != marker["sha256"]:
        return None
    state = _CODEC.decompress(packed, marker["state_bytes"], asbytes=True)
    return Checkpoint(
        partition,
        int(marker["next_offset"]),
        state,
        int(marker.get("created_ms") or 0),
        marker.get("newest_event_ms"),
    )


def _chunk_key(partition: int, generation: str, index: int) -> bytes:
    return f"{partition}/{generation}/{index}".encode()


def _marker_key(partition: int) -> bytes:
    return f"{partition}".encode()
