"""How the feed answers a refused request: one status and JSON body per kind of error.

Every error body is ``{"error": <code>, "message": <what to do>}``, plus ``state`` and
``allowed`` (the actions the alert accepts) for a refused action, and ``expected_seq`` /
``current_seq`` for a stale one.
"""

from __future__ import annotations

from typing import Any

from alerts.access import AuthenticationError, PermissionDenied
from alerts.feed.schemas import RequestInvalid
from dianyan.errors import (
    AlertActionError,
    AlertPayloadError,
    DianyanError,
    ExemptionError,
    NotFound,
    StaleSequenceError,
)

# Most specific first: the first class an error is an instance of decides.
_STATUS: tuple[tuple[type[DianyanError], int, str], ...] = (
    (AuthenticationError, 401, "unauthenticated"),
    (PermissionDenied, 403, "forbidden"),
    (NotFound, 404, "not_found"),
    (RequestInvalid, 422, "invalid_request"),
    (AlertPayloadError, 422, "invalid_payload"),
    (StaleSequenceError, 409, "stale_sequence"),
    (AlertActionError, 409, "illegal_action"),
    (ExemptionError, 422, "invalid_exemption"),
)


def describe(exc: DianyanError) -> tuple[int, dict[str, Any]] | None:
    """(HTTP status, JSON body) for an error the feed knows, else None."""
    for cls, status, code in _STATUS:
        if isinstance(exc, cls):
            body: dict[str, Any] = {"error": code, "message": str(exc)}
            if isinstance(exc, AlertActionError) and not isinstance(exc, AlertPayloadError):
                body["state"] = exc.state
                body["allowed"] = list(exc.allowed)
            if isinstance(exc, StaleSequenceError):
                body["expected_seq"] = exc.expected
                body["current_seq"] = exc.current
            return status, body
    return None
