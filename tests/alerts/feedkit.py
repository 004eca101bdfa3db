"""Test kit for the feed: a running service over a seeded store, users, a tiny HTTP client."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from alerts.feed.app import create_app
from alerts.feed.context import FeedConfig
from alerts.feed.server import start_in_thread
from alerts.store import SqliteAlertStore
from alerts.users import UserStore
from dianyan.metrics import Metrics

PG_DSN = os.environ.get("DIANYAN_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")

# name -> (role, jurisdiction)
USERS = {
    "zhang": ("inspector", "370481"),  # Tengzhou county inspector
    "wang": ("inspector", "3704"),  # Zaozhuang city inspector
    "li": ("tech_office", "3704"),
    "root": ("admin", "37"),
    "zhao": ("inspector", "3705"),  # another city
    "qian": ("tech_office", "3705"),
}


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Feed:
    """A running feed: its URL, a token per user, and a direct handle on its store."""

    url: str
    store: Any
    open_users: Callable[[], UserStore]
    tokens: dict[str, str] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)  # seeded alerts, when a test keeps them

    def call(
        self,
        method: str,
        path: str,
        user: str | None = None,
        body: Any = None,
        *,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        hdrs = dict(headers or {})
        if user is not None:
            hdrs["Authorization"] = f"Bearer {self.tokens[user]}"
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return Response(resp.status, dict(resp.headers), resp.read())
        except urllib.error.HTTPError as err:
            with err:
                return Response(err.code, dict(err.headers), err.read())

    def get(self, path: str, user: str | None = None) -> Response:
        return self.call("GET", path, user)

    def act(self, alert_id: str, user: str, action: str, seq: int, **payload: Any) -> Response:
        body = {"action": action, "expected_seq": seq, "payload": payload}
        return self.call("POST", f"/api/alerts/{alert_id}/actions", user, body)


def add_users(users: UserStore) -> dict[str, str]:
    return {name: users.add(name, role, region) for name, (role, region) in USERS.items()}


@contextmanager
def running_feed(
    open_store: Callable[[], Any],
    open_users: Callable[[], UserStore],
    registry: CollectorRegistry | None = None,
    **config: Any,
) -> Iterator[Feed]:
    """Serve the feed on a free loopback port; yields with users added.

    ``config``: further FeedConfig fields (e.g. deadlines, clock).
    """
    with open_users() as users:
        tokens = add_users(users)
    metrics = Metrics.create(registry or CollectorRegistry())
    app = create_app(
        FeedConfig(open_store=open_store, open_users=open_users, metrics=metrics, **config)
    )
    store = open_store()
    try:
        with start_in_thread(app) as server:
            yield Feed(server.url, store, open_users, tokens)
    finally:
        store.close()


def sqlite_openers(path: Path) -> tuple[Callable[[], Any], Callable[[], UserStore]]:
    return partial(SqliteAlertStore, path), partial(UserStore.sqlite, path)


# Evidence shaped like the electricity detector's: 8 slots of readings, baseline, threshold.
CURVE = {
    "unit": "kWh",
    "slot_minutes": 15,
    "first_end_ms": 1_714_572_900_000,
    "values": [3.0, 3.2, None, 2.9, 41.0, 44.0, 43.5, 40.2],
    "baseline": [3.1, 3.0, 3.0, 3.1, 3.2, 3.0, 3.1, 3.0],
    "threshold": 24.0,
}


def seed(store: Any, make_detection: Callable[..., Any], now_ms: int = 1_714_600_000_000) -> dict:
    """Four alerts: two in Tengzhou (370481), one elsewhere in Zaozhuang, one in 3705."""
    detections = {
        "night": make_detection(entity_id="E001", county="370481", evidence=CURVE),
        "surge": make_detection(
            rule="usage_surge", entity_id="E002", county="370481", start_slot=4, evidence=CURVE
        ),
        "city": make_detection(entity_id="E100", county="370402", start_slot=8),
        "foreign": make_detection(entity_id="E500", county="370502", start_slot=12),
    }
    store.apply(list(detections.values()), now_ms)
    by_entity = {a.entity_id: a.id for a in store.list_alerts()}
    return {name: by_entity[d.entity_id] for name, d in detections.items()}
