"""Applying detections: raising, dedup, absorption, suppression, one transaction per call."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pytest
from lifecycle_steps import PATHS, step

from alerts.model import AlertState
from alerts.store import AlertStore, ApplyResult, SqliteAlertStore
from detectors.detection import Detection, episode_alert_id

NOW_MS = 1_750_000_000_000  # the store's clock in these tests
SLOT_MS = 15 * 60 * 1000

MakeDetection = Callable[..., Detection]


def snapshot(store: AlertStore) -> dict[str, Any]:
    """Everything a user can read back from the store."""
    alerts = store.list_alerts()
    return {
        "alerts": alerts,
        "events": {a.id: store.events(a.id) for a in alerts},
        "detections": {a.id: store.detections_of(a.id) for a in alerts},
        "suppressed": store.suppressed(),
    }


def test_first_detection_raises_an_alert_with_its_raised_event(
    store: AlertStore, make_detection: MakeDetection
) -> None:
    d = make_detection()
    assert store.apply([d], NOW_MS) == ApplyResult(created=1)

    alert = store.get(episode_alert_id(d.rule, d.entity_id, d.episode_start_ms))
    assert alert is not None
    assert (alert.rule, alert.entity_id, alert.county) == (d.rule, d.entity_id, d.county)
    assert alert.state is AlertState.RAISED
    assert (alert.first_seen_ms, alert.last_seen_ms) == (d.start_ms, d.end_ms)
    assert (alert.occurrences, alert.seq, alert.created_at) == (1, 1, NOW_MS)
    assert alert.thresholds_version == d.thresholds_version
    [event] = store.events(alert.id)
    assert (event.seq, event.at_ms, event.actor, event.action) == (1, NOW_MS, "dianyan", "raised")
    assert event.payload["detection"] == d.key


def test_redelivery_in_the_same_call_and_later_changes_nothing(
    store: AlertStore, make_detection: MakeDetection
) -> None:
    batch = [make_detection(), make_detection(final=True), make_detection(entity_id="E002")]
    first = store.apply([*batch, batch[0]], NOW_MS)
    assert first == ApplyResult(created=2, extended=1, duplicates=1)
    before = snapshot(store)

    again = store.apply(batch, NOW_MS + SLOT_MS)
    assert again == ApplyResult(duplicates=len(batch))
    assert snapshot(store) == before


def test_replay_into_a_reopened_file_store_changes_nothing(
    store_path: Path, make_detection: MakeDetection
) -> None:
    batch = [
        make_detection(),
        make_detection(start_slot=8),
        make_detection(start_slot=8, final=True),
        make_detection(entity_id="E009", suppressed_by="X-1"),
    ]
    with SqliteAlertStore(store_path) as store:
        store.apply(batch, NOW_MS)
        before = snapshot(store)
    with SqliteAlertStore(store_path) as store:
        assert store.apply(reversed(batch), NOW_MS + 1) == ApplyResult(duplicates=len(batch))
        assert snapshot(store) == before


def test_open_alert_absorbs_new_episodes_of_the_same_entity_and_rule(
    store: AlertStore, make_detection: MakeDetection
) -> None:
    first = make_detection(start_slot=0)
    later = make_detection(start_slot=10)
    store.apply([first], NOW_MS)
    assert store.apply([later], NOW_MS) == ApplyResult(absorbed=1)

    [alert] = store.list_alerts()
    assert alert.id == episode_alert_id(first.rule, first.entity_id, first.episode_start_ms)
    assert alert.occurrences == 2
    assert (alert.first_seen_ms, alert.last_seen_ms) == (first.start_ms, later.end_ms)
    assert alert.seq == 1  # absorbing is not a lifecycle action
    assert store.detections_of(alert.id) == [first, later]


def test_final_detection_extends_the_alert_without_counting_a_new_episode(
    store: AlertStore, make_detection: MakeDetection
) -> None:
    opening = make_detection(start_slot=3)
    store.apply([opening], NOW_MS)
    final = make_detection(start_slot=3, final=True, slots=9)
    assert store.apply([final], NOW_MS) == ApplyResult(extended=1)

    [alert] = store.list_alerts()
    assert (alert.occurrences, alert.last_seen_ms) == (1, final.end_ms)


def test_final_of_an_absorbed_episode_extends_the_alert_that_absorbed_it(
    store: AlertStore, make_detection: MakeDetection
) -> None:
    store.apply([make_detection(start_slot=0), make_detection(start_slot=10)], NOW_MS)
    final = make_detection(start_slot=10, final=True, slots=20)
    assert store.apply([final], NOW_MS) == ApplyResult(extended=1)
    [alert] = store.list_alerts()
    assert (alert.occurrences, alert.last_seen_ms) == (2, final.end_ms)


def test_final_arriving_first_raises_and_the_late_opening_widens_first_seen(
    store: AlertStore, make_detection: MakeDetection
) -> None:
    opening = make_detection(start_slot=5)
    # The final delivery covers only the episode's tail here.
    final = replace(make_detection(start_slot=5, final=True), start_ms=opening.end_ms)
    store.apply([final], NOW_MS)
    assert store.apply([opening], NOW_MS) == ApplyResult(extended=1)
    [alert] = store.list_alerts()
    assert alert.occurrences == 1
    assert (alert.first_seen_ms, alert.last_seen_ms) == (opening.start_ms, final.end_ms)
    assert alert.evidence["observed"] == final.observed


@pytest.mark.parametrize(
    ("rule", "entity_id"), [("usage_surge", "E001"), ("night_production", "E2")]
)
def test_other_rule_or_entity_gets_its_own_alert(
    store: AlertStore, make_detection: MakeDetection, rule: str, entity_id: str
) -> None:
    store.apply([make_detection(), make_detection(rule=rule, entity_id=entity_id)], NOW_MS)
    assert len(store.list_alerts()) == 2


def test_suppressed_detection_is_recorded_with_its_exemption_and_raises_nothing(
    store: AlertStore, make_detection: MakeDetection
) -> None:
    d = make_detection(suppressed_by="BB-2024-017")
    assert store.apply([d], NOW_MS) == ApplyResult(suppressed=1)
    assert store.list_alerts() == []
    [record] = store.suppressed()
    assert (record.key, record.exemption_id, record.detection) == (d.key, "BB-2024-017", d)
    assert store.suppressed(exemption_id="BB-other") == []


def test_suppressed_detection_does_not_extend_an_open_alert(
    store: AlertStore, make_detection: MakeDetection
) -> None:
    store.apply([make_detection()], NOW_MS)
    before = store.list_alerts()
    covered = [
        make_detection(final=True, slots=30, suppressed_by="BB-1"),
        make_detection(start_slot=40, suppressed_by="BB-1"),
    ]
    assert store.apply(covered, NOW_MS) == ApplyResult(suppressed=2)
    assert store.list_alerts() == before
    assert len(store.suppressed(rule="night_production", region="3704")) == 2


def test_cleared_alert_absorbs_nothing_and_a_late_final_leaves_it_unchanged(
    store: AlertStore, make_detection: MakeDetection
) -> None:
    store.apply([make_detection()], NOW_MS)
    [raised] = store.list_alerts()
    for action, payload in PATHS["cleared_explained"]:
        step(store, store.get(raised.id), action, payload)

    result = store.apply(
        [make_detection(final=True, slots=7), make_detection(start_slot=50)], NOW_MS
    )
    assert result == ApplyResult(late=1, created=1)
    cleared = store.get(raised.id)
    assert cleared is not None
    assert cleared.state is AlertState.CLEARED
    assert cleared.last_seen_ms == raised.last_seen_ms
    [new] = store.list_alerts(state="raised")
    assert new.id != raised.id
    assert new.occurrences == 1


def test_a_failing_call_writes_nothing(store: AlertStore, make_detection: MakeDetection) -> None:
    good = make_detection()
    broken = replace(make_detection(entity_id="E2", start_slot=9), county=None)
    with pytest.raises((sqlite3.IntegrityError, psycopg.IntegrityError)):
        store.apply([good, broken], NOW_MS)
    assert snapshot(store) == {"alerts": [], "events": {}, "detections": {}, "suppressed": []}
    assert store.apply([good], NOW_MS) == ApplyResult(created=1)


def test_a_worsening_episode_raises_the_alerts_severity_and_never_lowers_it(
    store: AlertStore, make_detection: MakeDetection
) -> None:
    opening = make_detection()  # severity high
    store.apply([opening], NOW_MS)
    alert_id = episode_alert_id(opening.rule, opening.entity_id, opening.episode_start_ms)
    store.apply([replace(make_detection(final=True), severity="critical")], NOW_MS)
    assert store.get(alert_id).severity == "critical"
    later = replace(make_detection(start_slot=200), severity="low")  # absorbed, milder
    assert store.apply([later], NOW_MS) == ApplyResult(absorbed=1)
    assert store.get(alert_id).severity == "critical"
    assert store.get(alert_id).seq == 1  # not a lifecycle action
