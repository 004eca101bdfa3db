"""The feed's JSON API: the closed loop, filters and paging, and every refusal."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
import pytest
from feedkit import Feed, running_feed, seed

from alerts.users import UserStore


@pytest.fixture
def feed(
    open_store: Callable[[], Any], request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Feed]:
    """A feed over an empty store, on SQLite and on PostgreSQL."""
    if request.node.callspec.params["open_store"] == "sqlite":
        open_users = partial(UserStore.sqlite, tmp_path / "alerts.sqlite")
    else:
        dsn = request.getfixturevalue("postgres_dsn")
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("DROP TABLE IF EXISTS feed_sessions, feed_users")
        open_users = partial(UserStore.postgres, dsn)
    with running_feed(open_store, open_users) as f:
        yield f


@pytest.fixture
def ids(feed: Feed, make_detection: Callable[..., Any]) -> dict[str, str]:
    return seed(feed.store, make_detection)


def _snapshot(feed: Feed, alert_id: str) -> tuple[Any, ...]:
    return feed.store.get(alert_id), feed.store.events(alert_id)


def test_whole_loop_confirmed_dispatch_claim_verify_enforce_clear(
    feed: Feed, ids: dict[str, str]
) -> None:
    a = ids["night"]
    steps = [
        ("dispatch", {"department": "应急管理局 工贸科"}, "dispatched"),
        ("claim", {"owner": "zhang"}, "dispatched"),
        ("verify", {"outcome": "confirmed", "comment": "夜间生产属实"}, "verified"),
        ("enforce", {"case_number": "滕应急罚〔2024〕17号"}, "enforcing"),
        ("clear", {"result": "已立案处罚"}, "cleared"),
    ]
    seq = feed.get(f"/api/alerts/{a}", "zhang").json["alert"]["seq"]
    for action, payload, state in steps:
        r = feed.act(a, "zhang", action, seq, **payload)
        assert r.status == 200, r.body
        assert r.json["alert"]["state"] == state
        assert r.json["alert"]["seq"] == seq + 1
        seq += 1
    detail = feed.get(f"/api/alerts/{a}", "zhang").json
    assert detail["alert"]["case_number"] == "滕应急罚〔2024〕17号"
    assert detail["alert"]["allowed_actions"] == []
    assert [e["action"] for e in detail["events"]] == ["raised"] + [s[0] for s in steps]
    assert {e["actor"] for e in detail["events"][1:]} == {"zhang"}
    assert detail["alert"]["evidence"]["evidence"]["threshold"] == 24.0


def test_whole_loop_explained_clears_without_enforcement(feed: Feed, ids: dict[str, str]) -> None:
    a = ids["surge"]
    assert feed.act(a, "wang", "dispatch", 1, department="工贸科").status == 200
    r = feed.act(a, "wang", "verify", 2, outcome="explained", reason_code="commissioning")
    assert r.json["alert"]["allowed_actions"] == ["clear", "comment"]
    assert feed.act(a, "wang", "enforce", 3, case_number="X").status == 409
    r = feed.act(a, "wang", "clear", 3, result="调试设备，已报备")
    assert r.status == 200 and r.json["alert"]["state"] == "cleared"
    assert r.json["alert"]["reason_code"] == "commissioning"
    stats = feed.get("/api/stats", "wang").json
    row = next(r for r in stats["rows"] if r["rule"] == "usage_surge")
    assert (row["explained"], row["confirmed"], row["by_state"]["cleared"]) == (1, 0, 1)


def _refusals(ids: dict[str, str]) -> list[tuple[str, dict[str, Any], int, str]]:
    a = ids["night"]
    path = f"/api/alerts/{a}/actions"
    ok = {"action": "dispatch", "expected_seq": 1, "payload": {"department": "工贸科"}}
    return [
        ("no token", {"path": path, "body": ok}, 401, "unauthenticated"),
        (
            "bad token",
            {"path": path, "body": ok, "headers": {"Authorization": "Bearer x"}},
            401,
            "unauthenticated",
        ),
        (
            "basic auth",
            {"path": path, "body": ok, "headers": {"Authorization": "Basic eDp5"}},
            401,
            "unauthenticated",
        ),
        ("wrong role", {"path": path, "body": ok, "user": "li"}, 403, "forbidden"),
        ("foreign region", {"path": path, "body": ok, "user": "zhao"}, 404, "not_found"),
        (
            "not json",
            {
                "path": path,
                "raw": b"{",
                "user": "zhang",
                "headers": {"Content-Type": "application/json"},
            },
            422,
            "invalid_request",
        ),
        (
            "no seq",
            {"path": path, "body": {"action": "dispatch", "payload": {}}, "user": "zhang"},
            422,
            "invalid_request",
        ),
        (
            "bad payload",
            {"path": path, "user": "zhang", "body": {**ok, "payload": {"departmnt": "x"}}},
            422,
            "invalid_payload",
        ),
        (
            "illegal",
            {
                "path": path,
                "user": "zhang",
                "body": {**ok, "action": "clear", "payload": {"result": "x"}},
            },
            409,
            "illegal_action",
        ),
        (
            "stale",
            {"path": path, "user": "zhang", "body": {**ok, "expected_seq": 7}},
            409,
            "stale_sequence",
        ),
    ]


@pytest.mark.parametrize("case", range(10))
def test_every_refused_action_answers_its_error_and_changes_nothing(
    feed: Feed, ids: dict[str, str], case: int
) -> None:
    name, req, status, code = _refusals(ids)[case]
    before = _snapshot(feed, ids["night"])
    r = feed.call(
        "POST",
        req["path"],
        req.get("user"),
        req.get("body"),
        raw=req.get("raw"),
        headers=req.get("headers"),
    )
    assert (r.status, r.json["error"]) == (status, code), (name, r.body)
    assert r.json["message"]
    assert _snapshot(feed, ids["night"]) == before
    if code in ("illegal_action", "stale_sequence"):
        assert r.json["state"] == "raised"
        assert r.json["allowed"] == ["dispatch", "comment"]
    if code == "unauthenticated":
        assert r.headers["WWW-Authenticate"].startswith("Bearer")


def test_another_regions_alert_is_not_found_on_read_and_write(
    feed: Feed, ids: dict[str, str]
) -> None:
    foreign = ids["foreign"]  # in 3705
    before = _snapshot(feed, foreign)
    assert feed.get(f"/api/alerts/{foreign}", "zhang").status == 404
    assert feed.get(f"/api/alerts/{foreign}", "wang").status == 404
    r = feed.act(foreign, "wang", "dispatch", 1, department="x")
    assert (r.status, r.json["error"]) == (404, "not_found")
    assert feed.get("/api/alerts/A-no-such-alert", "wang").json["error"] == "not_found"
    assert _snapshot(feed, foreign) == before
    assert feed.get(f"/api/alerts/{foreign}", "zhao").status == 200


def test_the_list_is_scoped_filtered_and_paged(feed: Feed, ids: dict[str, str]) -> None:
    def listed(user: str, query: str = "") -> list[str]:
        r = feed.get(f"/api/alerts?{query}", user)
        assert r.status == 200, r.body
        return [a["id"] for a in r.json["items"]]

    assert set(listed("zhang")) == {ids["night"], ids["surge"]}
    assert set(listed("wang")) == {ids["night"], ids["surge"], ids["city"]}
    assert set(listed("wang", "region=37")) == set(listed("wang"))  # narrowed, not widened
    assert listed("wang", "region=370402") == [ids["city"]]
    assert listed("root", "region=3705") == [ids["foreign"]]
    assert listed("wang", "rule=usage_surge") == [ids["surge"]]
    feed.act(ids["night"], "wang", "dispatch", 1, department="工贸科")
    assert listed("wang", "state=dispatched") == [ids["night"]]
    assert listed("wang", "overdue=true") == []
    assert listed("wang", "since=2030-01-01") == []
    assert set(listed("wang", "until=2030-01-01T00:00:00%2B08:00")) == set(listed("wang"))

    pages, cursor = [], ""
    while True:
        r = feed.get(f"/api/alerts?limit=1{cursor}", "root").json
        pages.append([a["id"] for a in r["items"]])
        if r["next_cursor"] is None:
            break
        cursor = f"&cursor={r['next_cursor']}"
    assert [len(p) for p in pages] == [1, 1, 1, 1]
    assert sorted(i for p in pages for i in p) == sorted(ids.values())


@pytest.mark.parametrize(
    ("query", "user", "status", "mentions"),
    [
        ("region=3705", "wang", 403, "outside your jurisdiction 3704"),
        ("region=371", "wang", 422, "2 (province)"),
        ("state=open", "wang", 422, "raised, dispatched"),
        ("rule=DROP%20TABLE", "wang", 422, "rule name"),
        ("since=yesterday", "wang", 422, "ISO 8601"),
        ("overdue=maybe", "wang", 422, "true or false"),
        ("limit=0", "wang", 422, "1 to 500"),
        ("cursor=bm9wZQ", "wang", 422, "start again"),
    ],
)
def test_bad_filters_say_what_was_expected(
    feed: Feed, ids: dict[str, str], query: str, user: str, status: int, mentions: str
) -> None:
    r = feed.get(f"/api/alerts?{query}", user)
    assert r.status == status
    assert mentions in r.json["message"]


def test_csv_export_holds_the_filtered_list(feed: Feed, ids: dict[str, str]) -> None:
    r = feed.get("/api/alerts.csv?rule=night_production", "wang")
    assert r.status == 200 and r.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.body.decode("utf-8"))))
    assert {row["id"] for row in rows} == {ids["night"], ids["city"]}
    assert rows[0]["state"] == "raised"


def test_exemptions_are_written_by_the_tech_office_and_read_in_the_jurisdiction(
    feed: Feed, ids: dict[str, str]
) -> None:
    body = {
        "entity_id": "E001",
        "region": "370481",
        "rules": ["night_production"],
        "start": "2024-05-01T00:00:00+08:00",
        "end": "2024-06-01",
        "reason": "夜间生产许可 / night permit",
        "approver": "滕州市应急管理局",
    }
    assert feed.call("POST", "/api/exemptions", "zhang", body).status == 403
    r = feed.call("POST", "/api/exemptions", "li", body)
    assert r.status == 201, r.body
    ex = r.json
    assert (ex["created_by"], ex["rules"], ex["entity_id"]) == ("li", ["night_production"], "E001")
    assert [e["id"] for e in feed.get("/api/exemptions", "zhang").json["items"]] == [ex["id"]]
    assert feed.get("/api/exemptions", "zhao").json["items"] == []
    active = feed.get("/api/exemptions?active_at=2024-05-15", "zhang").json["items"]
    assert len(active) == 1
    foreign = {**body, "entity_id": None, "region": "3705"}
    assert feed.call("POST", "/api/exemptions", "li", foreign).status == 403
    assert feed.call("POST", "/api/exemptions", "li", {**body, "end": "2024-04-01"}).status == 422
    assert feed.call("POST", f"/api/exemptions/{ex['id']}/revoke", "zhao").status == 403
    assert feed.call("POST", f"/api/exemptions/{ex['id']}/revoke", "qian").status == 404
    revoked = feed.call("POST", f"/api/exemptions/{ex['id']}/revoke", "li")
    assert revoked.status == 200 and revoked.json["revoked_by"] == "li"
    assert feed.get("/api/exemptions?active_at=2030-05-15", "zhang").json["items"] == []


def test_service_endpoints_need_no_token(feed: Feed) -> None:
    assert feed.get("/healthz").json == {"status": "ok"}
    metrics = feed.get("/metrics")
    assert metrics.status == 200 and b"dianyan_alerts_open" in metrics.body
    doc = feed.get("/openapi.json").json
    assert doc["openapi"].startswith("3.")
    assert {"/api/alerts", "/api/alerts/{alert_id}/actions", "/api/stats"} <= set(doc["paths"])
    r = feed.get("/api/nowhere", "zhang")
    assert (r.status, r.json["error"]) == (404, "not_found")
    assert feed.call("DELETE", "/api/alerts", "zhang").json["error"] == "method_not_allowed"


def test_a_revoked_users_token_stops_working_at_once(feed: Feed) -> None:
    assert feed.get("/api/alerts", "zhang").status == 200
    with feed.open_users() as users:
        users.revoke("zhang")
    assert feed.get("/api/alerts", "zhang").status == 401


def test_concurrent_actions_on_one_alert_lose_no_event(feed: Feed, ids: dict[str, str]) -> None:
    """50 inspectors comment at once with the same seq: one wins, the rest are told it moved."""
    a = ids["night"]
    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(
            pool.map(lambda i: feed.act(a, "wang", "comment", 1, text=f"第{i}条"), range(50))
        )
    statuses = sorted(r.status for r in answers)
    assert statuses == [200] + [409] * 49
    assert {r.json["error"] for r in answers if r.status == 409} == {"stale_sequence"}
    events = feed.store.events(a)
    assert [e.seq for e in events] == [1, 2]
    assert feed.store.get(a).seq == 2


def test_fifty_clients_retrying_on_stale_seq_all_land_exactly_once(
    feed: Feed, ids: dict[str, str]
) -> None:
    """Each of 50 clients re-reads and retries until its comment lands: every one is recorded
    exactly once, in a gapless sequence, and the alert never leaves a legal state."""
    a = ids["night"]

    def comment(i: int) -> int:
        for attempt in range(500):
            seq = feed.get(f"/api/alerts/{a}", "wang").json["alert"]["seq"]
            r = feed.act(a, "wang", "comment", seq, text=f"client {i}")
            if r.status == 200:
                return attempt
            assert (r.status, r.json["error"]) == (409, "stale_sequence"), r.body
        raise AssertionError(f"client {i} never landed its comment")

    with ThreadPoolExecutor(max_workers=50) as pool:
        list(pool.map(comment, range(50)))
    events = feed.store.events(a)
    assert [e.seq for e in events] == list(range(1, 52))
    texts = sorted(e.payload.get("text") for e in events[1:])
    assert texts == sorted(f"client {i}" for i in range(50))
    alert = feed.store.get(a)
    assert alert.seq == 51 and alert.state == "raised"
