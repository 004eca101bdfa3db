"""Reading alerts back: region scoping, filters, order, counts."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from alerts.model import AlertState
from alerts.store import AlertStore
from detectors.detection import Detection

NOW_MS = 1_750_000_000_000

MakeDetection = Callable[..., Detection]

COUNTIES = {"E1": "370481", "E2": "370402", "E3": "370502", "E4": "110101"}


@pytest.fixture
def filled(store: AlertStore, make_detection: MakeDetection) -> AlertStore:
    store.apply(
        [
            make_detection(entity_id=entity, county=county, start_slot=slot)
            for slot, (entity, county) in enumerate(COUNTIES.items())
        ]
        + [make_detection(rule="usage_surge", entity_id="E1", county="370481", start_slot=9)],
        NOW_MS,
    )
    return store


@pytest.mark.parametrize(
    ("region", "entities"),
    [
        ("37", {"E1", "E2", "E3"}),
        ("3704", {"E1", "E2"}),
        ("370481", {"E1"}),
        ("3705", {"E3"}),
        ("11", {"E4"}),
        ("4401", set()),
        (None, set(COUNTIES)),
    ],
)
def test_region_is_a_division_code_prefix(
    filled: AlertStore, region: str | None, entities: set[str]
) -> None:
    assert {a.entity_id for a in filled.list_alerts(region=region)} == entities
    assert all(a.county.startswith(region or "") for a in filled.list_alerts(region=region))


@pytest.mark.parametrize("region", ["3", "370", "37048", "3704811", "37%", "37_4", "", "３７"])
def test_malformed_region_is_refused(filled: AlertStore, region: str) -> None:
    with pytest.raises(ValueError, match="digits"):
        filled.list_alerts(region=region)


def test_alerts_are_listed_by_first_seen_then_id(filled: AlertStore) -> None:
    alerts = filled.list_alerts()
    assert len(alerts) == 5
    assert alerts == sorted(alerts, key=lambda a: (a.first_seen_ms, a.id))
    assert filled.list_alerts(limit=2) == alerts[:2]


def test_rule_and_state_filters(filled: AlertStore) -> None:
    surge = filled.list_alerts(rule="usage_surge")
    assert [(a.rule, a.entity_id) for a in surge] == [("usage_surge", "E1")]
    assert len(filled.list_alerts(state=AlertState.RAISED)) == 5
    assert filled.list_alerts(state="cleared") == []
    with pytest.raises(ValueError, match="raised, dispatched"):
        filled.list_alerts(state="closed")


def test_counts_by_rule_and_state(filled: AlertStore) -> None:
    assert filled.counts_by_rule_state() == {
        ("night_production", AlertState.RAISED): 4,
        ("usage_surge", AlertState.RAISED): 1,
    }
    assert filled.counts_by_rule_state(region="3705") == {
        ("night_production", AlertState.RAISED): 1
    }


def test_unknown_alert_reads_as_absent(filled: AlertStore) -> None:
    assert filled.get("A-none") is None
    assert filled.events("A-none") == []
    assert filled.detections_of("A-none") == []


def test_state_labels_pair_chinese_and_english() -> None:
    assert AlertState.RAISED.label == "告警 / Raised"
    assert AlertState.CLEARED.label == "销警 / Cleared"
    assert len({s.zh for s in AlertState}) == len(AlertState)
    assert [s.is_open for s in AlertState] == [s is not AlertState.CLEARED for s in AlertState]


def test_region_docstring_examples_hold() -> None:
    import doctest

    import alerts.region

    assert doctest.testmod(alerts.region).failed == 0
