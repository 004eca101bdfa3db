"""The embedded pipeline end to end: files in, alerts out, nothing lost, nothing doubled."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from alerts.store import SqliteAlertStore
from detectors.thresholds import ThresholdsWatcher, load_thresholds
from dianyan.metrics import Metrics
from dianyan.pipeline import Pipeline
from ingest.deadletter import JsonLinesDeadLetter, MemoryDeadLetter
from ingest.registry import Registry

RULES = {"suspended_operation", "night_production", "usage_surge", "meter_offline"}


def _replay(province: Path, db: Path, thresholds: Path, metrics: Metrics | None = None):
    registry = Registry.load(province / "registry")
    with SqliteAlertStore(db) as store:
        pipe = Pipeline(
            load_thresholds(thresholds),
            store,
            MemoryDeadLetter(),
            registry=registry,
            metrics=metrics,
        )
        summary = pipe.run(province / "readings.parquet")
        alerts = store.list_alerts()
    return summary, alerts


def test_replay_raises_alerts_of_every_rule(province, tmp_path, thresholds_file):
    summary, alerts = _replay(province, tmp_path / "a.sqlite", thresholds_file)
    assert summary.accepted > 0
    assert {a.rule for a in alerts} == RULES
    truth = pq.read_table(province / "readings.parquet").num_rows
    assert summary.readings_in == truth


def test_replaying_twice_into_the_same_store_changes_nothing(province, tmp_path, thresholds_file):
    db = tmp_path / "a.sqlite"
    _, first = _replay(province, db, thresholds_file)
    summary, second = _replay(province, db, thresholds_file)
    assert [a.id for a in second] == [a.id for a in first]
    assert [(a.occurrences, a.last_seen_ms) for a in second] == [
        (a.occurrences, a.last_seen_ms) for a in first
    ]
    assert summary.alerts["created"] == 0 and summary.alerts["absorbed"] == 0


def test_two_fresh_replays_give_identical_alert_ids(province, tmp_path, thresholds_file):
    _, a = _replay(province, tmp_path / "a.sqlite", thresholds_file)
    _, b = _replay(province, tmp_path / "b.sqlite", thresholds_file)
    assert [(x.id, x.rule, x.entity_id, x.episode_start_ms) for x in a] == [
        (x.id, x.rule, x.entity_id, x.episode_start_ms) for x in b
    ]


def test_bad_records_are_dead_lettered_and_good_neighbours_kept(tmp_path, thresholds_file):
    csv = tmp_path / "mixed.csv"
    csv.write_text(
        "entity_id,metric,ts,value\n"
        "E1,electricity.kwh,2026-03-02T00:15:00Z,10\n"
        "E1,electricity.kwh,2026-03-02T00:30:00Z,not-a-number\n"
        "E1,electricity.kwh,2026-03-02T00:45:00Z,-5\n"
        "E1,water.sparkle,2026-03-02T00:45:00Z,1\n"
        "E1,electricity.kwh,2026-03-02T01:00:00Z,12\n",
        encoding="utf-8",
    )
    dead = tmp_path / "dead.jsonl"
    with SqliteAlertStore(tmp_path / "a.sqlite") as store:
        pipe = Pipeline(load_thresholds(thresholds_file), store, JsonLinesDeadLetter(dead))
        summary = pipe.run(csv)
    assert summary.accepted == 2
    assert dict(summary.rejected) == {
        "unparsable_number": 1,
        "negative_energy": 1,
        "unknown_metric": 1,
    }
    lines = [json.loads(line) for line in dead.read_text(encoding="utf-8").splitlines()]
    assert sorted(r["reason"] for r in lines) == sorted(summary.rejected)
    assert {r["position"] for r in lines} == {3, 4, 5}


def test_metrics_are_valid_prometheus_text(province, tmp_path, thresholds_file):
    metrics = Metrics.create(CollectorRegistry())
    _replay(province, tmp_path / "a.sqlite", thresholds_file, metrics)
    text = generate_latest(metrics.registry).decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    accepted = {
        s.labels["metric"]: s.value
        for s in families["dianyan_readings_accepted"].samples
        if s.name.endswith("_total")
    }
    assert accepted["electricity.kwh"] > 0
    detections = {s.labels["rule"] for s in families["dianyan_detections"].samples}
    assert detections == RULES
    version = load_thresholds(thresholds_file).version
    info = families["dianyan_thresholds_info"].samples[0]
    assert info.labels["version"] == version
    assert families["dianyan_batch_seconds"].samples


def _batches(province: Path, n: int) -> list[pa.Table]:
    table = pq.read_table(province / "readings.parquet")
    size = -(-table.num_rows // n)
    return [table.slice(i * size, size) for i in range(n)]


def test_thresholds_reload_between_batches_and_bad_edits_are_refused(
    province, tmp_path, thresholds_file
):
    registry = Registry.load(province / "registry")
    metrics = Metrics.create(CollectorRegistry())
    old = load_thresholds(thresholds_file)
    with SqliteAlertStore(tmp_path / "a.sqlite") as store:
        pipe = Pipeline(
            old,
            store,
            MemoryDeadLetter(),
            registry=registry,
            metrics=metrics,
            watcher=ThresholdsWatcher(thresholds_file, on_error=lambda exc: None),
        )
        first, second, third = _batches(province, 3)
        pipe.feed(first)
        thresholds_file.write_text("rules: {usage_surge: {z: oops}}\n", encoding="utf-8")
        pipe.feed(second)
        assert pipe.detector.thresholds.version == old.version  # bad edit: old stays
        text = Path("config/thresholds.yaml").read_text(encoding="utf-8")
        thresholds_file.write_text(text.replace("z: 8.0", "z: 9.0"), encoding="utf-8")
        detections = pipe.feed(third) + pipe.finish()
        new = load_thresholds(thresholds_file)
    assert new.version != old.version
    assert pipe.detector.thresholds.version == new.version
    assert detections and {d.thresholds_version for d in detections} == {new.version}
    text = generate_latest(metrics.registry).decode()
    assert 'dianyan_thresholds_reloads_total{result="applied"} 1.0' in text
