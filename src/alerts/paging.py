"""Keyset pagination of alert lists on (first_seen_ms, id), with opaque cursors.

A cursor names the last alert of a page; the next page starts after it, so alerts raised
while someone pages through never shift or repeat the pages they have not read yet.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from alerts.model import Alert


@dataclass(frozen=True, slots=True)
class Page:
    """One page of alerts; ``next_cursor`` is None on the last page."""

    items: list[Alert]
    next_cursor: str | None


def encode_cursor(alert: Alert, newest_first: bool) -> str:
    text = f"{'d' if newest_first else 'a'}:{alert.first_seen_ms}:{alert.id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, newest_first: bool) -> tuple[int, str]:
    """(first_seen_ms, id) of the cursor's alert; ValueError for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        order, ms, alert_id = raw.split(":", 2)
        if order != ("d" if newest_first else "a") or not alert_id:
            raise ValueError(order)
        return int(ms), alert_id
    except (ValueError, TypeError, UnicodeDecodeError, binascii.Error):
        raise ValueError(
            f"cursor {cursor!r} is not one this list handed out (for this order); "
            "start again without a cursor."
        ) from None


def keyset_clause(cursor: str | None, newest_first: bool) -> tuple[str | None, list[object]]:
    """The WHERE clause that starts after the cursor's alert, in the list's order."""
    if cursor is None:
        return None, []
    ms, alert_id = decode_cursor(cursor, newest_first)
    op = "<" if newest_first else ">"
    return (
        f"(first_seen_ms {op} ? OR (first_seen_ms = ? AND id {op} ?))",
        [ms, ms, alert_id],
    )
