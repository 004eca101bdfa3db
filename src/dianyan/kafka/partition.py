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
    ) -> None:
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
            result = p.validator.validate(raw)
            p._reject(result.rejects, result.counts)
            if result.valid.num_rows:
                valid.append(result.valid)
        table = pa.concat_tables(valid) if valid else empty_batch()
        out.accepted = table.num_rows
        if table.num_rows:
            out.newest_event_ms = int(pc.max(table["ts"]).cast(pa.int64()).as_py())
        p.feed(table)
        return self._take(out)

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
