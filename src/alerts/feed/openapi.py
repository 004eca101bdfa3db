"""The OpenAPI 3.1 description of the feed API, built from the schemas the service checks."""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

from alerts.feed.query import MAX_LIMIT
from alerts.feed.schemas import (
    ACTION_ENVELOPE,
    ACTION_PAYLOADS,
    ACTIONS,
    ALERT,
    ERROR,
    EVENT,
    EXEMPTION,
    EXEMPTION_REQUEST,
    REGION_PATTERN,
)
from alerts.model import AlertState

_REF = "#/components/schemas/"
_TIME = "ISO 8601 (no offset: China Standard Time) or UTC epoch milliseconds"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF + name}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    what = {
        401: "missing, malformed, unknown or revoked token",
        403: "the role may not do this, or the region is outside the jurisdiction",
        404: "no such record in the caller's jurisdiction",
        409: "illegal action from the current state, or stale expected_seq; "
        "body has state and allowed",
        422: "malformed query or body; message says what was expected",
    }
    return {str(s): _json(_ref("Error"), what[s]) for s in statuses}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


_REGION = _query(
    "region",
    {"type": "string", "pattern": REGION_PATTERN},
    "division code prefix (2/4/6 digits) inside your jurisdiction; a wider one is narrowed",
)
_SINCE = _query("since", {"type": "string", "maxLength": 40}, f"first seen at or after; {_TIME}")
_UNTIL = _query("until", {"type": "string", "maxLength": 40}, f"first seen before; {_TIME}")
_FILTERS = [
    _REGION,
    _query("state", {"type": "string", "enum": [s.value for s in AlertState]}, "lifecycle state"),
    _query("rule", {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,63}$"}, "rule name"),
    _SINCE,
    _UNTIL,
    _query("overdue", {"type": "boolean"}, "only overdue (true) or on-time (false) alerts"),
]
_PAGING = [
    _query("cursor", {"type": "string", "maxLength": 200}, "next_cursor of the previous page"),
    _query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}, "page size"),
]
_ALERT_ID = {"name": "alert_id", "in": "path", "required": True, "schema": {"type": "string"}}
_BEARER = [{"bearer": []}]


def _action_request() -> dict[str, Any]:
    variants = []
    for action in ACTIONS:
        v = copy.deepcopy(ACTION_ENVELOPE)
        v["properties"]["action"] = {"const": action}
        v["properties"]["payload"] = ACTION_PAYLOADS[action]
        variants.append(v)
    return {"oneOf": variants}


def _paths() -> dict[str, Any]:
    alert_list = {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": _ref("Alert")},
            "next_cursor": {"type": ["string", "null"]},
        },
        "required": ["items", "next_cursor"],
    }
    detail = {
        "type": "object",
        "properties": {"alert": _ref("Alert"), "events": {"type": "array", "items": _ref("Event")}},
        "required": ["alert", "events"],
    }
    exemptions = {
        "type": "object",
        "properties": {"items": {"type": "array", "items": _ref("Exemption")}},
        "required": ["items"],
    }
    return {
        "/api/alerts": {
            "get": {
                "summary": "告警列表 / The alert feed, oldest first, one page",
                "parameters": _FILTERS + _PAGING,
                "responses": {
                    "200": _json(alert_list, "a page of alerts"),
                    **_errors(401, 403, 422),
                },
            }
        },
        "/api/alerts.csv": {
            "get": {
                "summary": "导出 / The filtered list as CSV (all pages)",
                "parameters": _FILTERS,
                "responses": {
                    "200": {
                        "description": "CSV with a header row",
                        "content": {"text/csv": {"schema": {"type": "string"}}},
                    },
                    **_errors(401, 403, 422),
                },
            }
        },
        "/api/alerts/{alert_id}": {
            "get": {
                "summary": "案件 / One alert with its frozen evidence and its events",
                "parameters": [_ALERT_ID],
                "responses": {"200": _json(detail, "the alert"), **_errors(401, 404)},
            }
        },
        "/api/alerts/{alert_id}/actions": {
            "post": {
                "summary": "处置 / Act: dispatch, claim, verify, enforce, clear, comment",
                "parameters": [_ALERT_ID],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("ActionRequest")}},
                },
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {"alert": _ref("Alert")},
                            "required": ["alert"],
                        },
                        "the alert after the action",
                    ),
                    **_errors(401, 403, 404, 409, 422),
                },
            }
        },
        "/api/exemptions": {
            "get": {
                "summary": "报备 / Exemptions that apply inside a region",
                "parameters": [
                    _REGION,
                    _query(
                        "active_at",
                        {"type": "string", "maxLength": 40},
                        f"only active then; {_TIME}",
                    ),
                ],
                "responses": {"200": _json(exemptions, "exemptions"), **_errors(401, 403, 422)},
            },
            "post": {
                "summary": "新增报备 / Add an exemption (tech_office, admin)",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("ExemptionRequest")}},
                },
                "responses": {"201": _json(_ref("Exemption"), "created"), **_errors(401, 403, 422)},
            },
        },
        "/api/exemptions/{exemption_id}/revoke": {
            "post": {
                "summary": "撤销报备 / Revoke an exemption now (tech_office, admin)",
                "parameters": [
                    {
                        "name": "exemption_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    }
                ],
                "responses": {
                    "200": _json(_ref("Exemption"), "revoked"),
                    **_errors(401, 403, 404, 422),
                },
            }
        },
        "/api/stats": {
            "get": {
                "summary": "统计 / Per region and rule: counts by state, confirmed vs explained",
                "parameters": [_REGION, _SINCE, _UNTIL],
                "responses": {
                    "200": _json({"type": "object"}, "statistics"),
                    **_errors(401, 403, 422),
                },
            }
        },
    }


@cache
def _document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "dianyan feed API (电眼 告警处置)",
            "version": "1",
            "description": "Alerts of the caller's jurisdiction and the closed loop on them. "
            "Every error is JSON {error, message}. Times are UTC epoch milliseconds.",
        },
        "paths": _paths(),
        "security": _BEARER,
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "a token printed by `dianyan users add`",
                }
            },
            "schemas": {
                "Alert": ALERT,
                "Event": EVENT,
                "Exemption": EXEMPTION,
                "ExemptionRequest": EXEMPTION_REQUEST,
                "ActionRequest": _action_request(),
                "Error": ERROR,
            },
        },
    }


def openapi_document() -> dict[str, Any]:
    """A fresh copy of the document (callers may not change the cached one)."""
    return copy.deepcopy(_document())
