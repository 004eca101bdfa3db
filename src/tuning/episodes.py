"""Episodes: the unit a backtest counts, and matching them by overlapping time.

An episode is one continuous abnormal run of one rule on one entity (the open and final
detections of a ``Detection.episode_start_ms``). Each episode is an alert once the previous
alert of that entity and rule is cleared; in a store nobody clears, an open alert absorbs
the entity's later episodes, so a store holds fewer alerts than there are episodes.
Two episodes (or an episode and a verified alert) are the same event when they have the
same rule and entity and their time spans overlap.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from alerts.store import AlertStore
from detectors.detection import Detection

EPISODE_COLUMNS = (
    "rule",
    "entity_id",
    "county",
    "start_ms",
    "end_ms",
    "opened_ms",
    "min_run",
    "alert_id",
)


def episodes_from_store(store: AlertStore) -> pd.DataFrame:
    """One row per episode that raised or joined an alert (suppressed ones never do)."""
    rows: dict[tuple[str, str, int], dict] = {}
    for alert in store.list_alerts():
        for d in store.detections_of(alert.id):
            key = (d.rule, d.entity_id, d.episode_start_ms)
            row = rows.setdefault(
                key,
                {
                    "rule": d.rule,
                    "entity_id": d.entity_id,
                    "county": d.county,
                    "start_ms": d.episode_start_ms,
                    "end_ms": d.end_ms,
                    "opened_ms": d.end_ms,
                    "min_run": _min_run(d),
                    "alert_id": alert.id,
                },
            )
            row["end_ms"] = max(row["end_ms"], d.end_ms)
            if not d.final:
                row["opened_ms"] = d.end_ms
    frame = pd.DataFrame(list(rows.values()), columns=list(EPISODE_COLUMNS))
    return frame.astype({"start_ms": "int64", "end_ms": "int64", "opened_ms": "int64"})


def _min_run(d: Detection) -> int:
    """Slots an episode of this detection needed before it opened."""
    if d.rule == "meter_offline":
        return int(-(-int(d.thresholds["max_gap_minutes"]) // 15)) + 1
    return int(d.thresholds.get("min_run_slots", 1))


def overlapping(left: pd.DataFrame, right: pd.DataFrame) -> np.ndarray:
    """For each row of ``left``: does a row of ``right`` share its rule and entity and overlap
    its [start_ms, end_ms) span? Both frames need rule, entity_id, start_ms, end_ms."""
    hit = np.zeros(len(left), dtype=bool)
    if len(left) == 0 or len(right) == 0:
        return hit
    keys = ["rule", "entity_id"]
    a = left[[*keys, "start_ms", "end_ms"]].reset_index(drop=True)
    a["row"] = np.arange(len(a))
    b = right[[*keys, "start_ms", "end_ms"]]
    pairs = a.merge(b, on=keys, suffixes=("", "_r"))
    both = (pairs["start_ms"] < pairs["end_ms_r"]) & (pairs["start_ms_r"] < pairs["end_ms"])
    hit[pairs.loc[both, "row"].to_numpy()] = True
    return hit
