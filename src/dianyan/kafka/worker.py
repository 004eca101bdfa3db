"""The readings worker: batches from Kafka through each partition's pipeline, state checkpointed.

Per readings partition it owns, the worker keeps a :class:`PartitionWork` (the embedded
pipeline) and the next offset to read. It gathers messages from the consumer in batches
(up to ``max_batch_bytes`` or ``max_wait_s``, whichever comes first), decodes them
(:mod:`ingest.sources.kafka_messages`), runs each partition's batch through its pipeline in a
thread, then writes what came out: detections to the alert store (idempotent by detection
key) and the alerts topic, alert events to the lifecycle topic, rejects to the dead-letter
topic, all acknowledged before the partition's next checkpoint.

Nothing lost, nothing doubled:

- consumption is at least once: offsets are committed only after a checkpoint, and a
  checkpoint is written only after every output of the messages it covers was acknowledged;
- state and offset travel together (:mod:`dianyan.kafka.checkpoint`): on assignment a
  partition is restored from its newest checkpoint and the consumer seeks to that
  checkpoint's offset, so a restart or a takeover replays exactly what the state has not
  seen, through the same deterministic code, giving the same detections;
- the store absorbs the repeated detections (their keys are known), alert ids are
  deterministic, and consumers of the alerts topic can drop repeats by ``key``.

Readings are consumed with aiokafka's batch API (``getmany``) inside the Faust worker rather
than through a Faust stream: Faust hands a stream one event at a time (about 120 µs each
here, before any work), which caps per-reading JSON far below what the detectors take.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError

from alerts.store import AlertStore
from detectors.thresholds import load_thresholds
from dianyan.errors import DianyanError
from dianyan.kafka.checkpoint import Checkpoint
from dianyan.kafka.checkpoint_io import read_latest, write_checkpoint
from dianyan.kafka.outputs import Outputs
from dianyan.kafka.partition import LiveContext, PartitionWork
from dianyan.kafka.registry_feed import apply_update
from dianyan.kafka.topics import CONTROL_HEADER, END_OF_INPUT, Topics, ensure_topics
from dianyan.metrics import KafkaMetrics, Metrics
from ingest.registry import Registry
from ingest.sources.kafka_messages import decode_messages, is_arrow

log = logging.getLogger(__name__)

_COMMIT_TIMEOUT_S = 5.0
_MAX_MESSAGE_BYTES = 16 << 20


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    """Everything a worker is told; the defaults suit one machine."""

    bootstrap: str
    topics: Topics = field(default_factory=Topics)
    group: str = "dianyan-workers"
    thresholds: str = "config/thresholds.yaml"
    registry_dir: str | None = None
    max_batch_bytes: int = 16 << 20
    max_wait_s: float = 0.2
    checkpoint_every_s: float = 5.0
    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 1_000
    worker_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])


@dataclass
class _Owned:
    """A readings partition this worker owns right now."""

    work: PartitionWork
    position: int  # next offset to process
    checkpointed: int  # offset the newest checkpoint covers
    marker: dict[str, Any] | None
    newest_event_ms: int | None = None
    last_broker_ms: int | None = None
    last_checkpoint: float = field(default_factory=time.monotonic)
    checkpoint_now: bool = False


class Worker:
    """Consumes readings partitions, detects, writes alerts, checkpoints (see module doc)."""

    def __init__(
        self,
        settings: WorkerSettings,
        open_store: Callable[[], AlertStore],
        metrics: Metrics,
        kafka_metrics: KafkaMetrics,
    ) -> None:
        self.s = settings
        self._open_store = open_store
        self.metrics = metrics
        self.km = kafka_metrics
        self.owned: dict[int, _Owned] = {}
        self._lock = asyncio.Lock()
        self._epoch = 0
        self._stopping = asyncio.Event()
        self._registry_task: asyncio.Task[None] | None = None
        self._failure: BaseException | None = None
        self._started: list[Any] = []  # what start() opened, closed by stop() in reverse

    # -- life cycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Topics, thresholds, registry (files, then the registry topic), store, consumer."""
        s = self.s
        await ensure_topics(s.bootstrap, s.topics, s.group)
        self.thresholds = load_thresholds(s.thresholds)
        registry = Registry.load(s.registry_dir) if s.registry_dir else None
        self.context = LiveContext(registry)
        self.store = await asyncio.to_thread(self._open_store)
        self.producer = AIOKafkaProducer(
            bootstrap_servers=s.bootstrap,
            acks="all",
            linger_ms=5,
            max_request_size=_MAX_MESSAGE_BYTES,
        )
        await self.producer.start()
        self._started.append(self.producer)
        self.outputs = Outputs(self.producer, self.store, s.topics, s.worker_id)
        self._registry_consumer = AIOKafkaConsumer(
            bootstrap_servers=s.bootstrap, group_id=None, enable_auto_commit=False
        )
        await self._registry_consumer.start()
        self._started.append(self._registry_consumer)
        await self._catch_up_registry()
        self._registry_task = asyncio.create_task(self._follow_registry())
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=s.bootstrap,
            group_id=s.group,
            client_id=f"dianyan-{s.worker_id}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=s.session_timeout_ms,
            heartbeat_interval_ms=s.heartbeat_interval_ms,
            rebalance_timeout_ms=max(s.session_timeout_ms, 30_000),
            max_poll_interval_ms=300_000,
            max_partition_fetch_bytes=_MAX_MESSAGE_BYTES,
            fetch_max_bytes=4 * _MAX_MESSAGE_BYTES,
        )
        self.consumer.subscribe([s.topics.readings], listener=_Listener(self))
        await self.consumer.start()
        self._started.append(self.consumer)
        log.info("worker %s started (group %s)", s.worker_id, s.group)

    async def stop(self, loop_task: asyncio.Task[None] | None = None) -> None:
        """Let the loop finish its batch, checkpoint every partition, leave the group, close.

        After a failed batch no checkpoint is written: the state may be half-way through
        it, and the previous checkpoint (with its offset) is the consistent one.
        """
        self._stopping.set()
        if self._registry_task is not None:
            self._registry_task.cancel()
        clean = True
        if loop_task is not None:
            try:
                await loop_task
            except Exception:
                clean = False
        async with self._lock:
            if clean:
                for p, owned in list(self.owned.items()):
                    if owned.position > owned.checkpointed:
                        await self._checkpoint(p, owned)
            self.owned.clear()
        for client in reversed(self._started):
            await client.stop()
        self._started.clear()
        if getattr(self, "store", None) is not None:
            await asyncio.to_thread(self.store.close)

    async def run(self) -> None:
        """Gather, process, checkpoint, until stopped (raises what made the worker fail)."""
        while not self._stopping.is_set():
            epoch = self._epoch
            records = await self._gather()
            async with self._lock:
                if self._epoch != epoch:  # a rebalance: fetch again from where state is
                    for p, owned in self.owned.items():
                        self.consumer.seek(
                            TopicPartition(self.s.topics.readings, p), owned.position
                        )
                    continue
                for tp, msgs in records.items():
                    owned = self.owned.get(tp.partition)
                    if owned is None:
                        continue
                    msgs = [m for m in msgs if m.offset >= owned.position]
                    if msgs:
                        await self._process(tp.partition, owned, msgs)
                await self._maybe_checkpoint()
                self._observe_lag()
        if self._failure is not None:
            raise self._failure

    # -- consuming -----------------------------------------------------------------------

    async def _gather(self) -> dict[TopicPartition, list[Any]]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.s.max_wait_s
        out: dict[TopicPartition, list[Any]] = {}
        size = 0
        while size < self.s.max_batch_bytes:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            got = await self.consumer.getmany(timeout_ms=max(1, int(remaining * 1000)))
            for tp, msgs in got.items():
                out.setdefault(tp, []).extend(msgs)
                size += sum(len(m.value or b"") for m in msgs)
        return out

    async def _process(self, partition: int, owned: _Owned, msgs: list[Any]) -> None:
        source = f"kafka:{self.s.topics.readings}/{partition}"
        segment: list[Any] = []
        for msg in msgs:
            if _is_end_of_input(msg):
                await self._feed(partition, owned, segment, source)
                segment = []
                self.km.messages_in.labels("control").inc()
                await self.outputs.emit(partition, await asyncio.to_thread(owned.work.finish))
                owned.checkpoint_now = True
            else:
                segment.append(msg)
        await self._feed(partition, owned, segment, source)
        owned.position = msgs[-1].offset + 1
        owned.last_broker_ms = msgs[-1].timestamp

    async def _feed(self, partition: int, owned: _Owned, msgs: list[Any], source: str) -> None:
        if not msgs:
            return
        arrow = sum(1 for m in msgs if m.value and is_arrow(m.value))
        self.km.messages_in.labels("arrow").inc(arrow)
        self.km.messages_in.labels("json").inc(len(msgs) - arrow)
        raws = decode_messages([m.value for m in msgs], [m.offset for m in msgs], source)
        out = await asyncio.to_thread(owned.work.feed, raws)
        if out.newest_event_ms is not None:
            owned.newest_event_ms = max(owned.newest_event_ms or 0, out.newest_event_ms)
            self.km.last_event_time.labels(str(partition)).set(owned.newest_event_ms / 1000)
        await self.outputs.emit(partition, out)

    # -- checkpoints ---------------------------------------------------------------------

    async def _maybe_checkpoint(self) -> None:
        now = time.monotonic()
        for p, owned in list(self.owned.items()):
            due = now - owned.last_checkpoint >= self.s.checkpoint_every_s
            if owned.position > owned.checkpointed and (due or owned.checkpoint_now):
                await self._checkpoint(p, owned)

    async def _checkpoint(self, partition: int, owned: _Owned) -> None:
        """Write the partition's state with its offset, then commit that offset."""
        state = await asyncio.to_thread(owned.work.snapshot)
        cp = Checkpoint(
            partition, owned.position, state, int(time.time() * 1000), owned.newest_event_ms
        )
        owned.marker = await write_checkpoint(
            self.producer, self.s.topics.checkpoints(self.s.group), cp, owned.marker
        )
        owned.checkpointed = owned.position
        owned.last_checkpoint = time.monotonic()
        owned.checkpoint_now = False
        self.km.checkpoints.inc()
        self.km.checkpoint_bytes.labels(str(partition)).set(owned.marker["packed_bytes"])
        tp = TopicPartition(self.s.topics.readings, partition)
        t0 = time.perf_counter()
        try:
            await asyncio.wait_for(
                self.consumer.commit({tp: owned.position}), timeout=_COMMIT_TIMEOUT_S
            )
        except (KafkaError, TimeoutError) as exc:  # the checkpoint decides where to resume
            log.warning("commit of partition %d at %d failed: %r", partition, owned.position, exc)
        else:
            self.km.commit_seconds.observe(time.perf_counter() - t0)

    def _observe_lag(self) -> None:
        now_ms = time.time() * 1000
        entities = state = 0
        for p, owned in self.owned.items():
            entities += owned.work.entities
            state += owned.work.state_bytes
            high = self.consumer.highwater(TopicPartition(self.s.topics.readings, p))
            if high is None:
                continue
            lag = max(high - owned.position, 0)
            self.km.lag_messages.labels(str(p)).set(lag)
            behind = (now_ms - owned.last_broker_ms) / 1000 if lag and owned.last_broker_ms else 0
            self.km.lag_seconds.labels(str(p)).set(max(behind, 0.0))
        self.metrics.entities.set(entities)
        self.metrics.state_bytes.set(state)

    # -- rebalances ----------------------------------------------------------------------

    async def on_assigned(self, assigned: set[TopicPartition]) -> None:
        """Restore every assigned partition from its newest checkpoint and seek to it."""
        async with self._lock:
            self._epoch += 1
            self.km.rebalances.inc()
            mine = sorted(tp for tp in assigned if tp.topic == self.s.topics.readings)
            try:
                if mine:
                    await self._restore(mine)
            except Exception as exc:  # owning partitions without state would skip them
                log.exception("restoring partitions %s failed; the worker stops", mine)
                self._failure = exc
                self._stopping.set()
            self.km.partitions.set(len(self.owned))

    async def _restore(self, tps: list[TopicPartition]) -> None:
        t0 = time.perf_counter()
        self.km.recovering.set(len(tps))
        latest = await read_latest(
            self.s.bootstrap, self.s.topics.checkpoints(self.s.group), [tp.partition for tp in tps]
        )
        beginnings = await self.consumer.beginning_offsets(tps)
        n_parts = len(self.consumer.partitions_for_topic(self.s.topics.readings) or tps)
        for tp in tps:
            cp, marker, nbytes = latest[tp.partition]
            self.km.recovered_bytes.inc(nbytes)
            route = (tp.partition, n_parts)
            work = self._new_work(route)
            position = beginnings[tp] if cp is None else cp.next_offset
            if cp is not None:
                try:
                    await asyncio.to_thread(work.restore, cp.state)
                except DianyanError as exc:
                    log.error(
                        "partition %d: checkpoint refused, fresh state: %s", tp.partition, exc
                    )
                    work = self._new_work()
            self.consumer.seek(tp, position)
            newest = cp.newest_event_ms if cp else None
            self.owned[tp.partition] = _Owned(work, position, position, marker, newest)
            if newest is not None:
                self.km.last_event_time.labels(str(tp.partition)).set(newest / 1000)
            self.km.recovering.dec()
            log.info(
                "partition %d restored at offset %d (%d bytes)", tp.partition, position, nbytes
            )
        self.km.recovery_seconds.observe(time.perf_counter() - t0)

    def _new_work(self, route: tuple[int, int]) -> PartitionWork:
        return PartitionWork(
            self.thresholds, self.context, self.metrics, self.s.thresholds, route=route
        )

    async def on_revoked(self, revoked: set[TopicPartition]) -> None:
        """Checkpoint the partitions leaving this worker, then forget them."""
        async with self._lock:
            self._epoch += 1
            for tp in sorted(revoked):
                owned = self.owned.pop(tp.partition, None)
                if owned is not None and owned.position > owned.checkpointed:
                    await self._checkpoint(tp.partition, owned)
                self._forget_gauges(tp.partition)
            self.km.partitions.set(len(self.owned))

    def _forget_gauges(self, partition: int) -> None:
        """Per-partition gauges of a partition now owned elsewhere: its owner reports them."""
        for gauge in (self.km.lag_messages, self.km.lag_seconds, self.km.last_event_time):
            with contextlib.suppress(KeyError):
                gauge.remove(str(partition))

    # -- registry --------------------------------------------------------------------------

    async def _catch_up_registry(self) -> None:
        c = self._registry_consumer
        await c.topics()  # metadata
        parts = c.partitions_for_topic(self.s.topics.registry) or {0}
        tps = [TopicPartition(self.s.topics.registry, p) for p in sorted(parts)]
        c.assign(tps)
        await c.seek_to_beginning(*tps)
        end = await c.end_offsets(tps)
        for tp in tps:
            while await c.position(tp) < end[tp]:
                await self._apply_registry(await c.getmany(tp, timeout_ms=1000))

    async def _follow_registry(self) -> None:
        while not self._stopping.is_set():
            got = await self._registry_consumer.getmany(timeout_ms=1000)
            if got:
                async with self._lock:
                    await self._apply_registry(got)

    async def _apply_registry(self, got: dict[TopicPartition, list[Any]]) -> None:
        for msgs in got.values():
            for msg in msgs:
                try:
                    if self.context.registry is None:
                        raise DianyanError("no registry loaded; start the worker with --registry")
                    self.context.update(apply_update(self.context.registry, msg.value))
                except DianyanError as exc:
                    log.error("registry offset %d: %s", msg.offset, exc)
                    self.km.registry_updates.labels("refused").inc()
                    await self.outputs.refused_update(msg.topic, msg.partition, msg.offset,
                                                      msg.value, exc)  # fmt: skip
                else:
                    self.km.registry_updates.labels("applied").inc()


class _Listener(ConsumerRebalanceListener):
    def __init__(self, worker: Worker) -> None:
        self.worker = worker

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.worker.on_revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self.worker.on_assigned(assigned)


def _is_end_of_input(msg: Any) -> bool:
    return any(k == CONTROL_HEADER and v == END_OF_INPUT for k, v in msg.headers or ())
