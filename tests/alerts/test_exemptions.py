"""Exemptions (报备) in the store: they silence what they cover, expire, and can be revoked."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from lifecycle_steps import HOUR_MS, NOW_MS

from alerts.exemptions import Exemption
from alerts.store import AlertStore, ApplyResult, SqliteAlertStore
from detectors.detection import Detection
from dianyan.errors import ExemptionError, ExemptionNotFound

MakeDetection = Callable[..., Detection]
DAY_MS = 24 * HOUR_MS


@pytest.fixture
def period(make_detection: MakeDetection) -> tuple[int, int]:
    """A day around the factory's episodes (which start 2024-05-01 22:15 CST)."""
    start = make_detection().start_ms - HOUR_MS
    return start, start + DAY_MS


def add(store: AlertStore, period: tuple[int, int], **kwargs: Any) -> Exemption:
    fields: dict[str, Any] = {
        "rules": ["night_production"],
        "start_ms": period[0],
        "end_ms": period[1],
        "reason": "夜间生产许可 / night production permit",
        "approver": "县应急管理局 赵局长",
        "created_by": "科技和信息化室 陈工",
        "now_ms": NOW_MS,
    }
    if "entity_id" not in kwargs and "region" not in kwargs:
        fields |= {"entity_id": "E001", "region": "370481"}
    return store.add_exemption(**(fields | kwargs))


def test_a_covered_detection_is_recorded_as_suppressed_with_the_exemptions_id(
    store: AlertStore, make_detection: MakeDetection, period: tuple[int, int]
) -> None:
    ex = add(store, period)
    d = make_detection()
    assert store.apply([d, make_detection(final=True)], NOW_MS) == ApplyResult(suppressed=2)
    assert store.list_alerts() == []
    records = store.suppressed(exemption_id=ex.id)
    assert [r.key for r in records] == [d.key, make_detection(final=True).key]
    assert records[0].detection == replace(d, suppressed_by=ex.id)
    assert store.apply([d], NOW_MS) == ApplyResult(duplicates=1)


def test_the_store_and_the_detector_paths_end_in_the_same_suppressed_record(
    store: AlertStore, make_detection: MakeDetection, period: tuple[int, int]
) -> None:
    ex = add(store, period, exemption_id="BB-2024-017")
    store.apply([make_detection()], NOW_MS)  # covered by the store's exemption
    with SqliteAlertStore(":memory:") as other:
        other.apply([make_detection(suppressed_by="BB-2024-017")], NOW_MS)  # by the detector
        assert other.suppressed() == store.suppressed()
    assert ex.id == "BB-2024-017"


@pytest.mark.parametrize(
    ("what", "detection_kwargs"),
    [
        ("another entity", {"entity_id": "E002"}),
        ("another rule", {"rule": "usage_surge"}),
        ("after the end", {"start_slot": 4 * 24}),
        ("running past the end", {"start_slot": 4 * 22, "slots": 12}),
    ],
)
def test_what_an_exemption_does_not_cover_raises_an_alert(
    store: AlertStore,
    make_detection: MakeDetection,
    period: tuple[int, int],
    what: str,
    detection_kwargs: dict[str, Any],
) -> None:
    add(store, period)
    assert store.apply([make_detection(**detection_kwargs)], NOW_MS) == ApplyResult(created=1)
    assert store.suppressed() == []


def test_an_exemption_expires_on_its_own(
    store: AlertStore, make_detection: MakeDetection, period: tuple[int, int]
) -> None:
    ex = add(store, period)
    inside, later = make_detection(), make_detection(start_slot=4 * 24 + 4)
    assert store.apply([inside, later], NOW_MS) == ApplyResult(suppressed=1, created=1)
    assert ex.active_at(period[0]) and not ex.active_at(period[1])
    assert store.list_exemptions(active_at_ms=period[1] - 1) == [ex]
    assert store.list_exemptions(active_at_ms=period[1]) == []


@pytest.mark.parametrize(("region", "covered"), [("37", True), ("3704", True), ("3705", False)])
def test_a_region_exemption_covers_every_entity_inside_it(
    store: AlertStore,
    make_detection: MakeDetection,
    period: tuple[int, int],
    region: str,
    covered: bool,
) -> None:
    add(store, period, region=region, rules=["*"])
    result = store.apply(
        [make_detection(entity_id="E9", county="370481", rule="usage_surge")], NOW_MS
    )
    assert result == (ApplyResult(suppressed=1) if covered else ApplyResult(created=1))


