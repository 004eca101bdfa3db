"""A suspension sent on the registry topic takes effect in a running worker, no restart."""

from __future__ import annotations

import asyncio
import json

from aiokafka import AIOKafkaProducer
from kafkakit import consume_all, replay

from alerts.store import SqliteAlertStore

SUSPENSION = {
    "type": "status",
    "entity_id": "E00010",
    "status": "suspended",
    "effective_from": "2026-02-10T00:00:00+08:00",
    "effective_to": "2026-02-12T00:00:00+08:00",
}


async def send(bootstrap: str, topic: str, updates: list[dict]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for u in updates:
            await producer.send_and_wait(topic, json.dumps(u).encode())
    finally:
        await producer.stop()


def test_a_suspension_on_the_registry_topic_raises_suspended_operation(
    province, deployment, start_worker, tmp_path
):
    db = tmp_path / "alerts.sqlite"
    worker = start_worker("--registry", str(province / "registry"), "--db", str(db))
    worker.wait_metric("dianyan_partitions", 1)
    bad = {"type": "status", "entity_id": "NOBODY", "status": "suspended"}
    asyncio.run(send(deployment.bootstrap, f"{deployment.prefix}registry", [bad, SUSPENSION]))
    worker.wait_metric('dianyan_registry_updates_total{result="applied"', 1)
    assert worker.metric('dianyan_registry_updates_total{result="refused"') == 1

    replay(deployment, province).communicate(timeout=60)
    deployment.wait_done()

    with SqliteAlertStore(db) as store:
        mine = [(a.rule, a.entity_id) for a in store.list_alerts() if a.entity_id == "E00010"]
    assert mine == [("suspended_operation", "E00010")]
    dead = asyncio.run(consume_all(deployment.bootstrap, f"{deployment.prefix}deadletter", 1))
    assert [d["reason"] for d in dead] == ["bad_registry_update"]
    assert "NOBODY" in dead[0]["record"] and dead[0]["detail"]
