"""The web pages without a browser: login, sessions, CSRF, escaping, jurisdiction."""

from __future__ import annotations

import http.client
import re
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from feedkit import Feed, running_feed, seed, sqlite_openers
from prometheus_client.parser import text_string_to_metric_families

from alerts.deadlines import Deadlines


@pytest.fixture
def feed(tmp_path: Path) -> Iterator[Feed]:
    with running_feed(*sqlite_openers(tmp_path / "alerts.sqlite")) as f:
        yield f


class Browser:
    """Just enough of a browser: one cookie, no redirects followed."""

    def __init__(self, url: str) -> None:
        self.host = urllib.parse.urlsplit(url).netloc
        self.cookie: str | None = None

    def request(
        self, method: str, path: str, form: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], str]:
        conn = http.client.HTTPConnection(self.host, timeout=30)
        headers = {"Cookie": self.cookie} if self.cookie else {}
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        text = resp.read().decode("utf-8")
        set_cookie = resp.getheader("Set-Cookie")
        if set_cookie:
            self.cookie = set_cookie.split(";", 1)[0]
        conn.close()
        return resp.status, dict(resp.getheaders()), text

    def login(self, token: str) -> None:
        status, headers, _ = self.request("POST", "/login", {"token": token, "next": "/"})
        assert status == 303 and headers["Location"] == "/"

    def csrf(self, path: str) -> str:
        _, _, page = self.request("GET", path)
        return page.split('name="csrf" value="', 1)[1].split('"', 1)[0]


def test_pages_need_a_login_and_send_back_where_you_were(feed: Feed) -> None:
    b = Browser(feed.url)
    status, headers, _ = b.request("GET", "/?state=raised")
    assert status == 303
    location = urllib.parse.urlsplit(headers["Location"])
    assert location.path == "/login"
    assert urllib.parse.parse_qs(location.query) == {"next": ["/?state=raised"]}
    status, _, page = b.request("POST", "/login", {"token": "dy_bad_token", "next": "/"})
    assert status == 401 and "unknown or revoked token" in page
    b.login(feed.tokens["zhang"])
    assert "HttpOnly" in _set_cookie_of(feed)
    status, _, page = b.request("GET", "/")
    assert status == 200 and "zhang" in page
    status, _, page = b.request("GET", "/?state=open")
    assert status == 422 and "give one of raised" in page


def _set_cookie_of(feed: Feed) -> str:
    conn = http.client.HTTPConnection(urllib.parse.urlsplit(feed.url).netloc, timeout=30)
    body = urllib.parse.urlencode({"token": feed.tokens["zhang"], "next": "//evil.example/"})
    conn.request("POST", "/login", body, {"Content-Type": "application/x-www-form-urlencoded"})
    resp = conn.getresponse()
    resp.read()
    assert resp.getheader("Location") == "/"  # never redirected off-site
    cookie = resp.getheader("Set-Cookie") or ""
    conn.close()
    assert "SameSite=Strict" in cookie
    return cookie


def test_everything_shown_is_escaped(feed: Feed, make_detection: Callable[..., Any]) -> None:
    evil = '<script>alert("x")</script>'
    feed.store.apply([make_detection(entity_id=evil, county="370481")], 1_714_600_000_000)
    [alert] = feed.store.list_alerts()
    b = Browser(feed.url)
    b.login(feed.tokens["zhang"])
    for path in ("/", f"/alerts/{alert.id}"):
        status, _, page = b.request("GET", path)
        assert status == 200
        assert evil not in page and "&lt;script&gt;" in page


def test_foreign_cases_are_not_found_and_forms_need_the_csrf_token(
    feed: Feed, make_detection: Callable[..., Any]
) -> None:
    ids = seed(feed.store, make_detection)
    b = Browser(feed.url)
    b.login(feed.tokens["zhang"])
    assert b.request("GET", f"/alerts/{ids['foreign']}")[0] == 404
    before = feed.store.get(ids["night"])
    form = {"action": "dispatch", "expected_seq": "1", "department": "工贸科"}
    status, _, page = b.request("POST", f"/alerts/{ids['night']}/act", {**form, "csrf": "x"})
    assert status == 422 and "CSRF" in page
    assert feed.store.get(ids["night"]) == before
    csrf = b.csrf(f"/alerts/{ids['night']}")
    status, _, _ = b.request("POST", f"/alerts/{ids['foreign']}/act", {**form, "csrf": csrf})
    assert status == 404
    status, headers, _ = b.request("POST", f"/alerts/{ids['night']}/act", {**form, "csrf": csrf})
    assert status == 303 and headers["Location"].startswith(f"/alerts/{ids['night']}")
    assert feed.store.get(ids["night"]).department == "工贸科"