def test_the_entitys_own_exemption_is_named_before_a_regional_one(
    store: AlertStore, make_detection: MakeDetection, period: tuple[int, int]
) -> None:
    add(store, period, region="37", rules=["*"], exemption_id="BB-province")
    add(store, period, exemption_id="BB-own")
    add(store, period, region="370481", exemption_id="BB-county")
    store.apply([make_detection()], NOW_MS)
    assert [r.exemption_id for r in store.suppressed()] == ["BB-own"]


def test_revoking_ends_an_exemption_from_then_on_and_keeps_what_it_suppressed(
    store: AlertStore, make_detection: MakeDetection, period: tuple[int, int]
) -> None:
    ex = add(store, period)
    before = make_detection()
    store.apply([before], NOW_MS)
    revoked_at = before.end_ms + HOUR_MS
    revoked = store.revoke_exemption(ex.id, "县应急管理局 赵局长", revoked_at)
    assert (revoked.revoked_at_ms, revoked.revoked_by) == (revoked_at, "县应急管理局 赵局长")
    assert store.list_exemptions() == [revoked]
    assert store.list_exemptions(active_at_ms=revoked_at) == []

    after = make_detection(start_slot=12)  # inside the period, after the revocation
    assert store.apply([after], NOW_MS) == ApplyResult(created=1)
    assert [r.key for r in store.suppressed()] == [before.key]
    with pytest.raises(ExemptionError, match="already revoked"):
        store.revoke_exemption(ex.id, "someone", revoked_at + 1)


def test_an_exemption_outside_the_callers_region_cannot_be_seen_or_revoked(
    store: AlertStore, period: tuple[int, int]
) -> None:
    ours = add(store, period, exemption_id="BB-ours")
    province = add(store, period, region="37", exemption_id="BB-province")
    theirs = add(store, period, entity_id="E7", region="370502", exemption_id="BB-theirs")
    assert store.list_exemptions() == [ours, province, theirs]
    # A county sees its own and the wider ones that apply to it.
    assert store.list_exemptions(region="370481") == [ours, province]
    assert store.list_exemptions(region="3705") == [province, theirs]
    with pytest.raises(ExemptionNotFound) as foreign:
        store.revoke_exemption("BB-theirs", "x", NOW_MS, region="3704")
    with pytest.raises(ExemptionNotFound) as missing:
        store.revoke_exemption("BB-nope", "x", NOW_MS, region="3704")
    assert str(foreign.value) == str(missing.value).replace("BB-nope", "BB-theirs")
    with pytest.raises(ExemptionNotFound):  # a county may not revoke the province's
        store.revoke_exemption("BB-province", "x", NOW_MS, region="370481")
    assert store.get_exemption("BB-theirs").revoked_at_ms is None


def test_an_entity_exemption_finds_the_entitys_county_from_its_detections(
    store: AlertStore, make_detection: MakeDetection, period: tuple[int, int]
) -> None:
    store.apply([make_detection(entity_id="E5", county="370402", start_slot=200)], NOW_MS)
    ex = add(store, period, entity_id="E5")
    assert ex.region == "370402"
    with pytest.raises(ExemptionError, match="give region=<its county>"):
        add(store, period, entity_id="E-unknown")


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"rules": ["night_prodution"]}, "not a list of rule names"),
        ({"rules": []}, "not a list of rule names"),
        ({"end_ms": 0}, "is not after start_ms"),
        ({"entity_id": None, "region": None}, "give entity_id"),
        ({"entity_id": "E1", "region": "3704"}, "must be its 6-digit county code"),
        ({"entity_id": None, "region": "370"}, "6 (county) digits"),
        ({"reason": "  "}, "reason must be non-empty text"),
        ({"approver": None}, "approver must be non-empty text"),
        ({"start_ms": "2024-05-01"}, "start_ms must be UTC epoch milliseconds"),
        ({"entity_id": None, "region": "3705", "jurisdiction": "3704"}, "outside your juris"),
        ({"entity_id": None, "region": "37", "jurisdiction": "3704"}, "outside your juris"),
    ],
)
def test_a_malformed_exemption_is_refused_with_the_reason_and_nothing_is_stored(
    store: AlertStore, period: tuple[int, int], kwargs: dict[str, Any], problem: str
) -> None:
    fields = {"entity_id": "E001", "region": "370481", **kwargs}
    with pytest.raises(ExemptionError) as refused:
        add(store, period, **fields)
    assert problem in str(refused.value)
    assert store.list_exemptions() == []


def test_an_exemption_id_is_used_once(store: AlertStore, period: tuple[int, int]) -> None:
    first = add(store, period, exemption_id="BB-1")
    with pytest.raises(ExemptionError, match="is taken"):
        add(store, period, exemption_id="BB-1", reason="other")
    assert store.list_exemptions() == [first]
    generated = {add(store, period).id for _ in range(3)}
    assert len(generated) == 3 and all(i.startswith("EX-") for i in generated)
