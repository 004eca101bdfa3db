"""JSON Schemas of the feed API: request bodies are validated against them, and the
OpenAPI document (``alerts.feed.openapi``) is built from the same objects, so what the
service checks and what it documents cannot drift apart.
"""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from alerts.model import AlertState, Outcome, ReasonCode
from dianyan.errors import DianyanError

Schema = dict[str, Any]

ACTIONS = ("dispatch", "claim", "verify", "enforce", "clear", "comment")
REGION_PATTERN = r"^([0-9]{2}|[0-9]{4}|[0-9]{6})$"
TEXT = {"type": "string", "minLength": 1, "maxLength": 2000}
SHORT_TEXT = {"type": "string", "minLength": 1, "maxLength": 200}


class RequestInvalid(DianyanError):
    """A request's body or query does not have the expected shape (HTTP 422)."""


def _object(properties: dict[str, Schema], required: tuple[str, ...] = ()) -> Schema:
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }


COMMENT = {"type": "string", "maxLength": 2000}

# Documented here, checked by the store (alerts.lifecycle.check_payload): text is stripped
# and an empty optional field counts as absent.
ACTION_PAYLOADS: dict[str, Schema] = {
    "dispatch": _object({"department": SHORT_TEXT, "comment": COMMENT}, ("department",)),
    "claim": _object({"owner": SHORT_TEXT, "comment": COMMENT}, ("owner",)),
    "verify": {
        **_object(
            {
                "outcome": {"type": "string", "enum": [o.value for o in Outcome]},
                "reason_code": {"type": "string", "enum": [r.value for r in ReasonCode]},
                "comment": COMMENT,
            },
            ("outcome",),
        ),
        "description": "reason_code is required when explained and absent when confirmed; "
        "reason_code other needs a comment.",
    },
    "enforce": _object({"case_number": SHORT_TEXT, "comment": COMMENT}, ("case_number",)),
    "clear": _object({"result": TEXT, "comment": COMMENT}, ("result",)),
    "comment": _object({"text": TEXT}, ("text",)),
}

ACTION_ENVELOPE: Schema = {
    "type": "object",
    "properties": {
        "action": {"type": "string", "enum": list(ACTIONS)},
        "expected_seq": {
            "type": "integer",
            "minimum": 1,
            "description": "the alert's seq as last read; a stale one is refused (409)",
        },
        "payload": {"type": "object"},
    },
    "required": ["action", "expected_seq", "payload"],
    "additionalProperties": False,
}

EXEMPTION_REQUEST: Schema = _object(
    {
        "entity_id": {"type": ["string", "null"], "minLength": 1, "maxLength": 100},
        "region": {"type": "string", "pattern": REGION_PATTERN},
        "rules": {
            "type": "array",
            "items": {"type": "string", "minLength": 1, "maxLength": 64},
            "minItems": 1,
            "maxItems": 20,
            "uniqueItems": True,
        },
        "start": {"type": "string", "format": "date-time", "maxLength": 40},
        "end": {"type": "string", "format": "date-time", "maxLength": 40},
        "reason": TEXT,
        "approver": SHORT_TEXT,
    },
    ("region", "rules", "start", "end", "reason", "approver"),
)

ERROR: Schema = {
    "type": "object",
    "properties": {
        "error": {"type": "string"},
        "message": {"type": "string"},
        "state": {"type": ["string", "null"]},
        "allowed": {"type": "array", "items": {"type": "string"}},
        "expected_seq": {"type": "integer"},
        "current_seq": {"type": "integer"},
    },
    "required": ["error", "message"],
}

_NULLABLE_STRING = {"type": ["string", "null"]}
_NULLABLE_INT = {"type": ["integer", "null"]}

ALERT: Schema = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "rule": {"type": "string"},
        "entity_id": {"type": "string"},
        "county": {"type": "string"},
        "severity": {"type": "string"},
        "state": {"type": "string", "enum": [s.value for s in AlertState]},
        "first_seen_ms": {"type": "integer"},
        "last_seen_ms": {"type": "integer"},
        "occurrences": {"type": "integer"},
        "thresholds_version": {"type": "string"},
        "explanation": {"type": "string"},
        "evidence_hash": {"type": "string"},
        "seq": {"type": "integer", "minimum": 1},
        "department": _NULLABLE_STRING,
        "owner": _NULLABLE_STRING,
        "outcome": {"type": ["string", "null"], "enum": [*(o.value for o in Outcome), None]},
        "reason_code": {
            "type": ["string", "null"],
            "enum": [*(r.value for r in ReasonCode), None],
        },
        "case_number": _NULLABLE_STRING,
        "result": _NULLABLE_STRING,
        "escalation_level": {"type": "integer", "minimum": 0, "maximum": 2},
        "overdue": {"type": "boolean"},
        "overdue_since_ms": _NULLABLE_INT,
        "evidence": {"type": "object"},
    },
    "required": ["id", "rule", "entity_id", "county", "state", "seq", "overdue"],
}

EVENT: Schema = {
    "type": "object",
    "properties": {
        "seq": {"type": "integer"},
        "at_ms": {"type": "integer"},
        "actor": {"type": "string"},
        "action": {"type": "string"},
        "payload": {"type": "object"},
    },
    "required": ["seq", "at_ms", "actor", "action", "payload"],
}

EXEMPTION: Schema = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "entity_id": _NULLABLE_STRING,
        "region": {"type": "string"},
        "rules": {"type": "array", "items": {"type": "string"}},
        "start_ms": {"type": "integer"},
        "end_ms": {"type": "integer"},
        "reason": {"type": "string"},
        "approver": {"type": "string"},
        "created_by": {"type": "string"},
        "revoked_at_ms": _NULLABLE_INT,
    },
    "required": ["id", "region", "rules", "start_ms", "end_ms"],
}

_VALIDATORS = {
    "action": Draft202012Validator(ACTION_ENVELOPE),
    "exemption": Draft202012Validator(EXEMPTION_REQUEST),
}


def validate_action(body: Any) -> tuple[str, int, dict[str, Any]]:
    """(action, expected_seq, payload) from a request body, or RequestInvalid saying why.

    The payload's fields are the store's to check (AlertPayloadError, also HTTP 422).
    """
    _check("action", body, "body")
    return body["action"], body["expected_seq"], body["payload"]


def validate_exemption(body: Any) -> dict[str, Any]:
    _check("exemption", body, "body")
    return body


def _check(name: str, value: Any, where: str) -> None:
    error = best_match(_VALIDATORS[name].iter_errors(value))
    if error is None:
        return
    path = "".join(f"[{p!r}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    expected = ", ".join(
        f"{k}{'' if k in _SCHEMAS[name]['required'] else '?'}" for k in _SCHEMAS[name]["properties"]
    )
    raise RequestInvalid(f"{where}{path}: {error.message}; expected {{{expected}}}.")


_SCHEMAS = {"action": ACTION_ENVELOPE, "exemption": EXEMPTION_REQUEST}
