"""Reading the feed's query strings: filters, times and page sizes, each checked with a
message that says what was expected (HTTP 422), shared by the API and the web page.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from dataclasses import dataclass

from alerts.access import User, scope_region
from alerts.feed.schemas import RequestInvalid
from alerts.model import AlertState

CST = datetime.timezone(datetime.timedelta(hours=8))
DEFAULT_LIMIT, MAX_LIMIT = 50, 500
RULE_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
CURSOR_PATTERN = re.compile(r"^[A-Za-z0-9_\-=.:]{1,200}$")
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")


@dataclass(frozen=True, slots=True)
class AlertQuery:
    """The list filters after checks; ``region`` is already inside the caller's jurisdiction."""

    region: str
    rule: str | None = None
    state: AlertState | None = None
    since_ms: int | None = None
    until_ms: int | None = None
    overdue: bool | None = None
    cursor: str | None = None
    limit: int = DEFAULT_LIMIT


def alert_query(params: Mapping[str, str], user: User) -> AlertQuery:
    """Filters from a query string (empty values count as absent)."""
    p = {k: v for k, v in params.items() if v != ""}
    try:
        region = scope_region(user, p.get("region"))
    except ValueError as exc:
        raise RequestInvalid(f"region: {exc}") from None
    return AlertQuery(
        region=region,
        rule=_rule(p.get("rule")),
        state=_state(p.get("state")),
        since_ms=parse_time(p["since"], "since") if "since" in p else None,
        until_ms=parse_time(p["until"], "until") if "until" in p else None,
        overdue=parse_bool(p["overdue"], "overdue") if "overdue" in p else None,
        cursor=_cursor(p.get("cursor")),
        limit=parse_limit(p.get("limit")),
    )


def parse_time(text: str, name: str) -> int:
    """UTC epoch ms from epoch milliseconds or ISO 8601 (China Standard Time if no offset)."""
    if text.isascii() and text.isdigit() and len(text) <= 15:
        return int(text)
    try:
        at = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise RequestInvalid(
            f"{name}: {text!r} is not a time; give ISO 8601 (2024-05-01 or "
            "2024-05-01T22:00:00+08:00; no offset means China Standard Time) or epoch ms."
        ) from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=CST)
    try:
        return int(at.timestamp() * 1000)
    except (OverflowError, ValueError, OSError):
        raise RequestInvalid(f"{name}: {text!r} is out of range.") from None


def parse_bool(text: str, name: str) -> bool:
    if text.lower() in _TRUE:
        return True
    if text.lower() in _FALSE:
        return False
    raise RequestInvalid(f"{name}: {text!r} is not a yes/no value; give true or false.")


def parse_limit(text: str | None) -> int:
    if text is None:
        return DEFAULT_LIMIT
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_LIMIT:
        raise RequestInvalid(f"limit: {text!r} is not a whole number from 1 to {MAX_LIMIT}.")
    return int(text)


def _rule(text: str | None) -> str | None:
    if text is not None and not RULE_PATTERN.match(text):
        raise RequestInvalid(
            f"rule: {text!r} is not a rule name; give lower-case letters, digits and _ "
            "(e.g. night_production)."
        )
    return text


def _state(text: str | None) -> AlertState | None:
    if text is None:
        return None
    try:
        return AlertState(text)
    except ValueError:
        allowed = ", ".join(s.value for s in AlertState)
        raise RequestInvalid(f"state: {text!r} is not a state; give one of {allowed}.") from None


def _cursor(text: str | None) -> str | None:
    if text is not None and not CURSOR_PATTERN.match(text):
        raise RequestInvalid("cursor: not a cursor this service gave out; start from page 1.")
    return text
