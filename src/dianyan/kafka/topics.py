"""The topics of a dianyan deployment, how they are created, and which partition an entity is on.

- ``{prefix}readings`` (``partitions``): one JSON reading keyed by entity id, or an Arrow
  IPC batch of readings of one partition;
- ``{prefix}checkpoints.{group}`` (``partitions``, compacted): one consumer group's
  partition state and offsets, see :mod:`dianyan.kafka.checkpoint`;
- ``{prefix}registry`` (1): status changes and exemptions as JSON, see
  :mod:`dianyan.kafka.registry_feed`;
- ``{prefix}alerts`` (``partitions``): one detection delivery with its alert id, keyed by
  alert id (JSON);
- ``{prefix}lifecycle`` (``partitions``): alert events (raised, actions), keyed by alert id;
- ``{prefix}deadletter`` (1): one rejected record with its reason (JSON).

An entity's readings must all reach one readings partition: JSON producers key them by
entity id with the Java client's partitioner (murmur2; librdkafka and kcat need
``-X topic.partitioner=murmur2_random``), and Arrow batches are sent to the partition
:func:`partition_of` names for every row in them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.partitioner import murmur2

CONTROL_HEADER = "dianyan-control"
END_OF_INPUT = b"end-of-input"


@dataclass(frozen=True, slots=True)
class Topics:
    """Topic names of one deployment (``prefix`` keeps deployments and tests apart)."""

    prefix: str = "dianyan-"
    partitions: int = 4

    @property
    def readings(self) -> str:
        return f"{self.prefix}readings"

    def checkpoints(self, group: str) -> str:
        """The checkpoint topic of one consumer group (its state is the group's own)."""
        return f"{self.prefix}checkpoints.{group}"

    @property
    def registry(self) -> str:
        return f"{self.prefix}registry"

    @property
    def alerts(self) -> str:
        return f"{self.prefix}alerts"

    @property
    def lifecycle(self) -> str:
        return f"{self.prefix}lifecycle"

    @property
    def deadletter(self) -> str:
        return f"{self.prefix}deadletter"

    def specs(self, group: str | None = None) -> list[NewTopic]:
        """Topics to create; with ``group``, that group's checkpoint topic too."""
        compact = {"cleanup.policy": "compact"}
        n = self.partitions
        own = [NewTopic(self.checkpoints(group), n, 1, topic_configs=compact)] if group else []
        return [
            *own,
            NewTopic(self.readings, n, 1),
            NewTopic(self.registry, 1, 1),
            NewTopic(self.alerts, n, 1),
            NewTopic(self.lifecycle, n, 1),
            NewTopic(self.deadletter, 1, 1),
        ]


async def ensure_topics(bootstrap: str, topics: Topics, group: str | None = None) -> None:
    """Create the deployment's topics that do not exist yet (existing ones are kept)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in topics.specs(group) if t.name not in existing]
        if missing:
            await admin.create_topics(missing)
    finally:
        await admin.close()


def partition_of(entity_ids: pa.Array | pa.ChunkedArray, partitions: int) -> np.ndarray:
    """The readings partition of each entity id (int32 per row), as Kafka's keyed producers.

    The hash is computed once per distinct id, not per row; a missing id goes to 0.
    """
    encoded = pc.dictionary_encode(entity_ids)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    per_id = np.array(
        [
            0 if key is None else (murmur2(key.encode()) & 0x7FFFFFFF) % partitions
            for key in encoded.dictionary.to_pylist()
        ],
        dtype=np.int32,
    )
    codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)
    return np.where(codes >= 0, per_id[np.maximum(codes, 0)] if per_id.size else 0, 0).astype(
        np.int32
    )
