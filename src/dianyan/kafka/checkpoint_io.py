"""Writing checkpoints to the checkpoint topic and reading the latest one back."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from dianyan.kafka.checkpoint import (
    Checkpoint,
    Record,
    assemble,
    chunk_records,
    marker_record,
    parse_marker,
    tombstones,
)

_FETCH_BYTES = 8 << 20


async def write_checkpoint(
    producer: AIOKafkaProducer, topic: str, cp: Checkpoint, previous: dict[str, Any] | None
) -> dict[str, Any]:
    """Chunks, then the marker (both acknowledged), then tombstones; returns the marker."""
    generation, chunks = chunk_records(cp)
    futures = [
        await producer.send(topic, key=c.key, value=c.value, partition=cp.partition) for c in chunks
    ]
    metas = await asyncio.gather(*futures)
    written = [Record(c.key, c.value, m.offset) for c, m in zip(chunks, metas, strict=True)]
    marker = marker_record(cp, generation, written, previous)
    await producer.send_and_wait(topic, key=marker.key, value=marker.value, partition=cp.partition)
    fields = json.loads(marker.value or b"{}")
    for t in tombstones(cp.partition, fields):
        await producer.send(topic, key=t.key, value=None, partition=cp.partition)
    return fields


async def read_latest(
    bootstrap: str, topic: str, partitions: list[int]
) -> dict[int, tuple[Checkpoint | None, dict[str, Any] | None, int]]:
    """Per partition: the newest complete checkpoint, its marker, and the bytes read."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        max_partition_fetch_bytes=_FETCH_BYTES,
        fetch_max_bytes=_FETCH_BYTES,
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        begins = await consumer.beginning_offsets(tps)
        ends = await consumer.end_offsets(tps)
        return {tp.partition: await _latest(consumer, tp, begins[tp], ends[tp]) for tp in tps}
    finally:
        await consumer.stop()


async def _latest(
    consumer: AIOKafkaConsumer, tp: TopicPartition, begin: int, end: int
) -> tuple[Checkpoint | None, dict[str, Any] | None, int]:
    """Read backwards from the end in growing windows until a complete checkpoint shows."""
    records: dict[int, Record] = {}
    read_bytes = 0
    low, window = end, 16
    while low > begin:
        start = max(begin, low - window)
        read_bytes += await _read_range(consumer, tp, start, low, records)
        for offset in sorted((o for o in records if start <= o < low), reverse=True):
            marker = parse_marker(records[offset], tp.partition)
            if marker is None:
                continue
            first = int(marker["first_offset"])
            if first < start:
                read_bytes += await _read_range(consumer, tp, first, start, records)
            span = [r for o, r in records.items() if first <= o <= int(marker["last_offset"])]
            cp = assemble(marker, span)
            if cp is not None:
                return cp, marker, read_bytes
        low, window = start, window * 4
    return None, None, read_bytes


async def _read_range(
    consumer: AIOKafkaConsumer, tp: TopicPartition, start: int, stop: int, into: dict[int, Record]
) -> int:
    """Read offsets [start, stop) into ``into``; returns the value bytes read."""
    if start >= stop:
        return 0
    consumer.seek(tp, start)
    n = 0
    while await consumer.position(tp) < stop:
        batch = await consumer.getmany(tp, timeout_ms=1000)
        for msg in batch.get(tp, []):
            if msg.offset < stop and msg.offset not in into:
                into[msg.offset] = Record(msg.key or b"", msg.value, msg.offset)
                n += len(msg.value or b"")
            if msg.offset >= stop - 1:
                return n
    return n
