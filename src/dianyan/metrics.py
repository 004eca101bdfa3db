"""Every Prometheus metric of dianyan, declared in one place against a given registry.

Tests pass their own ``CollectorRegistry``; the service uses a fresh one per process so
nothing leaks between pipelines.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

BATCH_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class Metrics:
    registry: CollectorRegistry
    readings_accepted: Counter
    readings_rejected: Counter
    detections: Counter
    alerts: Counter
    alerts_open: Gauge
    batch_seconds: Histogram
    event_time_lag: Gauge
    watermark: Gauge
    thresholds: Info
    thresholds_reloads: Counter
    alerts_overdue: Gauge
    entities: Gauge
    state_bytes: Gauge

    @classmethod
    def create(cls, registry: CollectorRegistry | None = None) -> Metrics:
        r = registry if registry is not None else CollectorRegistry()
        return cls(
            registry=r,
            readings_accepted=Counter(
                "dianyan_readings_accepted",
                "Readings accepted by validation",
                ["metric"],
                registry=r,
            ),
            readings_rejected=Counter(
                "dianyan_readings_rejected", "Readings rejected, by reason", ["reason"], registry=r
            ),
            detections=Counter(
                "dianyan_detections",
                "Detections by rule and kind (open, final, suppressed)",
                ["rule", "kind"],
                registry=r,
            ),
            alerts=Counter(
                "dianyan_alerts",
                "Alert store outcomes by rule (created, absorbed, extended, duplicate, suppressed)",
                ["rule", "outcome"],
                registry=r,
            ),
            alerts_open=Gauge(
                "dianyan_alerts_open",
                "Alerts not yet cleared, by rule and state",
                ["rule", "state"],
                registry=r,
            ),
            batch_seconds=Histogram(
                "dianyan_batch_seconds",
                "Wall time to process one input batch",
                buckets=BATCH_BUCKETS,
                registry=r,
            ),
            event_time_lag=Gauge(
                "dianyan_event_time_lag_seconds",
                "Wall clock minus the newest reading time processed (large during replays)",
                registry=r,
            ),
            watermark=Gauge(
                "dianyan_watermark_timestamp_seconds",
                "Newest reading time seen (UTC epoch s)",
                registry=r,
            ),
            thresholds=Info(
                "dianyan_thresholds", "The thresholds file in force and its version", registry=r
            ),
            thresholds_reloads=Counter(
                "dianyan_thresholds_reloads",
                "Thresholds reload attempts by result",
                ["result"],
                registry=r,
            ),
            alerts_overdue=Gauge(
                "dianyan_alerts_overdue",
                "Open alerts past a stage deadlines (超时督办), by rule",
                ["rule"],
                registry=r,
            ),
            entities=Gauge("dianyan_entities", "Entities with detector state", registry=r),
            state_bytes=Gauge(
                "dianyan_detector_state_bytes", "Bytes of detector state", registry=r
            ),
        )

    def set_alert_gauges(self, counts: Mapping[tuple[str, str], int], rows: Iterable[Any]) -> None:
        """Open alerts by (rule, state) and overdue alerts by rule, from the store."""
        self.alerts_open.clear()
        for (rule, state), n in counts.items():
            if str(state) != "cleared":
                self.alerts_open.labels(rule, str(state)).set(n)
        overdue: dict[str, int] = {}
        for row in rows:
            overdue[row.rule] = overdue.get(row.rule, 0) + int(row.overdue)
        self.alerts_overdue.clear()
        for rule, n in overdue.items():
            self.alerts_overdue.labels(rule).set(n)


@dataclass(frozen=True)
class KafkaMetrics:
    """What a distributed worker adds: per-partition progress, commits, rebalances, recovery."""

    lag_messages: Gauge
    lag_seconds: Gauge
    last_event_time: Gauge
    messages_in: Counter
    commit_seconds: Histogram
    checkpoints: Counter
    checkpoint_bytes: Gauge
    rebalances: Counter
    partitions: Gauge
    recovering: Gauge
    recovered_bytes: Counter
    recovery_seconds: Histogram
    registry_updates: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry) -> KafkaMetrics:
        r = registry
        return cls(
            lag_messages=Gauge(
                "dianyan_consumer_lag_messages",
                "Readings messages not yet processed, by partition",
                ["partition"],
                registry=r,
            ),
            lag_seconds=Gauge(
                "dianyan_consumer_lag_seconds",
                "Age of the last message processed while more wait (broker time), by partition",
                ["partition"],
                registry=r,
            ),
            last_event_time=Gauge(
                "dianyan_last_event_timestamp_seconds",
                "Newest reading time processed (UTC epoch s), by partition",
                ["partition"],
                registry=r,
            ),
            messages_in=Counter(
                "dianyan_messages_in",
                "Readings messages consumed, by payload (json, arrow, control, unreadable)",
                ["format"],
                registry=r,
            ),
            commit_seconds=Histogram(
                "dianyan_commit_seconds",
                "Offset commit latency (after the checkpoint is written)",
                buckets=BATCH_BUCKETS,
                registry=r,
            ),
            checkpoints=Counter("dianyan_checkpoints", "Partition checkpoints written", registry=r),
            checkpoint_bytes=Gauge(
                "dianyan_checkpoint_bytes",
                "Compressed size of the last checkpoint, by partition",
                ["partition"],
                registry=r,
            ),
            rebalances=Counter("dianyan_rebalances", "Partition assignments received", registry=r),
            partitions=Gauge("dianyan_partitions", "Readings partitions owned", registry=r),
            recovering=Gauge(
                "dianyan_recovering_partitions",
                "Partitions whose state is being restored from a checkpoint",
                registry=r,
            ),
            recovered_bytes=Counter(
                "dianyan_recovered_bytes", "Checkpoint bytes read while restoring", registry=r
            ),
            recovery_seconds=Histogram(
                "dianyan_recovery_seconds",
                "Time to restore the state of the partitions of one assignment",
                buckets=BATCH_BUCKETS,
                registry=r,
            ),
            registry_updates=Counter(
                "dianyan_registry_updates",
                "Registry update messages, by result (applied, refused)",
                ["result"],
                registry=r,
            ),
        )
