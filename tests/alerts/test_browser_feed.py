"""The web page in real headless Chromium: log in, filter, open a case, see the curve, clear it.

Needs Debian's chromium at /usr/bin/chromium (``.ci/run`` installs it). Without it the test
is skipped, except with CI=true: then it fails.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from feedkit import Feed, running_feed, seed, sqlite_openers

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing and CI=true; .ci/run installs Debian's chromium.")
        pytest.skip(f"{CHROMIUM} is missing; apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def feed(tmp_path: Path) -> Iterator[Feed]:
    with running_feed(*sqlite_openers(tmp_path / "alerts.sqlite")) as f:
        yield f


def test_inspector_logs_in_filters_opens_a_case_sees_the_curve_and_clears_it(
    browser: Any, feed: Feed, make_detection: Callable[..., Any]
) -> None:
    ids = seed(feed.store, make_detection)
    page = browser.new_page()
    page.set_default_timeout(10_000)

    page.goto(feed.url + "/")
    assert "/login" in page.url  # not logged in: sent to the login form
    page.fill("#token", "dy_wrong_token")
    page.click("button[type=submit]")
    assert page.locator("p.error").is_visible()
    page.fill("#token", feed.tokens["zhang"])
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url(feed.url + "/")

    rows = page.locator("tr.alert-row")
    assert rows.count() == 2  # Tengzhou's two alerts; not the city's or 3705's
    page.select_option("select[name=rule]", "usage_surge")
    page.click("#filters button[type=submit]")
    page.wait_for_url("**rule=usage_surge**")
    assert rows.count() == 1
    page.click(f"a[href='/alerts/{ids['surge']}']")
    page.wait_for_url(f"**/alerts/{ids['surge']}")

    svg = page.locator("svg.curve-chart")
    assert svg.get_attribute("data-points") == "7"  # 8 slots, one missing reading
    assert page.locator("svg.curve-chart path.observed").get_attribute("d").count("L") == 5
    assert page.locator("svg.curve-chart path.baseline").count() == 1
    assert page.locator("svg.curve-chart line.threshold").count() == 1

    page.fill("form.action-dispatch input[name=department]", "工贸科")
    page.click("form.action-dispatch button[type=submit]")
    assert "已推送 / Dispatched" in page.inner_text("#state")
    page.select_option("form.action-verify select[name=outcome]", "explained")
    page.select_option("form.action-verify select[name=reason_code]", "commissioning")
    page.click("form.action-verify button[type=submit]")
    assert "调试设备" in page.inner_text("#state")
    page.fill("form.action-clear input[name=result]", "调试设备，已核实 <b>ok</b>")
    page.click("form.action-clear button[type=submit]")

    assert "销警 / Cleared" in page.inner_text("#state")
    history = page.locator("ol.events li")
    assert history.count() == 4
    last = history.nth(3).inner_text()
    assert "销警 / Clear" in last and "zhang" in last
    assert "<b>ok</b>" in last  # shown as text, not markup
    alert = feed.store.get(ids["surge"])
    assert (alert.state.value, alert.reason_code.value) == ("cleared", "commissioning")
    page.close()


def test_a_stale_form_is_refused_and_says_why(
    browser: Any, feed: Feed, make_detection: Callable[..., Any]
) -> None:
    ids = seed(feed.store, make_detection)
    page = browser.new_page()
    page.set_default_timeout(10_000)
    page.goto(feed.url + f"/login?next=/alerts/{ids['night']}")
    page.fill("#token", feed.tokens["wang"])
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url(f"**/alerts/{ids['night']}")
    feed.act(ids["night"], "zhang", "dispatch", 1, department="工贸科")  # someone else, meanwhile
    page.fill("form.action-dispatch input[name=department]", "安监科")
    page.click("form.action-dispatch button[type=submit]")
    assert "changed since you read it" in page.inner_text("p.error")
    assert feed.store.get(ids["night"]).department == "工贸科"
    page.close()
