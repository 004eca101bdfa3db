"""One readings partition's work, without a broker: the embedded pipeline, kept per partition.

Each partition a worker owns gets its own :class:`dianyan.pipeline.Pipeline` (validator,
register normalizer, detector set), so the distributed runtime runs exactly the code of
``dianyan run``. The pipeline's store and dead-letter sink are buffers here: the worker
takes the detections and rejects of a batch and writes them to the alert store and the
topics itself, before it checkpoints the partition.

``snapshot()`` gives everything the partition knows as bytes (detectors, carried register
readings, the validator's memory); ``restore()`` on a fresh partition gives it back, so a
partition moved to another worker, or replayed after a crash, continues exactly.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

from alerts.dedup import ApplyResult
from detectors.context import EntityContext, NoRegistry, RegistryContext
from detectors.detection import Detection
from detectors.thresholds import Thresholds
from dianyan.kafka.topics import partition_of
from dianyan.kafka.validator_state import restore_validator, snapshot_validator
from dianyan.metrics import Metrics
from dianyan.pipeline import Pipeline, open_watcher
from ingest.rawbatch import RawBatch
from ingest.registry import Registry
from ingest.schema import empty_batch


class LiveContext:
    """The registry as the detectors see it, swapped whole when an update arrives."""

    def __init__(self, registry: Registry | None) -> None:
        self.registry = registry
        self._inner: EntityContext = RegistryContext(registry) if registry else NoRegistry()

    def update(self, registry: Registry) -> None:
        self.registry = registry
        self._inner = RegistryContext(registry)

    def describe(self, entity_ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
        return self._inner.describe(entity_ids)

    def status(self, entity_ids: np.ndarray, slot_end_ms: np.ndarray) -> np.ndarray:
        return self._inner.status(entity_ids, slot_end_ms)

    def exemption(self, entity_ids: np.ndarray, slot_end_ms: np.ndarray, rule: str) -> np.ndarray:
        return self._inner.exemption(entity_ids, slot_end_ms, rule)


class DetectionBuffer:
    """Stands in for the alert store inside a partition's pipeline."""

    def __init__(self) -> None:
        self.detections: list[Detection] = []

    def apply(self, detections: list[Detection], now_ms: int) -> ApplyResult:
        self.detections.extend(detections)
        return ApplyResult()


class RejectBuffer:
    """Stands in for the dead-letter sink inside a partition's pipeline."""

    def __init__(self) -> None:
        self.tables: list[pa.Table] = []
        self._counts: dict[str, int] = {}

    def write(self, rejects: pa.Table) -> None:
        if rejects.num_rows:
            self.tables.append(rejects)

    @property
    def counts(self) -> dict[str, int]:
        return self._counts


@dataclass
class PartitionOutput:
    """What one batch (or the end of input) produced."""

    detections: list[Detection] = field(default_factory=list)
    rejects: list[pa.Table] = field(default_factory=list)
    readings_in: int = 0
    accepted: int = 0
    newest_event_ms: int | None = None


