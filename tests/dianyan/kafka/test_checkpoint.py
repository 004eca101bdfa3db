"""Checkpoints and partition state: chunked, verified, and restored to continue exactly."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
from aiokafka.partitioner import DefaultPartitioner

from alerts.store import SqliteAlertStore
from detectors.thresholds import load_thresholds
from dianyan.kafka.checkpoint import (
    Checkpoint,
    Record,
    assemble,
    chunk_records,
    marker_record,
    parse_marker,
    tombstones,
)
from dianyan.kafka.partition import LiveContext, PartitionWork
from dianyan.kafka.topics import partition_of
from dianyan.metrics import Metrics
from ingest.registry import Registry
from ingest.sources import iter_raw_batches

THRESHOLDS = "config/thresholds.yaml"


def written(records: list[Record], first_offset: int) -> list[Record]:
    return [Record(r.key, r.value, first_offset + i) for i, r in enumerate(records)]


def test_a_checkpoint_survives_chunking_and_a_missing_chunk_is_noticed():
    cp = Checkpoint(3, 1234, os.urandom(300_000), 7, 99)
    generation, chunks = chunk_records(cp, chunk_bytes=64 * 1024)
    assert len(chunks) > 3
    chunks = written(chunks, 10)
    marker = parse_marker(marker_record(cp, generation, chunks, None), 3)
    assert marker is not None and marker["next_offset"] == 1234
    assert assemble(marker, chunks) == cp
    assert assemble(marker, chunks[:-1]) is None
    damaged = [*chunks[:-1], Record(chunks[-1].key, b"x" + (chunks[-1].value or b"")[1:], 0)]
    assert assemble(marker, damaged) is None


def test_the_next_checkpoint_deletes_the_chunks_of_the_one_before():
    first = Checkpoint(0, 10, b"a" * 100)
    gen1, c1 = chunk_records(first)
    m1 = parse_marker(marker_record(first, gen1, written(c1, 0), None), 0)
    second = Checkpoint(0, 20, b"b" * 100)
    gen2, c2 = chunk_records(second)
    m2 = parse_marker(marker_record(second, gen2, written(c2, 5), m1), 0)
    assert [t.key for t in tombstones(0, m2)] == [c.key for c in c1]
    assert all(t.value is None for t in tombstones(0, m2)) and tombstones(0, m1) == []


def test_entities_go_to_the_partition_a_keyed_kafka_producer_picks():
    ids = [f"E{i:05d}" for i in range(200)] + ["电眼-1"]
    parts = partition_of(pa.array(ids * 2), 6)
    expected = [DefaultPartitioner()(i.encode(), list(range(6)), []) for i in ids] * 2
    assert parts.tolist() == expected


def test_a_restored_partition_continues_as_if_never_interrupted(province: Path):
    thresholds = load_thresholds(THRESHOLDS)
    context = LiveContext(Registry.load(province / "registry"))
    raws = list(iter_raw_batches(province / "readings.parquet", batch_rows=50_000))

    def run(cut: int | None) -> list:
        work = PartitionWork(thresholds, context, Metrics.create())
        detections = []
        for i, raw in enumerate(raws):
            if i == cut:
                restored = PartitionWork(thresholds, context, Metrics.create())
                restored.restore(work.snapshot())
                work = restored
            detections += work.feed([raw]).detections
        detections += work.finish().detections
        with SqliteAlertStore(":memory:") as store:
            store.apply(detections, now_ms=0)
            return sorted((a.id, a.rule, a.episode_start_ms) for a in store.list_alerts())

    whole = run(None)
    assert whole and run(len(raws) // 2) == whole


def test_a_restored_validator_still_knows_what_it_accepted():
    from dianyan.kafka.validator_state import restore_validator, snapshot_validator
    from ingest.rawbatch import RawBatch
    from ingest.validate import Validator

    def batch(rows: list[tuple[str, int]]) -> RawBatch:
        return RawBatch(
            {
                "entity_id": pa.array([e for e, _ in rows]),
                "metric": pa.array(["electricity.kwh"] * len(rows)),
                "ts": pa.array([1_772_323_200_000 + t * 900_000 for _, t in rows]),
                "value": pa.array([1.0] * len(rows)),
            },
            "test",
            np.arange(len(rows)),
        )

    before = Validator()
    before.validate(batch([("E1", 20), ("E2", 20)]))
    for registry in (None, {"E0", "E1", "E2"}):  # open, and rebuilt with other entity rows
        after = Validator(registry_entities=registry)
        restore_validator(after, snapshot_validator(before))
        result = after.validate(batch([("E2", 20), ("E1", 1), ("E1", 21)]))
        reasons = result.rejects.column("reason").to_pylist()
        assert sorted(reasons) == ["duplicate", "too_late"] and result.valid.num_rows == 1
    # a batch in time order is judged against the restored memory too
    after = Validator()
    restore_validator(after, snapshot_validator(before))
    result = after.validate(batch([("E1", 1), ("E2", 20)]))
    assert sorted(result.rejects.column("reason").to_pylist()) == ["duplicate", "too_late"]
