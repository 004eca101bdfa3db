"""The simulator's ground truth (truth.csv), and verification outcomes recorded from it.

For simulated provinces only: an inspector's outcome is what truth.csv says, so a
backtest or a sweep can be judged the way real outcomes would judge it. An alert is
confirmed when one of its episodes overlaps a labelled violation of its rule on its
entity, and explained otherwise (see docs/simulator.md for the labels).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd

from alerts.lifecycle import Action
from alerts.model import Alert, AlertState, Outcome, ReasonCode
from alerts.store import AlertStore
from dianyan.pipeline import Pipeline
from ingest.sources import iter_raw_batches
from tuning.episodes import overlapping

TRUTH_ACTOR = "ground-truth"


def load_truth(path: str | Path) -> pd.DataFrame:
    """truth.csv with start_ms / end_ms (UTC epoch ms) added."""
    truth = pd.read_csv(path, dtype={"entity_id": str, "county": str})
    for col in ("start", "end"):
        truth[col + "_ms"] = (
            pd.to_datetime(truth[col], utc=True).astype("datetime64[ms, UTC]").astype("int64")
        )
    return truth


def truth_outcomes(alerts: list[Alert], store: AlertStore, truth: pd.DataFrame) -> list[Outcome]:
    """What ground truth says an inspector would find for each alert."""
    spans = pd.DataFrame(
        [
            (i, d.rule, d.entity_id, d.episode_start_ms, d.end_ms)
            for i, a in enumerate(alerts)
            for d in store.detections_of(a.id)
        ],
        columns=["alert", "rule", "entity_id", "start_ms", "end_ms"],
    )
    violations = truth[truth["category"] == "violation"].rename(columns={"label": "rule"})
    real = set(spans.loc[overlapping(spans, violations), "alert"])
    return [Outcome.CONFIRMED if i in real else Outcome.EXPLAINED for i in range(len(alerts))]


def verify_from_truth(store: AlertStore, truth: pd.DataFrame, now_ms: int) -> Counter[str]:
    """Close the loop on every raised alert as ground truth says; counts by outcome.

    Confirmed alerts are dispatched, verified, enforced and cleared; explained ones are
    dispatched, verified (reason ``other``) and cleared. Every step is a lifecycle action,
    recorded in the audit log like an inspector's.
    """
    raised = store.list_alerts(state=AlertState.RAISED)
    done: Counter[str] = Counter()
    for alert, outcome in zip(raised, truth_outcomes(raised, store, truth), strict=True):
        steps: list[tuple[Action, dict[str, str]]] = [
            (Action.DISPATCH, {"department": "simulated inspection"}),
        ]
        if outcome is Outcome.CONFIRMED:
            steps += [
                (Action.VERIFY, {"outcome": outcome.value}),
                (Action.ENFORCE, {"case_number": f"SIM-{alert.id}"}),
                (Action.CLEAR, {"result": "case closed (simulated)"}),
            ]
        else:
            steps += [
                (
                    Action.VERIFY,
                    {
                        "outcome": outcome.value,
                        "reason_code": ReasonCode.OTHER.value,
                        "comment": "no labelled violation in the simulator's truth.csv",
                    },
                ),
                (Action.CLEAR, {"result": "explained (simulated)"}),
            ]
        seq = alert.seq
        for action, payload in steps:
            seq = store.act(
                alert.id,
                action,
                actor=TRUTH_ACTOR,
                expected_seq=seq,
                payload=payload,
                now_ms=now_ms,
            ).seq
        done[outcome.value] += 1
    return done


def replay_with_inspections(
    pipeline: Pipeline, path: str | Path, truth: pd.DataFrame, batch_rows: int
) -> Counter[str]:
    """Replay like ``dianyan run``, closing the loop after every batch of readings.

    Inspectors verify and clear each raised alert as ground truth says, at the event time
    reached, so an enterprise's next episode raises a new alert instead of joining an old
    one: the outcomes look like weeks of real inspection work.
    """
    done: Counter[str] = Counter()
    for raw in iter_raw_batches(path, batch_rows=batch_rows):
        pipeline.summary.readings_in += raw.num_rows
        pipeline.feed(pipeline.validator.validate(raw).valid)
        done += verify_from_truth(pipeline.store, truth, _event_time(pipeline))
    pipeline.finish()
    done += verify_from_truth(pipeline.store, truth, _event_time(pipeline))
    return done


def _event_time(pipeline: Pipeline) -> int:
    return max(pipeline.detector.grid.watermark_ms, 0)
