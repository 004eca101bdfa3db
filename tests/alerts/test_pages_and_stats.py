"""Paging through the feed, and the counts the tech office tunes thresholds by."""

from __future__ import annotations

import datetime
from collections.abc import Callable

import pytest
from lifecycle_steps import CONFIRM, DISPATCH, EXPLAIN, NOW_MS, step

from alerts.model import Alert
from alerts.stats import WEEK_MS
from alerts.store import AlertStore
from detectors.detection import Detection

MakeDetection = Callable[..., Detection]
RaiseAlert = Callable[..., Alert]
CST = datetime.timezone(datetime.timedelta(hours=8))


@pytest.fixture
def seven(store: AlertStore, make_detection: MakeDetection) -> list[Alert]:
    """Seven alerts in two cities; two share a first-seen time (the id breaks the tie)."""
    store.apply(
        [
            make_detection(entity_id=f"E{i}", county=county, start_slot=slot)
            for i, (county, slot) in enumerate(
                [
                    ("370481", 0),
                    ("370502", 1),
                    ("370481", 2),
                    ("370481", 2),
                    ("370502", 3),
                    ("370481", 4),
                    ("370481", 5),
                ]
            )
        ],
        NOW_MS,
    )
    return store.list_alerts()


def pages(store: AlertStore, cursor: str | None = None, **filters: object) -> list[list[Alert]]:
    """Every page from ``cursor`` on, following next_cursor."""
    out = []
    while True:
        page = store.page_alerts(cursor=cursor, **filters)
        out.append(page.items)
        if page.next_cursor is None:
            return out
        cursor = page.next_cursor


def flat(store: AlertStore, **filters: object) -> list[Alert]:
    return [alert for page in pages(store, **filters) for alert in page]


def test_pages_cover_the_list_once_in_order(store: AlertStore, seven: list[Alert]) -> None:
    assert [len(p) for p in pages(store, limit=3)] == [3, 3, 1]
    assert flat(store, limit=3) == seven
    assert pages(store, limit=7) == [seven]
    assert flat(store, limit=2, newest_first=True) == seven[::-1]


def test_pages_apply_the_filters(store: AlertStore, seven: list[Alert]) -> None:
    county = [a for a in seven if a.county == "370481"]
    assert flat(store, limit=2, region="370481") == county
    since, until = seven[2].first_seen_ms, seven[5].first_seen_ms
    assert flat(store, limit=2, since_ms=since, until_ms=until) == seven[2:5]
    assert pages(store, state="cleared") == [[]]


def test_alerts_raised_while_paging_do_not_shift_the_pages_still_to_read(
    store: AlertStore, seven: list[Alert], make_detection: MakeDetection
) -> None:
    first = store.page_alerts(limit=3)
    store.apply(
        [
            make_detection(entity_id="early", start_slot=-5),  # sorts before the cursor
            make_detection(entity_id="late", start_slot=50),
        ],
        NOW_MS,
    )
    rest = flat(store, limit=3, cursor=first.next_cursor)
    assert [a.id for a in rest[:4]] == [a.id for a in seven[3:]]
    assert [a.entity_id for a in rest[4:]] == ["late"]


@pytest.mark.parametrize("cursor", ["nonsense", "", "YTox", "ZDoxOkEx"])
def test_a_cursor_not_handed_out_for_this_order_is_refused(
    store: AlertStore, seven: list[Alert], cursor: str
) -> None:
    # "YTox" is "a:1" (no id), "ZDoxOkEx" a newest-first cursor used oldest first.
    with pytest.raises(ValueError, match="start again without a cursor"):
        store.page_alerts(cursor=cursor)


@pytest.mark.parametrize("limit", [0, -1, 2.5, True])
def test_a_page_holds_at_least_one_alert(store: AlertStore, limit: object) -> None:
    with pytest.raises(ValueError, match="limit must be a whole number >= 1"):
        store.page_alerts(limit=limit)


def test_stats_count_states_and_outcomes_per_county_and_rule(
    store: AlertStore, raise_alert: RaiseAlert
) -> None:
    for path in ("confirmed", "confirmed", "explained", "cleared_explained", "raised"):
        raise_alert(path, county="370481")
    raise_alert("enforcing", county="370481", rule="usage_surge")
    raise_alert("dispatched", county="370502")

    rows = {(r.county, r.rule): r for r in store.stats().rows}
    night = rows[("370481", "night_production")]
    assert night.total == 5
    assert night.by_state == {
        "raised": 1,
        "dispatched": 0,
        "verified": 3,
        "enforcing": 0,
        "cleared": 1,
    }
    assert (night.confirmed, night.explained, night.precision) == (2, 2, 0.5)
    assert rows[("370481", "usage_surge")].precision == 1.0
    assert rows[("370502", "night_production")].precision is None  # nothing verified yet
    assert [(r.county, r.rule) for r in store.stats(region="3705").rows] == [
        ("370502", "night_production")
    ]
    assert store.stats().to_dict()["rows"][0]["precision"] == 0.5


def test_weekly_series_splits_at_monday_midnight_china_time(
    store: AlertStore, make_detection: MakeDetection
) -> None:
    sunday_late = make_detection(entity_id="E1", start_slot=390)  # T0 + 4 days 1.5 h
    monday = make_detection(entity_id="E2", start_slot=391)
    assert (
        datetime.datetime.fromtimestamp(sunday_late.start_ms / 1000, CST).strftime("%a %H:%M")
        == "Sun 23:45"
    )
    store.apply([sunday_late, monday, make_detection(entity_id="E3", start_slot=400)], NOW_MS)
    a, b, c = store.list_alerts()
    for alert, outcome in ((a, CONFIRM), (b, EXPLAIN), (c, CONFIRM)):
        step(store, step(store, alert, *DISPATCH), *outcome)

    weeks = store.stats().weekly
    assert [(w.week_start_ms, w.total, w.confirmed, w.explained) for w in weeks] == [
        (monday.start_ms - WEEK_MS, 1, 1, 0),
        (monday.start_ms, 2, 1, 1),
    ]
    assert [w.precision for w in weeks] == [1.0, 0.5]
    assert store.weekly_outcomes(rule="usage_surge") == []
    assert [w.total for w in store.weekly_outcomes(since_ms=monday.start_ms)] == [2]