def test_a_session_cookie_reads_the_api_but_cannot_write_it(
    feed: Feed, make_detection: Callable[..., Any]
) -> None:
    ids = seed(feed.store, make_detection)
    b = Browser(feed.url)
    b.login(feed.tokens["zhang"])
    status, headers, _ = b.request("GET", "/api/alerts.csv")
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    status, _, _ = b.request("POST", f"/api/alerts/{ids['night']}/actions", {"a": "b"})
    assert status == 401
    csrf, cookie = b.csrf("/"), b.cookie
    assert b.request("POST", "/logout", {"csrf": csrf})[0] == 303
    b.cookie = cookie  # replaying the old cookie: the session is gone on the server
    assert b.request("GET", "/")[0] == 303
    assert b.request("GET", "/api/alerts")[0] == 401


def test_the_service_flags_overdue_alerts_on_its_own(
    tmp_path: Path, make_detection: Callable[..., Any]
) -> None:
    """A day after an alert is raised without dispatch it is overdue, escalated to the city."""
    day_later = 1_714_600_000_000 + 25 * 3_600_000
    openers = sqlite_openers(tmp_path / "alerts.sqlite")
    with openers[0]() as store:
        ids = seed(store, make_detection)
    config = {"deadlines": Deadlines(), "clock": lambda: day_later, "escalate_every_s": 0.05}
    with running_feed(*openers, **config) as feed:
        deadline = time.monotonic() + 10
        while True:
            overdue = feed.get("/api/alerts?overdue=true", "zhang").json["items"]
            if overdue or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert feed.store.events(ids["night"])[-1].action == "escalate"
        scraped = feed.get("/metrics").body.decode()
        expected: dict[str, float] = {}
        for alert in feed.store.list_alerts(overdue=True):  # every region, as operators see it
            expected[alert.rule] = expected.get(alert.rule, 0.0) + 1.0
    assert {a["id"] for a in overdue} == {ids["night"], ids["surge"]}
    assert {a["escalation_level"] for a in overdue} == {1}
    families = {f.name: f for f in text_string_to_metric_families(scraped)}
    overdue_by_rule = {
        s.labels["rule"]: s.value for s in families["dianyan_alerts_overdue"].samples
    }
    assert overdue_by_rule == expected and overdue_by_rule["night_production"] >= 1
    open_states = {s.labels["state"] for s in families["dianyan_alerts_open"].samples}
    assert "raised" in open_states


def test_a_station_case_draws_its_sensor_with_the_limit_lines(
    feed: Feed, make_detection: Callable[..., Any]
) -> None:
    levels = [100.62, 100.71, 100.8, 100.93, 101.04, 101.12]
    evidence = {
        "unit": "m",
        "metric": "water.level_m",
        "slot_minutes": 5,
        "first_end_ms": 1_714_572_900_000,
        "values": levels,
        "threshold": 101.0,
        "limits": {"warning_level_m": 101.0, "guarantee_level_m": 102.0},
    }
    det = make_detection(rule="level_over_limit", entity_id="W0001", evidence=evidence)
    feed.store.apply([det], 1_714_600_000_000)
    [alert] = feed.store.list_alerts()
    b = Browser(feed.url)
    b.login(feed.tokens["zhang"])
    status, _, page = b.request("GET", f"/alerts/{alert.id}")
    assert status == 200
    assert "水位 / water level" in page and "用电曲线" not in page
    assert page.count('<line class="limit"') == 2
    assert "warning_level_m 101.0" in page and "guarantee_level_m 102.0" in page
    # the axis zooms in on the levels: a metre apart is far apart, not a pixel from zero
    lines = re.findall(r'class="limit-label" x="[\d.]+" y="([\d.]+)"[^>]*>(\w+) ', page)
    y = {label: float(pos) for pos, label in lines}
    warning, guarantee = y["warning_level_m"], y["guarantee_level_m"]
    assert 16 <= guarantee < warning <= 224 and warning - guarantee > 50
