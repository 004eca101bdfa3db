"""All detectors of a runtime behind one step/flush/snapshot/restore/reload interface.

Each detector consumes the metrics it names and ignores the rest, so a runtime hands every
batch to the set and never routes readings itself. Adding a domain (gas, water, a generic
score) means adding a factory to ``DETECTORS``.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Set
from typing import Protocol

import numpy as np
import pyarrow as pa

from detectors.context import EntityContext, NoRegistry
from detectors.detection import Detection
from detectors.electricity import ElectricityDetector, StepResult
from detectors.state import StateMismatchError
from detectors.stations import GasDetector, WaterDetector
from detectors.thresholds import Thresholds
from ingest.schema import metrics_in


class Detector(Protocol):
    """What a runtime needs from a detector."""

    def step(self, batch: pa.Table, present: Set[str] | None = None) -> StepResult:
        """``present``: the metrics in ``batch`` when the caller knows them."""
        ...

    def flush(self) -> StepResult: ...

    def snapshot(self) -> bytes: ...

    def restore(self, data: bytes) -> None: ...

    def reload(self, thresholds: Thresholds) -> None: ...


DetectorFactory = Callable[[Thresholds, EntityContext], Detector]

DETECTORS: dict[str, DetectorFactory] = {
    "electricity": ElectricityDetector,
    "gas": GasDetector,
    "water": WaterDetector,
}


class DetectorSet:
    """The detectors of one runtime (or one partition of a distributed one)."""

    def __init__(
        self,
        thresholds: Thresholds,
        context: EntityContext | None = None,
        factories: dict[str, DetectorFactory] | None = None,
    ) -> None:
        ctx = context or NoRegistry()
        self.thresholds = thresholds
        self.detectors: dict[str, Detector] = {
            name: make(thresholds, ctx)
            for name, make in (DETECTORS if factories is None else factories).items()
        }

    def __getitem__(self, name: str) -> Detector:
        return self.detectors[name]

    def step(self, batch: pa.Table) -> StepResult:
        present = metrics_in(batch) if batch.num_rows else set()
        return _merge([d.step(batch, present) for d in self.detectors.values()])

    def flush(self) -> StepResult:
        return _merge([d.flush() for d in self.detectors.values()])

    def reload(self, thresholds: Thresholds) -> None:
        """Apply new thresholds to every detector, or to none (all refusals happen first)."""
        for d in self.detectors.values():
            check = getattr(d, "check_reload", None)
            if check is not None:
                check(thresholds)
        for d in self.detectors.values():
            d.reload(thresholds)
        self.thresholds = thresholds

    def snapshot(self) -> bytes:
        buf = io.BytesIO()
        parts = {n: np.frombuffer(d.snapshot(), dtype=np.uint8) for n, d in self.detectors.items()}
        np.savez(buf, **parts)
        return buf.getvalue()

    def restore(self, data: bytes) -> None:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            missing = set(self.detectors) - set(npz.files)
            if missing:
                raise StateMismatchError(
                    f"snapshot has no state for detectors {sorted(missing)}; "
                    "start these from fresh state or restore a matching snapshot."
                )
            for name, d in self.detectors.items():
                d.restore(npz[name].tobytes())


def _merge(results: list[StepResult]) -> StepResult:
    detections: list[Detection] = [d for r in results for d in r.detections]
    late = [r.late for r in results if r.late is not None and r.late.num_rows]
    return StepResult(detections, pa.concat_tables(late) if late else None)
