"""Properties of ``apply`` over arbitrary detection streams."""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.store import ApplyResult, SqliteAlertStore
from detectors.detection import Detection

NOW_MS = 1_750_000_000_000

MakeDetection = Callable[..., Detection]

# (rule, entity, episode start slot, final, exemption) from small pools, so that streams
# have absorptions, finals, duplicates and a key delivered with and without an exemption.
_delivery = st.tuples(
    st.sampled_from(["night_production", "usage_surge"]),
    st.sampled_from(["E1", "E2"]),
    st.integers(0, 6).map(lambda k: 4 * k),
    st.booleans(),
    st.sampled_from([None, None, None, "BB-1"]),
)
_deliveries = st.lists(_delivery, max_size=14)


def build(make_detection: MakeDetection, spec: tuple) -> Detection:
    rule, entity, slot, final, exemption = spec
    return make_detection(rule, entity, start_slot=slot, final=final, suppressed_by=exemption)


def apply_fresh(batches: list[list[Detection]]) -> tuple[list, list[ApplyResult]]:
    with SqliteAlertStore(":memory:") as store:
        results = [store.apply(batch, NOW_MS) for batch in batches]
        alerts = store.list_alerts()
        linked = {a.id: store.detections_of(a.id) for a in alerts}
    return [alerts, linked], results


@settings(max_examples=60, deadline=None)
@given(specs=_deliveries, data=st.data())
def test_any_permutation_within_a_call_gives_the_same_alerts(
    make_detection: MakeDetection, specs: list[tuple], data: st.DataObject
) -> None:
    detections = [build(make_detection, s) for s in specs]
    shuffled = data.draw(st.permutations(detections))
    assert apply_fresh([shuffled]) == apply_fresh([detections])


@settings(max_examples=60, deadline=None)
@given(specs=_deliveries)
def test_every_alert_summarises_exactly_the_detections_linked_to_it(
    make_detection: MakeDetection, specs: list[tuple]
) -> None:
    detections = [build(make_detection, s) for s in specs]
    with SqliteAlertStore(":memory:") as store:
        result = store.apply(detections, NOW_MS)
        alerts = store.list_alerts()
        linked = {a.id: store.detections_of(a.id) for a in alerts}
        suppressed = store.suppressed()

    assert result.total == len(detections)
    assert result.created == len(alerts)
    distinct = {d.key for d in detections}
    assert result.duplicates == len(detections) - len(distinct)
    recorded = [d.key for ds in linked.values() for d in ds] + [s.key for s in suppressed]
    assert sorted(recorded) == sorted(distinct)  # nothing lost, nothing doubled
    assert all(s.detection.suppressed_by == s.exemption_id for s in suppressed)
    for alert in alerts:
        own = linked[alert.id]
        assert all(d.suppressed_by is None for d in own)
        assert {(d.rule, d.entity_id) for d in own} == {(alert.rule, alert.entity_id)}
        assert alert.first_seen_ms == min(d.start_ms for d in own)
        assert alert.last_seen_ms == max(d.end_ms for d in own)
        assert alert.occurrences == len({d.episode_start_ms for d in own})
    # Nothing is cleared yet, so at most one alert per entity and rule.
    assert len({(a.rule, a.entity_id) for a in alerts}) == len(alerts)


@settings(max_examples=60, deadline=None)
@given(specs=_deliveries, cuts=st.lists(st.integers(0, 14), max_size=3))
def test_an_in_order_stream_gives_the_same_alerts_however_it_is_batched(
    make_detection: MakeDetection, specs: list[tuple], cuts: list[int]
) -> None:
    # In the store's processing order: by end, rule, entity, then the rest of the content.
    detections = sorted(
        (build(make_detection, s) for s in specs),
        key=lambda d: (d.end_ms, d.rule, d.entity_id, d.episode_start_ms, d.final, d.to_json()),
    )
    bounds = [0, *sorted(min(c, len(detections)) for c in cuts), len(detections)]
    batches = [detections[a:b] for a, b in pairwise(bounds)]
    assert apply_fresh(batches)[0] == apply_fresh([detections])[0]


@settings(max_examples=40, deadline=None)
@given(specs=_deliveries, data=st.data())
def test_replaying_a_stream_in_any_order_changes_nothing(
    make_detection: MakeDetection, specs: list[tuple], data: st.DataObject
) -> None:
    detections = [build(make_detection, s) for s in specs]
    replay = data.draw(st.permutations(detections))
    with SqliteAlertStore(":memory:") as store:
        store.apply(detections, NOW_MS)
        before = store.list_alerts()
        assert store.apply(replay, NOW_MS + 1) == ApplyResult(duplicates=len(replay))
        assert store.list_alerts() == before
