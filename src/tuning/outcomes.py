"""Verification outcomes (核查结果) from the alert store, and what a thresholds set keeps of them.

A verified alert of the live store is *kept* by a set when one of the set's episodes
overlaps one of the alert's episodes (same rule and entity). Per group (county and rule,
or a whole region):

- precision = confirmed kept / (confirmed kept + explained kept): of the verified alerts
  the set would still raise, the share that were real violations;
- recall = confirmed kept / confirmed: of the violations inspectors confirmed, the share
  the set still catches;
- unverified = the set's episodes that overlap no verified alert: nobody has checked them,
  so they count in neither figure.

Verified alerts the history cannot judge (their entity has no readings in the replay, or
they were first seen outside the replayed time) are *unknown*: listed, never "missed".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from alerts.store import AlertStore
from tuning.episodes import overlapping
from tuning.replay import History
from tuning.scope import Scope

OUTCOME_COLUMNS = ("alert_id", "rule", "entity_id", "county", "outcome", "first_seen_ms")
COUNT_COLUMNS = (
    "confirmed",
    "explained",
    "confirmed_kept",
    "explained_kept",
    "unverified",
)


@dataclass(frozen=True)
class Outcomes:
    """The verified alerts a replay can judge, and those it cannot."""

    alerts: pd.DataFrame  # OUTCOME_COLUMNS, one row per verified alert in scope
    spans: pd.DataFrame  # alert_id, rule, entity_id, start_ms, end_ms: the alerts' episodes
    unknown: list[str]  # verified alert ids in scope that the history cannot judge
    outside_scope: int  # verified alerts in the store outside the region or period

    @classmethod
    def none(cls) -> Outcomes:
        return cls(
            pd.DataFrame(columns=list(OUTCOME_COLUMNS)),
            pd.DataFrame(columns=["alert_id", "rule", "entity_id", "start_ms", "end_ms"]),
            [],
            0,
        )

    def to_dict(self) -> dict[str, object]:
        counts = self.alerts["outcome"].value_counts()
        return {
            "verified_in_scope": len(self.alerts) + len(self.unknown),
            "judged": len(self.alerts),
            "confirmed": int(counts.get("confirmed", 0)),
            "explained": int(counts.get("explained", 0)),
            "unknown": len(self.unknown),
            "unknown_alert_ids": self.unknown,
            "outside_scope": self.outside_scope,
        }


def load_outcomes(store: AlertStore, scope: Scope, history: History) -> Outcomes:
    """Verified alerts of ``store`` inside the scope, split into judgeable and unknown."""
    stats = store.stats()
    verified_total = sum(r.confirmed + r.explained for r in stats.rows)
    in_scope = [
        a
        for a in store.list_alerts(
            region=scope.region, since_ms=scope.from_ms, until_ms=scope.to_ms
        )
        if a.outcome is not None
    ]
    known, unknown, spans = [], [], []
    for a in in_scope:
        judged = (
            a.entity_id in history.entities
            and history.first_ms is not None
            and history.first_ms <= a.first_seen_ms <= history.last_ms
        )
        if not judged:
            unknown.append(a.id)
            continue
        known.append((a.id, a.rule, a.entity_id, a.county, a.outcome.value, a.first_seen_ms))
        detections = store.detections_of(a.id)
        if detections:
            spans.extend(
                (a.id, d.rule, d.entity_id, d.episode_start_ms, d.end_ms) for d in detections
            )
        else:  # raised before detections were recorded: its own span
            spans.append((a.id, a.rule, a.entity_id, a.first_seen_ms, a.last_seen_ms))
    return Outcomes(
        alerts=pd.DataFrame(known, columns=list(OUTCOME_COLUMNS)),
        spans=pd.DataFrame(spans, columns=["alert_id", "rule", "entity_id", "start_ms", "end_ms"]),
        unknown=unknown,
        outside_scope=verified_total - len(in_scope),
    )


def judge(
    episodes: pd.DataFrame, outcomes: Outcomes, by: tuple[str, ...] = ("county", "rule")
) -> pd.DataFrame:
    """Per group: confirmed / explained verified alerts, how many the set keeps, and its
    unverified episodes. ``episodes`` are the set's episodes inside the scope."""
    spans = outcomes.spans
    kept_span = overlapping(spans, episodes)
    kept = set(spans.loc[kept_span, "alert_id"]) if len(spans) else set()
    alerts = outcomes.alerts.assign(kept=outcomes.alerts["alert_id"].isin(kept))
    confirmed = alerts["outcome"] == "confirmed"
    alerts = alerts.assign(
        confirmed=confirmed.astype(int),
        explained=(~confirmed).astype(int),
        confirmed_kept=(confirmed & alerts["kept"]).astype(int),
        explained_kept=(~confirmed & alerts["kept"]).astype(int),
        unverified=0,
    )
    fresh = episodes[~overlapping(episodes, spans)].assign(unverified=1)
    keys = list(by)
    rows = pd.concat(
        [alerts[[*keys, *COUNT_COLUMNS]], fresh.reindex(columns=[*keys, *COUNT_COLUMNS])],
        ignore_index=True,
    ).fillna(0)
    if rows.empty:
        return pd.DataFrame(columns=[*keys, *COUNT_COLUMNS])
    return (
        rows.groupby(keys, as_index=False)[list(COUNT_COLUMNS)]
        .sum()
        .astype({c: "int64" for c in COUNT_COLUMNS})
    )


def recall(confirmed_kept: int, confirmed: int) -> float | None:
    return confirmed_kept / confirmed if confirmed else None


def totals(table: pd.DataFrame) -> dict[str, int]:
    """The counts of a ``judge`` table summed over its groups."""
    return {c: int(np.asarray(table[c], dtype=np.int64).sum()) for c in COUNT_COLUMNS}
