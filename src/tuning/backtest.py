"""``dianyan backtest``: what a candidate thresholds file would have done, next to the live one.

One replay (:func:`tuning.replay.replay`) runs both sets; :func:`compare` turns it into the
report (a JSON-ready dict that the terminal table and the HTML page both render):

- per county and rule: alerts (episodes) under each set, gained and lost (an episode is
  the same alert under both sets when their spans overlap), and against the verification
  outcomes in the store: confirmed kept / missed, explained avoided, precision, recall;
- per county: precision under each set and the alert budget (alerts per week against the
  county's inspection capacity);
- per day: alerts under each set;
- the alert ids an empty store holds after the replay, exactly as ``dianyan run`` raises them.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from alerts.stats import precision
from alerts.store import AlertStore
from detectors.thresholds import Thresholds
from ingest.registry import Registry
from tuning.capacity import Capacity
from tuning.episodes import overlapping
from tuning.outcomes import Outcomes, judge, load_outcomes, recall, totals
from tuning.progress import Progress
from tuning.replay import History, replay
from tuning.scope import Scope, day_text, local_day

REFERENCE, CANDIDATE = "reference", "candidate"
SETS = (REFERENCE, CANDIDATE)


def run_backtest(
    data: str | Path,
    candidate: Thresholds,
    reference: Thresholds,
    registry: Registry | None = None,
    scope: Scope | None = None,
    store: AlertStore | None = None,
    capacity: Capacity | None = None,
    progress: Progress | None = None,
) -> dict:
    """Replay ``data`` under both sets and compare them; ``store`` holds the outcomes."""
    scope = scope or Scope()
    exemptions = store.list_exemptions() if store is not None else ()
    history = replay(
        data,
        {REFERENCE: reference, CANDIDATE: candidate},
        registry=registry,
        scope=scope,
        exemptions=exemptions,
        progress=progress,
    )
    outcomes = load_outcomes(store, scope, history) if store is not None else Outcomes.none()
    report = compare(history, outcomes, scope, capacity, _county_of(registry))
    report["data"] = str(data)
    return report


def _county_of(registry: Registry | None) -> Callable[[list[str]], list[str]]:
    def county_of(entity_ids: list[str]) -> list[str]:
        if registry is None or not entity_ids:
            return []
        rows = registry.row_of(np.asarray(entity_ids, dtype=object))
        return sorted({str(registry.county[r]) for r in rows if r >= 0})

    return county_of


def compare(
    history: History,
    outcomes: Outcomes,
    scope: Scope,
    capacity: Capacity | None = None,
    county_of: Callable[[list[str]], list[str]] | None = None,
) -> dict:
    """The backtest report of a replay with the sets ``reference`` and ``candidate``."""
    episodes = {name: scope.episodes(history.runs[name].episodes) for name in SETS}
    ref, cand = episodes[REFERENCE], episodes[CANDIDATE]
    gained = cand[~overlapping(cand, ref)]
    lost = ref[~overlapping(ref, cand)]
    judged = {name: judge(episodes[name], outcomes) for name in SETS}
    counties = sorted(
        set(county_of(sorted(history.entities)) if county_of else ())
        | set(ref["county"])
        | set(cand["county"])
        | set(outcomes.alerts["county"])
    )
    days = _days(history, scope)
    return {
        "kind": "backtest",
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "scope": scope.to_dict(),
        "sets": {name: _set_info(history, name, episodes[name]) for name in SETS},
        "readings": {
            "read": history.readings_in,
            "replayed": history.readings_replayed,
            "rejected": dict(sorted(history.rejected.items())),
            "seconds": round(history.seconds, 3),
            "per_second": round(history.readings_per_second),
        },
        "period_days": len(days),
        "rows": _rows(episodes, gained, lost, judged),
        "counties": [
            _county(c, episodes, judged, capacity, days) for c in counties if c is not None
        ],
        "daily": _daily(episodes, days),
        "outcomes": outcomes.to_dict(),
        "alert_ids": {name: history.runs[name].alert_ids for name in SETS},
    }


def _set_info(history: History, name: str, episodes: pd.DataFrame) -> dict:
    run = history.runs[name]
    return {
        "path": run.thresholds.path,
        "version": run.thresholds.version,
        "alerts": len(episodes),
        "store_alerts": len(run.alert_ids),
    }


def _rows(
    episodes: dict[str, pd.DataFrame],
    gained: pd.DataFrame,
    lost: pd.DataFrame,
    judged: dict[str, pd.DataFrame],
) -> list[dict]:
    keys = ["county", "rule"]
    counts = {
        "reference": episodes[REFERENCE].groupby(keys).size(),
        "candidate": episodes[CANDIDATE].groupby(keys).size(),
        "gained": gained.groupby(keys).size(),
        "lost": lost.groupby(keys).size(),
    }
    by_set = {name: judged[name].set_index(keys) for name in SETS}
    index = sorted(
        set().union(*(c.index for c in counts.values()), *(j.index for j in by_set.values()))
    )
    rows = []
    for key in index:
        row: dict = {"county": key[0], "rule": key[1]}
        row |= {name: int(series.get(key, 0)) for name, series in counts.items()}
        row |= _judged_row({name: _counts_at(by_set[name], key) for name in SETS})
        rows.append(row)
    return rows


def _counts_at(table: pd.DataFrame, key: tuple) -> dict[str, int]:
    if key not in table.index:
        return totals(table.iloc[0:0])
    return {c: int(v) for c, v in table.loc[key].items()}


def _judged_row(counts: dict[str, dict[str, int]]) -> dict:
    ref = counts[REFERENCE]
    out: dict = {"confirmed": ref["confirmed"], "explained": ref["explained"]}
    for field in ("confirmed_kept", "confirmed_missed", "explained_avoided", "unverified"):
        out[field] = {}
    out["precision"], out["recall"] = {}, {}
    for name, c in counts.items():
        out["confirmed_kept"][name] = c["confirmed_kept"]
        out["confirmed_missed"][name] = c["confirmed"] - c["confirmed_kept"]
        out["explained_avoided"][name] = c["explained"] - c["explained_kept"]
        out["unverified"][name] = c["unverified"]
        out["precision"][name] = _round(precision(c["confirmed_kept"], c["explained_kept"]))
        out["recall"][name] = _round(recall(c["confirmed_kept"], c["confirmed"]))
    return out


def _county(
    county: str,
    episodes: dict[str, pd.DataFrame],
    judged: dict[str, pd.DataFrame],
    capacity: Capacity | None,
    days: np.ndarray,
) -> dict:
    weeks = max(len(days), 1) / 7
    out: dict = {"county": county, "precision": {}, "recall": {}, "alerts": {}}
    out |= {"per_week": {}, "peak_week": {}, "fits": {}}
    cap = capacity.for_county(county) if capacity is not None else None
    out["capacity_per_week"] = cap
    for name in SETS:
        mine = episodes[name][episodes[name]["county"] == county]
        j = judged[name]
        c = totals(j[j["county"] == county])
        out["precision"][name] = _round(precision(c["confirmed_kept"], c["explained_kept"]))
        out["recall"][name] = _round(recall(c["confirmed_kept"], c["confirmed"]))
        out["alerts"][name] = len(mine)
        per_week = len(mine) / weeks
        week = (local_day(mine["start_ms"].to_numpy()) + 3) // 7  # weeks start on Mondays
        out["per_week"][name] = round(per_week, 2)
        out["peak_week"][name] = int(np.bincount(week - week.min()).max()) if len(mine) else 0
        out["fits"][name] = None if cap is None else bool(per_week <= cap)
    return out


def _days(history: History, scope: Scope) -> np.ndarray:
    """Local day numbers of the reported period (the scope's, or what the history covered)."""
    first = scope.from_ms if scope.from_ms is not None else history.first_ms
    end = scope.to_ms if scope.to_ms is not None else history.last_ms
    if first is None or end is None:
        return np.zeros(0, dtype=np.int64)
    last = local_day(end - 1)  # to_ms is exclusive; a reading's ts ends its interval
    return np.arange(local_day(first), last + 1, dtype=np.int64)


def _daily(episodes: dict[str, pd.DataFrame], days: np.ndarray) -> dict:
    out: dict = {"days": [day_text(d) for d in days]}
    for name in SETS:
        day = local_day(episodes[name]["start_ms"].to_numpy())
        counts = pd.Series(day).value_counts()
        out[name] = [int(counts.get(d, 0)) for d in days]
    return out


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 4)
