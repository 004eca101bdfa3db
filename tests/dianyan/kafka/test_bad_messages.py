"""Bad messages land in the dead-letter topic with their reason; good ones around them count."""

from __future__ import annotations

import asyncio
import json

import pyarrow as pa
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import murmur2
from kafkakit import consume_all

from dianyan.kafka.topics import CONTROL_HEADER, END_OF_INPUT
from ingest.sources.kafka_messages import encode_arrow

T0 = 1_772_323_200_000  # 2026-03-01 00:00 UTC
SLOT = 15 * 60 * 1000


def reading(entity: str, i: int, value: object = 3.5, metric: str = "electricity.kwh") -> bytes:
    return json.dumps(
        {"entity_id": entity, "metric": metric, "ts": T0 + i * SLOT, "value": value}
    ).encode()


def good_batch(entity: str, first: int, n: int) -> bytes:
    return encode_arrow(
        pa.table(
            {
                "entity_id": [entity] * n,
                "metric": ["electricity.kwh"] * n,
                "ts": pa.array([T0 + (first + i) * SLOT for i in range(n)], pa.timestamp("ms")),
                "value": [2.0] * n,
            }
        )
    )


async def produce(bootstrap: str, topic: str, messages: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for value in messages:
            await producer.send_and_wait(topic, value, partition=0)
        await producer.send_and_wait(
            topic, b"", partition=0, headers=[(CONTROL_HEADER, END_OF_INPUT)]
        )
    finally:
        await producer.stop()


def test_bad_messages_are_dead_lettered_with_reasons_and_neighbours_processed(
    deployment, start_worker, tmp_path
):
    deployment.partitions = 1
    worker = start_worker("--db", str(tmp_path / "alerts.sqlite"))
    worker.wait_metric("dianyan_partitions", 1)
    wrong_schema = encode_arrow(pa.table({"meter": ["E1", "E1"], "reading": [1.0, 2.0]}))
    messages = [
        reading("E1", 1),
        reading("E1", 2),
        b"\x00\x01 not a reading \xff",
        good_batch("E2", 1, 8)[:-40],  # truncated on the wire
        reading("E1", 3, value=float("nan")),  # json writes NaN: not JSON, read as a number
        wrong_schema,
        reading("E1", 4, metric="electricity.sparkle"),
        reading("E1", 5),
        good_batch("E3", 1, 8),
    ]
    asyncio.run(produce(deployment.bootstrap, f"{deployment.prefix}readings", messages))
    deployment.wait_done(timeout_s=60)

    dead = asyncio.run(consume_all(deployment.bootstrap, f"{deployment.prefix}deadletter", 6))
    reasons = sorted(d["reason"] for d in dead)
    assert reasons == [
        "malformed_record",  # garbage bytes
        "malformed_record",  # truncated Arrow batch
        "missing_field",  # wrong schema, one per row
        "missing_field",
        "not_finite",
        "unknown_metric",
    ]
    by_reason = {d["reason"]: d for d in dead}
    assert "sparkle" in by_reason["unknown_metric"]["detail"]
    assert any("Arrow" in d["detail"] for d in dead if d["reason"] == "malformed_record")
    assert all(d["source"].startswith(f"kafka:{deployment.prefix}readings/0") for d in dead)
    # the good readings around them: 3 JSON readings and 8 in the intact Arrow batch
    assert worker.metric("dianyan_readings_accepted_total") == 3 + 8
    assert worker.proc.poll() is None


def test_readings_on_the_wrong_partition_are_refused_with_the_fix(
    deployment, start_worker, tmp_path
):
    deployment.partitions = 2
    worker = start_worker("--db", str(tmp_path / "alerts.sqlite"))
    worker.wait_metric("dianyan_partitions", 2)
    # E1's home is the partition Kafka's murmur2 gives "E1"; send one reading to each
    home = (murmur2(b"E1") & 0x7FFFFFFF) % 2

    async def send() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=deployment.bootstrap, acks="all")
        await producer.start()
        try:
            topic = f"{deployment.prefix}readings"
            await producer.send_and_wait(topic, reading("E1", 1), partition=home)
            await producer.send_and_wait(topic, reading("E1", 2), partition=1 - home)
            for p in (0, 1):
                await producer.send_and_wait(
                    topic, b"", partition=p, headers=[(CONTROL_HEADER, END_OF_INPUT)]
                )
        finally:
            await producer.stop()

    asyncio.run(send())
    deployment.wait_done(timeout_s=60)
    dead = asyncio.run(consume_all(deployment.bootstrap, f"{deployment.prefix}deadletter", 1))
    assert [d["reason"] for d in dead] == ["wrong_partition"]
    assert "murmur2" in dead[0]["detail"] and dead[0]["partition"] == 1 - home
    assert worker.metric("dianyan_readings_rejected_total") == 1
