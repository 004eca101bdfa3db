"""The closed loop through the store: both outcomes, illegal actions, stale and foreign acts."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from lifecycle_steps import (
    CLAIM,
    CLEAR,
    COMMENT,
    CONFIRM,
    DISPATCH,
    ENFORCE,
    EXPLAIN,
    NOW_MS,
    PATHS,
    VALID,
    snapshot,
    step,
)

from alerts.lifecycle import Action, allowed_actions, event_label
from alerts.model import Alert, AlertState, Outcome, ReasonCode
from alerts.store import AlertStore
from dianyan.errors import (
    AlertActionError,
    AlertNotFound,
    AlertPayloadError,
    StaleSequenceError,
)

RaiseAlert = Callable[..., Alert]


def test_confirmed_alert_goes_dispatch_claim_verify_enforce_clear(
    store: AlertStore, raise_alert: RaiseAlert
) -> None:
    alert = raise_alert()
    seen = [(alert.state, alert.seq)]
    for action, payload in (DISPATCH, CLAIM, CONFIRM, ENFORCE, CLEAR):
        alert = step(store, alert, action, payload)
        assert alert == store.get(alert.id)  # act returns what a reader then sees
        seen.append((alert.state, alert.seq))
    assert seen == [
        (AlertState.RAISED, 1),
        (AlertState.DISPATCHED, 2),
        (AlertState.DISPATCHED, 3),  # claiming (签收) changes no state
        (AlertState.VERIFIED, 4),
        (AlertState.ENFORCING, 5),
        (AlertState.CLEARED, 6),
    ]
    hour = 3_600_000
    assert (alert.department, alert.owner) == (DISPATCH[1]["department"], "王伟")
    assert (alert.outcome, alert.reason_code) == (Outcome.CONFIRMED, None)
    assert (alert.case_number, alert.result) == (ENFORCE[1]["case_number"], CLEAR[1]["result"])
    assert alert.dispatched_at_ms == NOW_MS + hour
    assert alert.claimed_at_ms == NOW_MS + 2 * hour
    assert alert.verified_at_ms == NOW_MS + 3 * hour
    assert alert.enforcing_at_ms == NOW_MS + 4 * hour
    assert alert.cleared_at_ms == alert.updated_at_ms == NOW_MS + 5 * hour
    assert allowed_actions(alert) == ()

    events = store.events(alert.id)
    assert [(e.seq, e.action, e.actor) for e in events] == [
        (1, "raised", "dianyan"),
        (2, "dispatch", "李娜"),
        (3, "claim", "李娜"),
        (4, "verify", "李娜"),
        (5, "enforce", "李娜"),
        (6, "clear", "李娜"),
    ]
    assert [e.at_ms for e in events[1:]] == [NOW_MS + k * hour for k in range(1, 6)]
    assert events[1].payload == DISPATCH[1]  # the comment is part of the record
    assert events[3].payload == CONFIRM[1]


def test_explained_alert_clears_directly_and_keeps_its_reason(
    store: AlertStore, raise_alert: RaiseAlert
) -> None:
    alert = raise_alert("dispatched")
    alert = step(store, alert, *EXPLAIN)
    assert (alert.state, alert.outcome) == (AlertState.VERIFIED, Outcome.EXPLAINED)
    assert alert.reason_code is ReasonCode.COMMISSIONING
    assert allowed_actions(alert) == (Action.CLEAR, Action.COMMENT)
    alert = step(store, alert, *CLEAR)
    assert alert.state is AlertState.CLEARED
    assert alert.case_number is None
    assert [e.action for e in store.events(alert.id)] == ["raised", "dispatch", "verify", "clear"]


@pytest.mark.parametrize("path", list(PATHS))
def test_every_illegal_action_is_refused_with_the_allowed_ones_and_changes_nothing(
    store: AlertStore, raise_alert: RaiseAlert, path: str
) -> None:
    alert = raise_alert(path)
    before = snapshot(store, alert.id)
    allowed = allowed_actions(alert)
    illegal = [a for a in Action if a not in allowed]
    assert illegal, "every position refuses something"
    for action in illegal:
        with pytest.raises(AlertActionError) as refused:
            step(store, alert, action.value, VALID[action.value])
        assert type(refused.value) is AlertActionError, action
        message = str(refused.value)
        assert alert.state.label in message
        assert refused.value.state == alert.state.value
        assert refused.value.allowed == tuple(a.value for a in allowed)
        for a in allowed:
            assert f"{a.value} ({a.zh})" in message
        if not allowed:
            assert "final" in message
        assert snapshot(store, alert.id) == before, action


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("raised", ["dispatch", "comment"]),
        ("dispatched", ["claim", "verify", "comment"]),
        ("claimed", ["verify", "comment"]),
        ("confirmed", ["enforce", "comment"]),
        ("explained", ["clear", "comment"]),
        ("enforcing", ["clear", "comment"]),
        ("cleared_explained", []),
        ("cleared_enforced", []),
    ],
)
def test_allowed_actions_follow_the_closed_loop(
    raise_alert: RaiseAlert, path: str, allowed: list[str]
) -> None:
    assert [a.value for a in allowed_actions(raise_alert(path))] == allowed


@pytest.mark.parametrize("path", ["raised", "claimed", "confirmed", "explained", "enforcing"])
def test_a_comment_is_logged_in_any_open_state_without_changing_it(
    store: AlertStore, raise_alert: RaiseAlert, path: str
) -> None:
    alert = raise_alert(path)
    after = step(store, alert, *COMMENT, actor="张强")
    assert after.state is alert.state
    assert after.seq == alert.seq + 1
    last = store.events(alert.id)[-1]
    assert (last.action, last.actor, last.payload) == ("comment", "张强", COMMENT[1])


def test_escalation_is_the_systems_not_a_users(store: AlertStore, raise_alert: RaiseAlert) -> None:
    alert = raise_alert()
    with pytest.raises(AlertActionError, match="overdue check"):
        step(store, alert, "escalate", {})
    assert store.events(alert.id)[-1].seq == 1


def test_a_stale_sequence_is_refused_and_changes_nothing(
    store: AlertStore, raise_alert: RaiseAlert
) -> None:
    read_by_a = raise_alert()
    read_by_b = read_by_a
    step(store, read_by_a, *DISPATCH, actor="A")
    before = snapshot(store, read_by_a.id)
    with pytest.raises(StaleSequenceError, match="reload") as stale:
        step(store, read_by_b, *DISPATCH, actor="B")  # B still holds seq 1
    assert (stale.value.expected, stale.value.current) == (1, 2)
    with pytest.raises(StaleSequenceError):  # a seq from the future is as wrong
        store.act(
            read_by_a.id, "comment", actor="B", expected_seq=9, payload=COMMENT[1], now_ms=NOW_MS
        )
    assert snapshot(store, read_by_a.id) == before


def test_a_stale_sequence_wins_over_an_illegal_action(
    store: AlertStore, raise_alert: RaiseAlert
) -> None:
    # The caller's picture of the alert is out of date: reloading is the useful advice.
    alert = raise_alert("dispatched")
    with pytest.raises(StaleSequenceError):
        store.act(alert.id, "enforce", actor="x", expected_seq=1, payload={}, now_ms=NOW_MS)


def act(store: AlertStore, alert_id: str, seq: int, region: str | None) -> Alert:
    """Dispatch as an inspector of ``region``."""
    return store.act(
        alert_id,
        "dispatch",
        actor="x",
        expected_seq=seq,
        payload=DISPATCH[1],
        now_ms=NOW_MS,
        region=region,
    )


@pytest.mark.parametrize("region", ["3705", "370482", "11"])
def test_an_alert_outside_the_actors_region_does_not_exist_for_them(
    store: AlertStore, raise_alert: RaiseAlert, region: str
) -> None:
    alert = raise_alert(county="370481")
    before = snapshot(store, alert.id)
    with pytest.raises(AlertNotFound) as foreign:
        act(store, alert.id, alert.seq, region)
    with pytest.raises(AlertNotFound) as missing:
        act(store, "A-nope", 1, region)
    # The same answer as for an id that does not exist, whatever seq or action was sent.
    assert str(foreign.value) == str(missing.value).replace("'A-nope'", repr(alert.id))
    with pytest.raises(AlertNotFound):
        store.act(
            alert.id, "clear", actor="x", expected_seq=99, payload={}, now_ms=0, region=region
        )
    assert store.get(alert.id, region=region) is None
    assert store.events(alert.id, region=region) == []
    assert snapshot(store, alert.id) == before


@pytest.mark.parametrize("region", ["37", "3704", "370481", None])
def test_an_alert_inside_the_actors_region_can_be_acted_on(
    store: AlertStore, raise_alert: RaiseAlert, region: str | None
) -> None:
    alert = raise_alert(county="370481")
    assert store.get(alert.id, region=region) == alert
    after = act(store, alert.id, alert.seq, region)
    assert after.state is AlertState.DISPATCHED
    assert len(store.events(alert.id, region=region)) == 2


MALFORMED = [
    # (position, action, payload, what the message says)
    ("raised", "dispatch", None, "NoneType, not an object"),
    ("raised", "dispatch", ["x"], "list, not an object"),
    ("raised", "dispatch", {}, "department is missing"),
    ("raised", "dispatch", {"department": "   "}, "department is missing"),
    ("raised", "dispatch", {"department": 7}, "department is int, not text"),
    ("raised", "dispatch", {"department": "x" * 201}, "department has 201 characters"),
    ("raised", "dispatch", {"department": "a", "dept": "b"}, "unknown field(s) dept"),
    ("dispatched", "claim", {"owner": None}, "owner is missing"),
    ("dispatched", "verify", {}, "outcome is missing"),
    ("dispatched", "verify", {"outcome": "maybe"}, "outcome is 'maybe'"),
    ("dispatched", "verify", {"outcome": "explained"}, "needs a reason_code"),
    (
        "dispatched",
        "verify",
        {"outcome": "confirmed", "reason_code": "meter_error"},
        "takes no reason_code",
    ),
    ("dispatched", "verify", {"outcome": "explained", "reason_code": "weather"}, "'weather'"),
    ("dispatched", "verify", {"outcome": "explained", "reason_code": "other"}, "needs a comment"),
    ("confirmed", "enforce", {"case_number": ""}, "case_number is missing"),
    ("enforcing", "clear", {"comment": "done"}, "result is missing"),
    ("raised", "comment", {"text": ""}, "text is missing"),
    ("raised", "comment", {"text": "x" * 2001}, "text has 2001 characters"),
]


@pytest.mark.parametrize(("path", "action", "payload", "problem"), MALFORMED)
def test_a_malformed_payload_says_what_was_expected_and_changes_nothing(
    store: AlertStore,
    raise_alert: RaiseAlert,
    path: str,
    action: str,
    payload: object,
    problem: str,
) -> None:
    alert = raise_alert(path)
    before = snapshot(store, alert.id)
    with pytest.raises(AlertPayloadError) as malformed:
        step(store, alert, action, payload)
    message = str(malformed.value)
    assert problem in message
    assert f"{action} expects {{" in message
    assert snapshot(store, alert.id) == before


@pytest.mark.parametrize(
    ("action", "actor", "seq", "problem"),
    [
        ("close", "x", 1, "unknown action 'close'; use one of dispatch, claim"),
        ("dispatch", "", 1, "actor must name who acts"),
        ("dispatch", "x", "1", "expected_seq must be"),
        ("dispatch", "x", True, "expected_seq must be"),
    ],
)
def test_a_malformed_request_is_refused_before_looking_at_the_alert(
    store: AlertStore, raise_alert: RaiseAlert, action: str, actor: str, seq: object, problem: str
) -> None:
    alert = raise_alert()
    with pytest.raises(AlertPayloadError, match=problem):
        store.act(alert.id, action, actor=actor, expected_seq=seq, payload=DISPATCH[1], now_ms=0)
    assert [e.seq for e in store.events(alert.id)] == [1]


def test_payload_text_is_stored_trimmed_and_empty_comments_are_dropped(
    store: AlertStore, raise_alert: RaiseAlert
) -> None:
    alert = step(store, raise_alert(), "dispatch", {"department": "  安监股 ", "comment": "  "})
    assert alert.department == "安监股"
    assert store.events(alert.id)[-1].payload == {"department": "安监股"}


def test_new_episodes_join_a_dispatched_alert_without_invalidating_the_inspectors_seq(
    store: AlertStore, raise_alert: RaiseAlert, make_detection: Callable[..., object]
) -> None:
    alert = raise_alert("dispatched")
    store.apply([make_detection(entity_id=alert.entity_id, start_slot=40)], NOW_MS)
    absorbed = store.get(alert.id)
    assert absorbed is not None
    assert (absorbed.occurrences, absorbed.seq) == (2, alert.seq)
    after = step(store, alert, *CLAIM)  # the seq read before the absorption still holds
    assert (after.occurrences, after.owner) == (2, "王伟")


def test_a_cleared_alert_absorbs_nothing_and_the_next_episode_raises_a_new_alert(
    store: AlertStore, raise_alert: RaiseAlert, make_detection: Callable[..., object]
) -> None:
    cleared = raise_alert("cleared_explained")
    store.apply([make_detection(entity_id=cleared.entity_id, start_slot=40)], NOW_MS)
    assert store.get(cleared.id) == cleared
    [new] = store.list_alerts(state="raised")
    assert (new.entity_id, new.rule) == (cleared.entity_id, cleared.rule)
    assert new.id != cleared.id


def test_labels_pair_chinese_and_english() -> None:
    assert Action.CLAIM.label == "签收 / Claim"
    assert (
        ReasonCode.TARIFF_NIGHT_SHIFT.label == "节约成本夜间生产 / Night shift to save on tariffs"
    )
    assert event_label("raised") == "告警 / Raised"
    assert event_label("escalate") == "超时督办 / Escalate"
    for enum in (Action, ReasonCode, Outcome):
        assert len({m.zh for m in enum}) == len({m.en for m in enum}) == len(enum)
