"""``dianyan replay``: files of readings onto the readings topic, grouped by partition.

Each file batch is split by the readings partition of each row's entity
(:func:`dianyan.kafka.topics.partition_of`) and sent as Arrow IPC batches, one message per
partition and at most ``rows_per_message`` rows, so a worker decodes thousands of readings
per message. ``fmt="json"`` sends one JSON reading per message instead, keyed by entity id,
as devices do. Records the file reader could not split into fields are sent as they were
(the workers dead-letter them). At the end one end-of-input marker goes to every
partition: the workers then evaluate the slots still open, as ``dianyan run`` does at the
end of its files, and checkpoint.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
from aiokafka import AIOKafkaProducer

from dianyan.kafka.topics import CONTROL_HEADER, END_OF_INPUT, Topics, ensure_topics, partition_of
from ingest.sources import iter_raw_batches
from ingest.sources.kafka_messages import encode_arrow

ROWS_PER_MESSAGE = 20_000
BATCH_ROWS = 1 << 18
PACED_BATCH_ROWS = 1 << 13  # with --speed: small steps, so that pacing is smooth
_IN_FLIGHT = 64


@dataclass
class ReplaySummary:
    readings: int = 0
    messages: int = 0
    seconds: float = 0.0

    def __str__(self) -> str:
        rate = self.readings / self.seconds if self.seconds else 0.0
        return (
            f"replayed {self.readings:,} readings in {self.messages:,} messages "
            f"in {self.seconds:.1f} s ({rate:,.0f} readings/s)"
        )


async def replay(
    path: str | Path,
    bootstrap: str,
    topics: Topics,
    *,
    speed: float | None = None,
    fmt: str = "arrow",
    rows_per_message: int = ROWS_PER_MESSAGE,
    batch_rows: int | None = None,
    end_marker: bool = True,
) -> ReplaySummary:
    """Send the readings of ``path``; ``speed`` N paces them N times faster than event time.

    ``batch_rows``: rows read from the files at a time (default 262,144, or 8,192 when paced).
    """
    await ensure_topics(bootstrap, topics)
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=5, max_request_size=16 << 20
    )
    await producer.start()
    summary = ReplaySummary()
    started = time.perf_counter()
    try:
        n_parts = len(await producer.partitions_for(topics.readings))
        pending: list[asyncio.Future[object]] = []
        pace: tuple[float, int] | None = None
        rows = batch_rows or (PACED_BATCH_ROWS if speed else BATCH_ROWS)
        for raw in iter_raw_batches(path, batch_rows=rows):
            table = pa.table(raw.columns) if raw.columns else None
            if speed and table is not None and "ts" in raw.columns:
                pace = await _pace(table, speed, pace)
            summary.readings += raw.num_rows
            sent = [
                await _send(producer, topics.readings, (record or "").encode())
                for record in raw.rejects.column("record").to_pylist()
            ]
            if table is not None and table.num_rows:
                if fmt == "json":
                    sent += await _send_json(producer, topics.readings, table)
                else:
                    sent += await _send_arrow(
                        producer, topics.readings, table, n_parts, rows_per_message
                    )
            summary.messages += len(sent)
            pending += sent
            if len(pending) >= _IN_FLIGHT:
                await asyncio.gather(*pending)
                pending = []
        if end_marker:
            for p in range(n_parts):
                pending.append(await _send(producer, topics.readings, b"", partition=p, end=True))
        summary.messages += n_parts if end_marker else 0
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    summary.seconds = time.perf_counter() - started
    return summary


async def _send(
    producer: AIOKafkaProducer,
    topic: str,
    value: bytes,
    *,
    key: bytes | None = None,
    partition: int | None = None,
    end: bool = False,
) -> asyncio.Future[object]:
    headers = [(CONTROL_HEADER, END_OF_INPUT)] if end else None
    return await producer.send(topic, value=value, key=key, partition=partition, headers=headers)


async def _send_arrow(
    producer: AIOKafkaProducer, topic: str, table: pa.Table, n_parts: int, rows: int
) -> list[asyncio.Future[object]]:
    if "entity_id" in table.column_names:
        parts = partition_of(table["entity_id"], n_parts)
    else:
        parts = np.zeros(table.num_rows, dtype=np.int32)
    order = np.argsort(parts, kind="stable")
    grouped = table.take(pa.array(order))
    bounds = np.searchsorted(parts[order], np.arange(n_parts + 1))
    out = []
    for p in range(n_parts):
        for start in range(int(bounds[p]), int(bounds[p + 1]), rows):
            n = min(rows, int(bounds[p + 1]) - start)
            body = encode_arrow(grouped.slice(start, n))
            out.append(await _send(producer, topic, body, partition=p))
    return out


async def _send_json(
    producer: AIOKafkaProducer, topic: str, table: pa.Table
) -> list[asyncio.Future[object]]:
    """One message per reading (the device format); ts as epoch milliseconds."""
    if "ts" in table.column_names and pa.types.is_timestamp(table["ts"].type):
        table = table.set_column(table.column_names.index("ts"), "ts", table["ts"].cast(pa.int64()))
    out = []
    for row in table.to_pylist():
        key = row.get("entity_id")
        body = json.dumps(row, ensure_ascii=False).encode()
        out.append(await _send(producer, topic, body, key=key.encode() if key else None))
    return out


async def _pace(table: pa.Table, speed: float, pace: tuple[float, int] | None) -> tuple[float, int]:
    ts = table["ts"]
    if not pa.types.is_timestamp(ts.type):
        return pace or (time.monotonic(), 0)
    first = int(ts.cast(pa.int64()).to_numpy(zero_copy_only=False).min())
    if pace is None:
        return time.monotonic(), first
    wall0, ts0 = pace
    delay = wall0 + (first - ts0) / 1000 / speed - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)
    return pace
