"""The embedded pipeline: files → ingest → detectors → alert store, in one process.

Bad records are validated out into the dead-letter sink with a reason and counted; they
never stop the stream. Detections go to the alert store in one transaction per batch;
because alert ids are deterministic and the store is idempotent, replaying the same files
again changes nothing.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from alerts.store import SqliteAlertStore
from detectors.context import NoRegistry, RegistryContext
from detectors.detection import Detection
from detectors.detector_set import DetectorSet
from detectors.thresholds import Thresholds, ThresholdsWatcher
from dianyan.errors import ConfigError, DianyanError
from dianyan.metrics import Metrics
from ingest.deadletter import DeadLetterSink
from ingest.normalize import RegisterNormalizer
from ingest.rawbatch import RawBatch
from ingest.registry import Registry
from ingest.rejects import Reason, count_reasons
from ingest.schema import metric_counts
from ingest.sources import iter_raw_batches
from ingest.validate import Validator

log = logging.getLogger(__name__)

DEFAULT_BATCH_ROWS = 1 << 20
# A register gap longer than this is not painted evenly over the slots nobody saw (a day
# shift spread into the night would look like night production); it is refused with
# reason register_gap_too_long and the slots stay missing, as for an interval meter.
MAX_SPREAD_SLOTS = 4


@dataclass
class RunSummary:
    """What a run did, for the terminal and for benchmarks."""

    readings_in: int = 0
    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    detections: Counter[str] = field(default_factory=Counter)
    alerts: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def __str__(self) -> str:
        rate = self.readings_in / self.seconds if self.seconds else 0.0
        lines = [
            f"readings: {self.readings_in:,} in, {self.accepted:,} accepted, "
            f"{sum(self.rejected.values()):,} rejected ({rate:,.0f} readings/s)",
        ]
        for reason, n in sorted(self.rejected.items()):
            lines.append(f"  rejected {reason}: {n:,}")
        for key, n in sorted(self.detections.items()):
            lines.append(f"  detections {key}: {n:,}")
        lines.append("alerts: " + ", ".join(f"{k} {v}" for k, v in sorted(self.alerts.items())))
        return "\n".join(lines)


class Pipeline:
    """ingest → detectors → alerts for the embedded runtime."""

    def __init__(
        self,
        thresholds: Thresholds,
        store: SqliteAlertStore,
        dead_letter: DeadLetterSink,
        registry: Registry | None = None,
        metrics: Metrics | None = None,
        watcher: ThresholdsWatcher | None = None,
    ) -> None:
        self.thresholds = thresholds
        self.store = store
        self.dead_letter = dead_letter
        self.registry = registry
        self.metrics = metrics or Metrics.create()
        self.watcher = watcher
        self.validator = Validator(
            registry_entities=set(registry.entity_ids.tolist()) if registry is not None else None,
            allowed_lateness_ms=thresholds.ingest.allowed_lateness_minutes * 60_000,
        )
        self.normalizer = RegisterNormalizer(
            registry.register_maxima() if registry is not None else None,
            max_spread_slots=MAX_SPREAD_SLOTS,
        )
        context = RegistryContext(registry) if registry is not None else NoRegistry()
        self.detectors = DetectorSet(thresholds, context)
        self.detector = self.detectors["electricity"]  # watermark and state figures
        self.summary = RunSummary()
        self.metrics.thresholds.info({"version": thresholds.version, "path": thresholds.path})

    def run(
        self, path: str | Path, speed: float | None = None, batch_rows: int = DEFAULT_BATCH_ROWS
    ) -> RunSummary:
        """Replay files as fast as possible (speed None) or ``speed`` times real time."""
        return self.run_batches(iter_raw_batches(path, batch_rows=batch_rows), speed)

    def run_batches(self, raws: Iterable[RawBatch], speed: float | None = None) -> RunSummary:
        """Raw batches of any source (files, MQTT) through validation, detectors and store."""
        started = time.perf_counter()
        pace: tuple[float, int] | None = None
        for raw in raws:
            valid = self.validate(raw)
            if speed and valid.num_rows:
                pace = self._pace(valid, speed, pace)
            self.feed(valid)
        self.finish()
        self.summary.seconds = time.perf_counter() - started
        return self.summary

    def validate(self, raw: RawBatch) -> pa.Table:
        """One raw batch through validation; its rejects go to the dead-letter sink."""
        self.summary.readings_in += raw.num_rows
        result = self.validator.validate(raw)
        self._reject(result.rejects, result.counts)
        return result.valid

    def reject(self, table: pa.Table) -> None:
        """Records refused after validation (a ``reason`` column): dead-lettered, counted."""
        self._reject_table(table)

    def feed(self, valid: pa.Table) -> list[Detection]:
        """One validated batch through normalization, the detector and the store."""
        t0 = time.perf_counter()
        self._poll_thresholds()
        return self.detect(self.normalize(valid), t0)

    def normalize(self, valid: pa.Table) -> pa.Table:
        """Registers to interval energy; refused rows go to the dead-letter sink."""
        self.summary.accepted += valid.num_rows  # as validated; register intervals are derived
        self._count_accepted(valid)
        converted, refused = self.normalizer.intervals(valid)
        if refused.num_rows:
            self._reject_table(refused)
        # register rows stay in the batch (no detector consumes them); their intervals join it
        readings = pa.concat_tables([valid, converted]) if converted.num_rows else valid
        return readings

    def detect(self, readings: pa.Table, t0: float | None = None) -> list[Detection]:
        """Normalized readings through the detectors and into the store.

        A backtest normalizes a batch once and hands it to several pipelines this way.
        """
        t0 = time.perf_counter() if t0 is None else t0
        result = self.detectors.step(readings)
        if result.late is not None:
            reasons = pa.array([Reason.TOO_LATE.value] * result.late.num_rows)
            self._reject_table(result.late.append_column("reason", reasons))
        self._store(result.detections)
        self._observe(t0)
        return result.detections

    def finish(self) -> list[Detection]:
        """End of input: evaluate the slots still open."""
        detections = self.detectors.flush().detections
        self._store(detections)
        return detections

    # -- internals ---------------------------------------------------------------------

    def _store(self, detections: list[Detection]) -> None:
        if not detections:
            return
        for d in detections:
            kind = "suppressed" if d.suppressed_by else ("final" if d.final else "open")
            self.summary.detections[f"{d.rule} {kind}"] += 1
            self.metrics.detections.labels(d.rule, kind).inc()
        outcome = self.store.apply(detections, now_ms=int(time.time() * 1000))
        for name in ("created", "absorbed", "extended", "duplicates", "suppressed"):
            n = getattr(outcome, name)
            if n:
                self.summary.alerts[name] += n

    def _count_accepted(self, readings: pa.Table) -> None:
        if readings.num_rows == 0:
            return
        for metric, n in metric_counts(readings).items():
            self.metrics.readings_accepted.labels(metric).inc(n)

    def _reject(self, rejects: pa.Table, counts: dict[str, int]) -> None:
        if counts:
            self.dead_letter.write(rejects)
            for reason, n in counts.items():
                self.summary.rejected[reason] += n
                self.metrics.readings_rejected.labels(reason).inc(n)

    def _reject_table(self, table: pa.Table) -> None:
        self._reject(table, count_reasons(table))

    def _poll_thresholds(self) -> None:
        if self.watcher is None:
            return
        new = self.watcher.poll()
        if new is None:
            return
        try:
            self.detectors.reload(new)
        except DianyanError as exc:
            log.error("thresholds %s not applied: %s", new.version, exc)
            self.metrics.thresholds_reloads.labels("refused").inc()
            return
        self.thresholds = new
        self.metrics.thresholds.info({"version": new.version, "path": new.path})
        self.metrics.thresholds_reloads.labels("applied").inc()

    def _observe(self, t0: float) -> None:
        m = self.metrics
        m.batch_seconds.observe(time.perf_counter() - t0)
        wm = self.detector.grid.watermark_ms
        if wm > 0:
            m.watermark.set(wm / 1000)
            m.event_time_lag.set(time.time() - wm / 1000)
        m.entities.set(len(self.detector.state))
        m.state_bytes.set(self.detector.state.nbytes())

    def _pace(
        self, valid: pa.Table, speed: float, pace: tuple[float, int] | None
    ) -> tuple[float, int]:
        first_ts = int(valid["ts"].cast(pa.int64()).to_numpy().min())
        if pace is None:
            return time.monotonic(), first_ts
        wall0, ts0 = pace
        due = wall0 + (first_ts - ts0) / 1000 / speed
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        return pace


def open_watcher(path: str | Path) -> ThresholdsWatcher:
    def on_error(exc: ConfigError) -> None:
        log.error("thresholds file refused, the running version stays in force: %s", exc)

    return ThresholdsWatcher(path, on_error=on_error)
