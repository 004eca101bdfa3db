"""What the tech office tunes thresholds by: per county and rule, confirmed versus explained.

Alerts count by when they were first seen (``since_ms`` <= first seen < ``until_ms``).
Precision is confirmed / (confirmed + explained): of the alerts checked on site, the
share that were real violations; None while none has been verified.
"""

from __future__ import annotations

from dataclasses import dataclass

from alerts.db import Db
from alerts.model import AlertState, Outcome
from alerts.sql import alert_filters, where

WEEK_MS = 7 * 86_400_000
# Monday 1970-01-05 00:00 China Standard Time, in UTC ms: weeks start on Mondays, CST.
_MONDAY_MS = 4 * 86_400_000 - 8 * 3_600_000

_COUNTS = (
    "COUNT(*), "
    + "".join(f"SUM(CASE WHEN state = '{s.value}' THEN 1 ELSE 0 END), " for s in AlertState)
    + "".join(f"SUM(CASE WHEN outcome = '{o.value}' THEN 1 ELSE 0 END), " for o in Outcome)
    + "SUM(CASE WHEN overdue_since_ms IS NOT NULL THEN 1 ELSE 0 END)"
)


def precision(confirmed: int, explained: int) -> float | None:
    """Share of verified alerts that were real violations; None before any verification."""
    checked = confirmed + explained
    return confirmed / checked if checked else None


@dataclass(frozen=True, slots=True)
class StatsRow:
    """Alert counts of one county and rule."""

    county: str
    rule: str
    total: int
    by_state: dict[str, int]  # every state, zero included
    confirmed: int
    explained: int
    overdue: int

    @property
    def precision(self) -> float | None:
        return precision(self.confirmed, self.explained)

    def to_dict(self) -> dict[str, object]:
        return {
            "county": self.county,
            "rule": self.rule,
            "total": self.total,
            "by_state": dict(self.by_state),
            "confirmed": self.confirmed,
            "explained": self.explained,
            "overdue": self.overdue,
            "precision": self.precision,
        }


@dataclass(frozen=True, slots=True)
class WeekRow:
    """Confirmed versus explained among the alerts first seen in one week (Monday, CST)."""

    week_start_ms: int
    total: int
    confirmed: int
    explained: int

    @property
    def precision(self) -> float | None:
        return precision(self.confirmed, self.explained)

    def to_dict(self) -> dict[str, object]:
        return {
            "week_start_ms": self.week_start_ms,
            "total": self.total,
            "confirmed": self.confirmed,
            "explained": self.explained,
            "precision": self.precision,
        }


@dataclass(frozen=True, slots=True)
class Stats:
    """What ``AlertStore.stats`` answers: rows per (county, rule), and the weekly series."""

    rows: list[StatsRow]
    weekly: list[WeekRow]

    def to_dict(self) -> dict[str, object]:
        return {
            "rows": [r.to_dict() for r in self.rows],
            "weekly": [w.to_dict() for w in self.weekly],
        }


def stats(
    db: Db, region: str | None = None, since_ms: int | None = None, until_ms: int | None = None
) -> list[StatsRow]:
    """One row per (county, rule) with alerts in the region and period, in that order."""
    clauses, params = alert_filters(region=region, since_ms=since_ms, until_ms=until_ms)
    rows = db.execute(
        f"SELECT county, rule, {_COUNTS} FROM alerts{where(clauses)} "
        "GROUP BY county, rule ORDER BY county, rule",
        params,
    )
    n = len(AlertState)
    out = []
    for county, rule, total, *counts in rows:
        by_state = {s.value: int(c) for s, c in zip(AlertState, counts[:n], strict=True)}
        confirmed, explained, overdue = (int(c) for c in counts[n:])
        out.append(StatsRow(county, rule, int(total), by_state, confirmed, explained, overdue))
    return out


def weekly_outcomes(
    db: Db,
    region: str | None = None,
    rule: str | None = None,
    since_ms: int | None = None,
    until_ms: int | None = None,
) -> list[WeekRow]:
    """Per week, oldest first: alerts first seen that week and how they were verified."""
    clauses, params = alert_filters(region=region, rule=rule, since_ms=since_ms, until_ms=until_ms)
    confirmed, explained = (
        f"SUM(CASE WHEN outcome = '{o.value}' THEN 1 ELSE 0 END)" for o in Outcome
    )
    rows = db.execute(
        f"SELECT (first_seen_ms - {_MONDAY_MS}) / {WEEK_MS} AS week, COUNT(*), {confirmed}, "
        f"{explained} FROM alerts{where(clauses)} GROUP BY week ORDER BY week",
        params,
    )
    return [
        WeekRow(int(week) * WEEK_MS + _MONDAY_MS, int(total), int(c), int(e))
        for week, total, c, e in rows
    ]
