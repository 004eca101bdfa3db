"""Where a partition's results go: the alert store and the alerts, lifecycle, dead-letter topics.

:meth:`Outputs.emit` returns once the store has the detections and the broker acknowledged
every message, so a checkpoint written afterwards never covers an output that is not
durable. Messages are JSON; repeats after a crash are told apart by the alert message's
``key`` (the detection's delivery key), the lifecycle event's ``(alert_id, seq)`` and the
dead-letter record's source and position.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from aiokafka import AIOKafkaProducer

from alerts.store import AlertStore
from detectors.detection import Detection, episode_alert_id
from dianyan.kafka.partition import PartitionOutput
from dianyan.kafka.topics import Topics
from ingest.deadletter import reject_rows


class Outputs:
    """The store and the output topics of one worker."""

    def __init__(
        self, producer: AIOKafkaProducer, store: AlertStore, topics: Topics, worker_id: str
    ) -> None:
        self.producer = producer
        self.store = store
        self.topics = topics
        self.worker_id = worker_id

    async def emit(self, partition: int, out: PartitionOutput) -> None:
        """Store and publish one output; returns once every message is acknowledged."""
        t = self.topics
        pending = []
        if out.detections:
            now_ms = int(time.time() * 1000)
            await asyncio.to_thread(self.store.apply, out.detections, now_ms)
            for d in out.detections:
                alert_id = episode_alert_id(d.rule, d.entity_id, d.episode_start_ms)
                message = {"alert_id": alert_id, "key": d.key, **d.to_dict()}
                pending.append(await self._send(t.alerts, alert_id, message))
            for alert_id, event in await asyncio.to_thread(self._events_of, out.detections):
                pending.append(await self._send(t.lifecycle, alert_id, event))
        for table in out.rejects:
            for row in reject_rows(table):
                row["partition"] = partition
                row["worker"] = self.worker_id
                pending.append(await self._send(t.deadletter, None, row))
        if pending:
            await asyncio.gather(*pending)

    async def refused_update(
        self, topic: str, partition: int, offset: int, value: bytes | None, exc: Exception
    ) -> None:
        """A registry update that cannot be applied, to the dead-letter topic."""
        row = {
            "reason": "bad_registry_update",
            "source": f"kafka:{topic}/{partition}",
            "position": offset,
            "record": (value or b"").decode("utf-8", "backslashreplace")[:2000],
            "detail": str(exc),
            "worker": self.worker_id,
        }
        key = f"registry/{partition}/{offset}"  # every worker refuses it: dedupe by key
        await (await self._send(self.topics.deadletter, key, row))

    async def _send(self, topic: str, key: str | None, value: dict[str, Any]) -> Any:
        body = json.dumps(value, ensure_ascii=False, sort_keys=True).encode()
        return await self.producer.send(topic, key=key.encode() if key else None, value=body)

    def _events_of(self, detections: list[Detection]) -> list[tuple[str, dict[str, Any]]]:
        """Events of the alerts these detections raised or joined (idempotent by seq)."""
        ids = {episode_alert_id(d.rule, d.entity_id, d.episode_start_ms) for d in detections}
        return [
            (
                alert_id,
                {
                    "alert_id": e.alert_id,
                    "seq": e.seq,
                    "at_ms": e.at_ms,
                    "actor": e.actor,
                    "action": e.action,
                    "payload": e.payload,
                },
            )
            for alert_id in sorted(ids)
            for e in self.store.events(alert_id)
        ]
