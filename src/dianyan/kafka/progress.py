"""How far a consumer group is: committed offsets against the end of the readings topic."""

from __future__ import annotations

from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient


@dataclass(frozen=True, slots=True)
class GroupProgress:
    committed: dict[int, int]  # partition -> committed offset (0 when none yet)
    end: dict[int, int]  # partition -> end offset

    @property
    def done(self) -> bool:
        """Every partition committed up to its end (so checkpointed there)."""
        return bool(self.end) and all(self.committed.get(p, 0) >= e for p, e in self.end.items())

    @property
    def lag(self) -> int:
        return sum(max(e - self.committed.get(p, 0), 0) for p, e in self.end.items())


async def group_progress(bootstrap: str, group: str, topic: str) -> GroupProgress:
    """Committed and end offsets of ``topic`` for ``group``."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await consumer.start()
    await admin.start()
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        if not parts:
            await consumer.topics()
            parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        end = await consumer.end_offsets(tps) if tps else {}
        offsets = await admin.list_consumer_group_offsets(group, partitions=tps or None)
        committed = {tp.partition: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}
        return GroupProgress(committed, {tp.partition: o for tp, o in end.items()})
    finally:
        await admin.close()
        await consumer.stop()
