"""The feed links the stats view to the last backtest and tune reports, region by region."""

from __future__ import annotations

import http.client
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from feedkit import Feed, running_feed, seed, sqlite_openers

from tuning.reports import list_reports, save_report


def _save(directory: Path, kind: str, counties: list[str], rules: list[str]) -> str:
    region = counties[0] if len(counties) == 1 else None
    save_report(
        directory,
        kind,
        {"kind": kind, "counties": counties},
        f"<html><body>{kind} {' '.join(counties)}</body></html>",
        region=region,
        counties=counties,
        rules=rules,
        title=f"{kind} of {counties}",
    )
    return list_reports(directory)[0].name


@pytest.fixture
def feed(tmp_path: Path, make_detection) -> Iterator[tuple[Feed, dict[str, str]]]:
    reports = tmp_path / "reports"
    with running_feed(*sqlite_openers(tmp_path / "alerts.sqlite"), reports_dir=reports) as f:
        seed(f.store, make_detection)
        names = {
            "tengzhou": _save(reports, "backtest", ["370481"], ["night_production", "usage_surge"]),
            "tune": _save(reports, "tune", ["370481"], ["usage_surge"]),
            "elsewhere": _save(reports, "backtest", ["370502"], ["night_production"]),
            "both": _save(reports, "backtest", ["370481", "370502"], ["night_production"]),
        }
        yield f, names


def test_stats_rows_link_to_the_last_reports_covering_their_county_and_rule(feed) -> None:
    f, names = feed
    stats = f.get("/api/stats", "wang").json  # city inspector of 3704
    listed = [r["name"] for r in stats["reports"]]
    assert listed == [names["tune"], names["tengzhou"]]  # newest first, only inside 3704
    rows = {(r["county"], r["rule"]): r for r in stats["rows"]}
    surge = rows[("370481", "usage_surge")]
    assert surge["last_backtest"] == f"/reports/{names['tengzhou']}.html"
    assert surge["last_tune"] == f"/reports/{names['tune']}.html"
    night = rows[("370481", "night_production")]
    assert (night["last_backtest"], night["last_tune"]) == (
        f"/reports/{names['tengzhou']}.html",
        None,
    )
    assert rows[("370402", "night_production")]["last_backtest"] is None


def test_a_province_user_sees_reports_spanning_cities(feed) -> None:
    f, names = feed
    listed = {r["name"] for r in f.get("/api/stats", "root").json["reports"]}
    assert listed == set(names.values())
    assert {r["name"] for r in f.get("/api/stats", "zhao").json["reports"]} == {names["elsewhere"]}


def test_report_pages_are_served_inside_the_users_region_only(feed) -> None:
    f, names = feed
    cookie = _login(f, "zhang")
    status, body = _get(f, f"/reports/{names['tengzhou']}.html", cookie)
    assert status == 200 and "backtest 370481" in body
    assert _get(f, f"/reports/{names['tengzhou']}.json", cookie)[0] == 200
    for name in (names["elsewhere"], names["both"]):
        assert _get(f, f"/reports/{name}.html", cookie)[0] == 404
    assert _get(f, "/reports/index.json", cookie)[0] == 404
    assert _get(f, "/reports/..%2Falerts.sqlite", cookie)[0] == 404
    assert _get(f, f"/reports/{names['tengzhou']}.html", None)[0] == 303  # to the login


def _login(feed: Feed, user: str) -> str:
    status, headers, _ = _request(
        feed, "POST", "/login", None, {"token": feed.tokens[user], "next": "/"}
    )
    assert status == 303
    return headers["Set-Cookie"].split(";", 1)[0]


def _get(feed: Feed, path: str, cookie: str | None) -> tuple[int, str]:
    status, _, body = _request(feed, "GET", path, cookie)
    return status, body


def _request(
    feed: Feed, method: str, path: str, cookie: str | None, form: dict[str, str] | None = None
) -> tuple[int, dict[str, str], str]:
    conn = http.client.HTTPConnection(urllib.parse.urlsplit(feed.url).netloc, timeout=30)
    headers = {"Cookie": cookie} if cookie else {}
    body = None
    if form is not None:
        body = urllib.parse.urlencode(form)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    text = resp.read().decode("utf-8")
    conn.close()
    return resp.status, dict(resp.getheaders()), text
