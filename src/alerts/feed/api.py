"""The JSON API: alerts (list, one, actions, CSV), exemptions, stats, the OpenAPI document.

Every handler narrows what it reads or writes to the caller's jurisdiction before asking
the store, and passes the caller's name as the actor of every write (the audit log).
"""

from __future__ import annotations

import io
import json
from dataclasses import fields, replace
from enum import Enum
from typing import Any

from aiohttp import web

from alerts.access import Permission, PermissionDenied, may_act, require, scope_region
from alerts.feed.context import BACKEND, CONFIG, user_of
from alerts.feed.openapi import openapi_document
from alerts.feed.query import AlertQuery, alert_query, parse_time
from alerts.feed.reports import link_stats, visible_reports
from alerts.feed.schemas import RequestInvalid, validate_action, validate_exemption
from alerts.lifecycle import allowed_actions
from alerts.model import Alert
from alerts.paging import decode_cursor
from dianyan.alerts_cli import write_csv
from dianyan.errors import AlertNotFound, StaleSequenceError

CSV_MAX_ROWS = 100_000


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/openapi.json", _openapi)
    router.add_get("/api/alerts", _list_alerts)
    router.add_get("/api/alerts.csv", _alerts_csv)
    router.add_get("/api/alerts/{alert_id}", _get_alert)
    router.add_post("/api/alerts/{alert_id}/actions", _act)
    router.add_get("/api/exemptions", _list_exemptions)
    router.add_post("/api/exemptions", _add_exemption)
    router.add_post("/api/exemptions/{exemption_id}/revoke", _revoke_exemption)
    router.add_get("/api/stats", _stats)


def alert_json(alert: Alert, *, evidence: bool = False) -> dict[str, Any]:
    """An alert as the API shows it: every field, evidence only when asked for.

    Like ``Alert.to_dict`` but without its deep copy of the evidence, which dominated the
    time of a list page.
    """
    out = {
        name: _plain(getattr(alert, name))
        for name in _ALERT_FIELDS
        if evidence or name != "evidence"
    }
    out["overdue"] = alert.overdue
    out["allowed_actions"] = [a.value for a in allowed_actions(alert)]
    return out


_ALERT_FIELDS = tuple(f.name for f in fields(Alert))


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


async def _openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document())


async def page_of_alerts(request: web.Request, q: AlertQuery) -> Any:
    """One page of alerts for a checked query (shared with the web feed)."""
    if q.cursor is not None:
        try:
            decode_cursor(q.cursor, newest_first=False)
        except ValueError as exc:
            raise RequestInvalid(f"cursor: {exc}") from None
    backend = request.app[BACKEND]
    return await backend.store(
        "page_alerts",
        region=q.region,
        rule=q.rule,
        state=q.state,
        since_ms=q.since_ms,
        until_ms=q.until_ms,
        overdue=q.overdue,
        cursor=q.cursor,
        limit=q.limit,
    )


async def _list_alerts(request: web.Request) -> web.Response:
    user = user_of(request)
    page = await page_of_alerts(request, alert_query(request.query, user))
    return web.json_response(
        {"items": [alert_json(a) for a in page.items], "next_cursor": page.next_cursor}
    )


async def _alerts_csv(request: web.Request) -> web.Response:
    """The filtered list as CSV, every page of it (up to CSV_MAX_ROWS rows)."""
    user = user_of(request)
    q = alert_query({**request.query, "limit": "500"}, user)
    alerts: list[Alert] = []
    while len(alerts) < CSV_MAX_ROWS:
        page = await page_of_alerts(request, q)
        alerts.extend(page.items)
        if page.next_cursor is None:
            break
        q = replace(q, cursor=page.next_cursor)
    out = io.StringIO()
    write_csv(alerts[:CSV_MAX_ROWS], out)
    return web.Response(
        text=out.getvalue(),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": 'attachment; filename="dianyan-alerts.csv"'},
    )


async def load_case(request: web.Request, alert_id: str) -> tuple[Alert, list[Any]]:
    """The alert and its events if inside the caller's jurisdiction, else AlertNotFound."""
    user = user_of(request)
    backend = request.app[BACKEND]
    alert = await backend.store("get", alert_id, region=user.region)
    if alert is None:
        raise AlertNotFound(f"no alert {alert_id!r} in region {user.region}; check the id.")
    events = await backend.store("events", alert_id, region=user.region)
    return alert, events