class PartitionWork:
    """Validator, normalizer and detectors of one partition (see the module docstring)."""

    def __init__(
        self,
        thresholds: Thresholds,
        context: LiveContext,
        metrics: Metrics,
        thresholds_path: str | Path | None = None,
        route: tuple[int, int] | None = None,
    ) -> None:
        self.route = route  # (this partition, partitions of the topic): refuse misrouted rows
        self._checked = pa.array([], pa.string())  # entity ids whose partition is known
        self._foreign = pa.array([], pa.string())  # ... of which belong to another partition
        self._detections = DetectionBuffer()
        self._rejects = RejectBuffer()
        self.pipeline = Pipeline(
            thresholds,
            self._detections,  # type: ignore[arg-type]  # the store's apply() is all it needs
            self._rejects,
            registry=context.registry,
            metrics=metrics,
            watcher=open_watcher(thresholds_path) if thresholds_path else None,
        )
        for detector in self.pipeline.detectors.detectors.values():
            if hasattr(detector, "context"):
                detector.context = context  # registry updates reach every detector

    def feed(self, raws: list[RawBatch]) -> PartitionOutput:
        """Validate the raw batches in order, then one step of the pipeline over them all."""
        p = self.pipeline
        out = PartitionOutput()
        valid = []
        for raw in raws:
            out.readings_in += raw.num_rows
            table = p.validate(raw)
            if table.num_rows:
                valid.append(table)
        table = pa.concat_tables(valid) if valid else empty_batch()
        if self.route is not None and table.num_rows:
            table = self._keep_routed(table)
        out.accepted = table.num_rows
        if table.num_rows:
            out.newest_event_ms = int(pc.max(table["ts"]).cast(pa.int64()).as_py())
        p.feed(table)
        return self._take(out)

    def _keep_routed(self, table: pa.Table) -> pa.Table:
        """Rows of entities that belong here; the others are refused as ``wrong_partition``.

        An entity's readings on two partitions would split its state in two, so a producer
        that keys with another partitioner gets every misrouted reading back, with the fix.
        """
        here, n = self.route or (0, 1)
        ids = pc.unique(table["entity_id"])
        if isinstance(ids, pa.ChunkedArray):
            ids = ids.combine_chunks()
        if pa.types.is_dictionary(ids.type):
            ids = ids.dictionary_decode()
        new = ids.filter(pc.invert(pc.is_in(ids, value_set=self._checked)))
        if len(new):
            home = partition_of(new, n)
            self._checked = pa.concat_arrays([self._checked, new])
            self._foreign = pa.concat_arrays([self._foreign, new.filter(pa.array(home != here))])
        if not len(self._foreign):
            return table
        wrong = pc.is_in(table["entity_id"], value_set=self._foreign)
        if not pc.any(wrong).as_py():
            return table
        refused = table.filter(wrong)
        detail = (
            f"entity not on its partition: it belongs to the one Kafka's murmur2 partitioner "
            f"gives its id (of {n}), this is partition {here}; key JSON readings by entity id "
            "with that partitioner (librdkafka: topic.partitioner=murmur2_random)"
        )
        refused = refused.append_column(
            "reason", pa.array(["wrong_partition"] * refused.num_rows, pa.string())
        ).append_column("detail", pa.array([detail] * refused.num_rows, pa.string()))
        self.pipeline.reject(refused)
        return table.filter(pc.invert(wrong))

    def finish(self) -> PartitionOutput:
        """End of input on this partition: evaluate the slots still open."""
        self.pipeline.finish()
        return self._take(PartitionOutput())

    def _take(self, out: PartitionOutput) -> PartitionOutput:
        out.detections, self._detections.detections = self._detections.detections, []
        out.rejects, self._rejects.tables = self._rejects.tables, []
        return out

    @property
    def entities(self) -> int:
        return len(self.pipeline.detector.state)

    @property
    def state_bytes(self) -> int:
        return self.pipeline.detector.state.nbytes()

    def snapshot(self) -> bytes:
        """Detectors, carried registers and the validator's memory, as one ``.npz``."""
        p = self.pipeline
        sink = io.BytesIO()
        registers = p.normalizer.snapshot()
        with ipc.new_stream(sink, registers.schema) as writer:
            writer.write_table(registers)
        parts = {
            "detectors": p.detectors.snapshot(),
            "normalizer": sink.getvalue(),
            "validator": snapshot_validator(p.validator),
        }
        buf = io.BytesIO()
        np.savez(buf, **{k: np.frombuffer(v, dtype=np.uint8) for k, v in parts.items()})
        return buf.getvalue()

    def restore(self, data: bytes) -> None:
        """Continue from a :meth:`snapshot` (raises StateMismatchError on other settings)."""
        p = self.pipeline
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            parts = {k: npz[k].tobytes() for k in npz.files}
        p.detectors.restore(parts["detectors"])
        p.normalizer.restore(ipc.open_stream(pa.py_buffer(parts["normalizer"])).read_all())
        restore_validator(p.validator, parts["validator"])
