"""Many writers at once, each on its own connection: nothing lost, nothing doubled.

50 threads act on the same few alerts with the seq they read; every act either wins (one
event, the next seq) or is refused as stale. Workers delivering the same detections at the
same moment create each alert once.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from lifecycle_steps import CONFIRM, EXPLAIN, NOW_MS, VALID

from alerts.lifecycle import Action, allowed_actions, changes, check_allowed
from alerts.model import Alert, AlertState
from alerts.store import AlertStore, ApplyResult
from detectors.detection import Detection
from dianyan.errors import StaleSequenceError

THREADS = 50
ATTEMPTS = 6
ALERTS = 4


@dataclass(frozen=True)
class Win:
    alert_id: str
    read_seq: int
    action: str
    actor: str


def run_threads(n: int, work: Callable[[int], None]) -> None:
    """Run ``work(i)`` on n threads released together; re-raise the first failure."""
    barrier = threading.Barrier(n)
    failures: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait()
            work(i)
        except BaseException as exc:  # reported below, in the test's thread
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise failures[0]


def a_legal_action(alert: Alert, rng: random.Random) -> tuple[str, dict[str, Any]]:
    action = rng.choice(allowed_actions(alert)).value
    if action == "verify":
        return rng.choice([CONFIRM, EXPLAIN])
    return action, VALID[action]


def test_fifty_concurrent_writers_lose_no_event_and_reach_no_illegal_state(
    open_store: Callable[[], AlertStore], make_detection: Callable[..., Detection]
) -> None:
    setup = open_store()
    setup.apply([make_detection(entity_id=f"E{i}") for i in range(ALERTS)], NOW_MS)
    ids = [a.id for a in setup.list_alerts()]
    stores = [open_store() for _ in range(THREADS)]
    wins: list[Win] = []
    stale: list[tuple[str, int]] = []

    def work(i: int) -> None:
        store, rng = stores[i], random.Random(i)
        for k in range(ATTEMPTS):
            alert = store.get(rng.choice(ids))
            assert alert is not None
            if not allowed_actions(alert):
                continue  # cleared
            action, payload = a_legal_action(alert, rng)
            actor = f"t{i}.{k}"
            try:
                store.act(
                    alert.id,
                    action,
                    actor=actor,
                    expected_seq=alert.seq,
                    payload=payload,
                    now_ms=NOW_MS + k,
                )
            except StaleSequenceError:
                stale.append((alert.id, alert.seq))
            else:
                wins.append(Win(alert.id, alert.seq, action, actor))

    run_threads(THREADS, work)

    assert len(wins) >= ALERTS and stale, "the threads did contend"
    winners = Counter((w.alert_id, w.read_seq) for w in wins)
    assert max(winners.values()) == 1  # exactly one winner per (alert, seq)
    for alert_id in ids:
        events = setup.events(alert_id)
        n = len(events)
        assert [e.seq for e in events] == list(range(1, n + 1))  # no gap, no double
        ours = {w.read_seq + 1: w for w in wins if w.alert_id == alert_id}
        assert set(ours) == set(range(2, n + 1))  # every event after 'raised' is a win
        for e in events[1:]:
            assert (e.actor, e.action) == (ours[e.seq].actor, ours[e.seq].action)
        assert_legal_history(setup.get(alert_id), events)
    assert all(seq < len(setup.events(a)) for a, seq in stale)  # refused only when behind


def assert_legal_history(stored: Alert | None, events: list[Any]) -> None:
    """Replay the log through the lifecycle: every step legal, ending where the store is."""
    assert stored is not None
    alert = replace(
        stored,
        state=AlertState.RAISED,
        seq=1,
        owner=None,
        outcome=None,
        reason_code=None,
        department=None,
    )
    for e in events[1:]:
        action = Action(e.action)
        check_allowed(alert, action)
        alert = replace(alert, **changes(alert, action, e.payload, e.at_ms), seq=e.seq)
    assert (alert.state, alert.seq, alert.owner, alert.outcome) == (
        stored.state,
        stored.seq,
        stored.owner,
        stored.outcome,
    )


def test_workers_delivering_the_same_detections_at_once_create_each_alert_once(
    open_store: Callable[[], AlertStore], make_detection: Callable[..., Detection]
) -> None:
    batch = [
        make_detection(entity_id=f"E{i % 3}", start_slot=slot, final=final)
        for i, slot in enumerate([0, 0, 0, 40, 40, 80])
        for final in (False, True)
    ]
    workers = 8
    stores = [open_store() for _ in range(workers)]
    results: list[ApplyResult] = []

    def work(i: int) -> None:
        mine = random.Random(i).sample(batch, len(batch))  # each in its own order
        results.append(stores[i].apply(mine, NOW_MS))

    run_threads(workers, work)

    alerts = stores[0].list_alerts()
    assert len(alerts) == 3  # one open alert per entity: later episodes joined it
    assert sum(r.created for r in results) == 3
    assert sum(r.total - r.duplicates for r in results) == len({d.key for d in batch})
    for alert in alerts:
        linked = stores[0].detections_of(alert.id)
        assert len(linked) == len({d.key for d in linked})
        assert [e.action for e in stores[0].events(alert.id)] == ["raised"]