async def _get_alert(request: web.Request) -> web.Response:
    alert, events = await load_case(request, request.match_info["alert_id"])
    return web.json_response(
        {
            "alert": alert_json(alert, evidence=True),
            "events": [_event_json(e) for e in events],
        }
    )


async def act(
    request: web.Request, alert_id: str, action: str, expected_seq: int, payload: dict[str, Any]
) -> Alert:
    """Apply one action as the caller (shared with the web forms)."""
    user = user_of(request)
    if not may_act(user, action):
        raise PermissionDenied(
            f"role {user.role.value} may not {action} alerts; ask an inspector or an admin."
        )
    backend = request.app[BACKEND]
    try:
        return await backend.store(
            "act",
            alert_id,
            action,
            actor=user.name,
            expected_seq=expected_seq,
            payload=payload,
            now_ms=request.app[CONFIG].clock(),
            region=user.region,
        )
    except StaleSequenceError as exc:
        # Tell the caller where the alert is now and what it accepts from there.
        current = await backend.store("get", alert_id, region=user.region)
        if current is not None:
            exc.state = current.state.value
            exc.allowed = tuple(a.value for a in allowed_actions(current))
        raise


async def _act(request: web.Request) -> web.Response:
    user_of(request)
    action, expected_seq, payload = validate_action(await _json_body(request))
    alert = await act(request, request.match_info["alert_id"], action, expected_seq, payload)
    return web.json_response({"alert": alert_json(alert, evidence=False)})


async def _list_exemptions(request: web.Request) -> web.Response:
    user = user_of(request)
    region = _region(user, request.query.get("region"))
    active = request.query.get("active_at")
    active_ms = parse_time(active, "active_at") if active else None
    backend = request.app[BACKEND]
    items = await backend.store("list_exemptions", region, active_ms)
    return web.json_response({"items": [e.to_dict() for e in items]})


async def _add_exemption(request: web.Request) -> web.Response:
    user = user_of(request)
    require(user, Permission.WRITE_EXEMPTIONS)
    body = validate_exemption(await _json_body(request))
    _region(user, body["region"])
    backend = request.app[BACKEND]
    ex = await backend.store(
        "add_exemption",
        entity_id=body.get("entity_id"),
        region=body["region"],
        rules=body["rules"],
        start_ms=parse_time(body["start"], "start"),
        end_ms=parse_time(body["end"], "end"),
        reason=body["reason"],
        approver=body["approver"],
        created_by=user.name,
        now_ms=request.app[CONFIG].clock(),
        jurisdiction=user.region,
    )
    return web.json_response(ex.to_dict(), status=201)


async def _revoke_exemption(request: web.Request) -> web.Response:
    user = user_of(request)
    require(user, Permission.WRITE_EXEMPTIONS)
    backend = request.app[BACKEND]
    ex = await backend.store(
        "revoke_exemption",
        request.match_info["exemption_id"],
        user.name,
        request.app[CONFIG].clock(),
        region=user.region,
    )
    return web.json_response(ex.to_dict())


async def _stats(request: web.Request) -> web.Response:
    user = user_of(request)
    region = _region(user, request.query.get("region"))
    since, until = request.query.get("since"), request.query.get("until")
    backend = request.app[BACKEND]
    stats = await backend.store(
        "stats",
        region,
        since_ms=parse_time(since, "since") if since else None,
        until_ms=parse_time(until, "until") if until else None,
    )
    body = stats.to_dict() if hasattr(stats, "to_dict") else stats
    return web.json_response(link_stats(body, await visible_reports(request, user.region)))


def _region(user: Any, requested: str | None) -> str:
    try:
        return scope_region(user, requested or None)
    except ValueError as exc:
        raise RequestInvalid(f"region: {exc}") from None


async def _json_body(request: web.Request) -> Any:
    if request.content_type != "application/json":
        raise RequestInvalid(
            f"the body is {request.content_type or 'missing'}; send application/json."
        )
    try:
        return json.loads(await request.text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RequestInvalid(f"the body is not JSON ({exc}); send a JSON object.") from None


def _event_json(event: Any) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "at_ms": event.at_ms,
        "actor": event.actor,
        "action": event.action,
        "payload": event.payload,
    }
