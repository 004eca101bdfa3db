"""One pass over history for several thresholds sets: read and validate once, detect per set.

Each set gets its own :class:`dianyan.pipeline.Pipeline` with an in-memory alert store, so
its detectors, dedup and alert ids are exactly those of ``dianyan run``. Every batch is
read, validated, narrowed to the scope and normalized once (by the first set's pipeline),
then handed to every set's ``Pipeline.detect``.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from alerts.exemptions import Exemption
from alerts.store import SqliteAlertStore
from detectors.thresholds import Thresholds
from dianyan.errors import ConfigError
from dianyan.metrics import Metrics
from dianyan.pipeline import DEFAULT_BATCH_ROWS, Pipeline, RunSummary
from ingest.registry import Registry
from ingest.sources import iter_raw_batches
from tuning.episodes import episodes_from_store
from tuning.progress import Progress
from tuning.scope import Scope


class CountingDeadLetter:
    """A dead-letter sink that only counts by reason: a backtest keeps no rejects."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()

    def write(self, rejects: pa.Table) -> None:
        if rejects.num_rows:
            counts = pc.value_counts(rejects["reason"].combine_chunks()).to_pylist()
            self._counts.update({c["values"]: c["counts"] for c in counts})

    @property
    def counts(self) -> dict[str, int]:
        return dict(self._counts)


@dataclass
class SetRun:
    """What one thresholds set raised over the history."""

    thresholds: Thresholds
    episodes: pd.DataFrame  # see tuning.episodes.EPISODE_COLUMNS, all of the replay
    alert_ids: list[str]  # the alerts an empty store holds after the replay, as `dianyan run`
    summary: RunSummary


@dataclass
class History:
    """The replay of every set, and what was read."""

    runs: dict[str, SetRun]
    readings_in: int = 0
    readings_replayed: int = 0  # inside the scope
    rejected: Counter[str] = field(default_factory=Counter)
    entities: set[str] = field(default_factory=set)  # seen inside the scope
    first_ms: int | None = None
    last_ms: int | None = None
    seconds: float = 0.0

    @property
    def readings_per_second(self) -> float:
        return self.readings_in / self.seconds if self.seconds else 0.0


def replay(
    path: str | Path,
    sets: Mapping[str, Thresholds],
    registry: Registry | None = None,
    scope: Scope | None = None,
    exemptions: Iterable[Exemption] = (),
    progress: Progress | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> History:
    """Replay the readings under ``path`` once through every set (the first one validates)."""
    scope = scope or Scope()
    _check_same_ingest(sets)
    exemptions = list(exemptions)
    entities = scope.entities(registry)
    stores = {name: SqliteAlertStore(":memory:") for name in sets}
    try:
        pipelines = {
            name: Pipeline(
                t, stores[name], CountingDeadLetter(), registry=registry, metrics=Metrics.create()
            )
            for name, t in sets.items()
        }
        for store in stores.values():
            _copy_exemptions(store, exemptions)
        history = History(runs={})
        first = next(iter(pipelines.values()))
        started = time.perf_counter()
        for raw in iter_raw_batches(path, batch_rows=batch_rows):
            history.readings_in += raw.num_rows
            result = first.validator.validate(raw)
            history.rejected.update(result.counts)
            valid = scope.readings(result.valid, entities)
            _note(history, valid)
            readings = first.normalize(valid)
            for pipeline in pipelines.values():
                pipeline.detect(readings)
            if progress is not None:
                progress.advance(raw.num_rows)
        for pipeline in pipelines.values():
            pipeline.finish()
        history.rejected.update(first.dead_letter.counts)
        history.seconds = time.perf_counter() - started
        for name, pipeline in pipelines.items():
            store = stores[name]
            history.runs[name] = SetRun(
                thresholds=sets[name],
                episodes=episodes_from_store(store),
                alert_ids=[a.id for a in store.list_alerts()],
                summary=pipeline.summary,
            )
        return history
    finally:
        if progress is not None:
            progress.close()
        for store in stores.values():
            store.close()


def _note(history: History, valid: pa.Table) -> None:
    history.readings_replayed += valid.num_rows
    if valid.num_rows == 0:
        return
    history.entities.update(pc.unique(valid["entity_id"]).to_pylist())
    lo, hi = pc.min_max(valid["ts"].cast(pa.int64())).values()
    first, last = lo.as_py(), hi.as_py()
    history.first_ms = first if history.first_ms is None else min(history.first_ms, first)
    history.last_ms = last if history.last_ms is None else max(history.last_ms, last)


def _check_same_ingest(sets: Mapping[str, Thresholds]) -> None:
    """The history is validated once, so every set must validate it the same way."""
    reference = next(iter(sets.values()))
    for t in sets.values():
        for key, value in t.ingest.items():
            if value != reference.ingest[key]:
                raise ConfigError(
                    t.path,
                    f"ingest.{key}",
                    value,
                    f"the same value as {reference.path} ({reference.ingest[key]}): a backtest "
                    "validates the history once; compare ingest settings in separate runs",
                )


def _copy_exemptions(store: SqliteAlertStore, exemptions: list[Exemption]) -> None:
    # Exemptions (报备) on file today apply from the start of the replay.
    for ex in exemptions:
        if ex.effective_end_ms <= ex.start_ms:
            continue
        store.add_exemption(
            entity_id=ex.entity_id,
            region=ex.region,
            rules=ex.rules,
            start_ms=ex.start_ms,
            end_ms=ex.effective_end_ms,
            reason=ex.reason,
            approver=ex.approver,
            created_by=ex.created_by,
            exemption_id=ex.id,
            now_ms=ex.created_at_ms,
        )
