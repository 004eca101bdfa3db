"""Latency of the alert store's act() and page_alerts() under concurrent writers.

N threads (default 50), each with its own store connection, act on the same few alerts
with the seq they just read (a comment, or the next lifecycle step), as inspectors
clicking at once would; each also lists a page of the feed. Prints p50/p99 per backend of
act() (wins and stale refusals) and page_alerts(), and the share of acts refused as stale.
Seeded; SQLite in a temporary file; PostgreSQL in a temporary schema of --postgres.

    python benchmarks/store_act_latency.py [--threads 50 --rounds 20 --alerts 20]
        [--postgres "host=127.0.0.1 dbname=test user=postgres"] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from alerts.lifecycle import allowed_actions
from alerts.store import AlertStore, PostgresAlertStore, SqliteAlertStore
from detectors.detection import Detection
from dianyan.errors import StaleSequenceError

NOW_MS = 1_750_000_000_000
PAYLOADS: dict[str, dict[str, Any]] = {
    "dispatch": {"department": "安监股"},
    "claim": {"owner": "王伟"},
    "verify": {"outcome": "explained", "reason_code": "commissioning"},
    "enforce": {"case_number": "2024-17"},
    "clear": {"result": "已整改"},
    "comment": {"text": "已电话联系企业"},
}


def detection(i: int) -> Detection:
    start = NOW_MS - 86_400_000 + i * 900_000
    return Detection(
        rule="night_production",
        entity_id=f"E{i:05d}",
        county=("370481", "370402", "370502")[i % 3],
        episode_start_ms=start,
        start_ms=start,
        end_ms=start + 1_800_000,
        severity="high",
        score=3.0,
        observed=40.0,
        baseline=10.0,
        thresholds={},
        thresholds_version="bench",
        explanation="bench",
    )


def run(open_store: Callable[[], AlertStore], threads: int, rounds: int, alerts: int) -> dict:
    stores = [open_store() for _ in range(threads + 1)]
    try:
        stores[0].apply([detection(i) for i in range(alerts)], NOW_MS)
        ids = [a.id for a in stores[0].list_alerts()]
        acts: list[float] = []
        pages: list[float] = []
        outcome = {"won": 0, "stale": 0}
        barrier = threading.Barrier(threads)

        def work(i: int) -> None:
            store, rng = stores[i + 1], random.Random(i)
            barrier.wait()
            for k in range(rounds):
                t0 = time.perf_counter()
                store.page_alerts(region="3704", limit=50)
                pages.append(time.perf_counter() - t0)
                alert = store.get(rng.choice(ids))
                allowed = [a.value for a in allowed_actions(alert)] if alert else []
                if not allowed:
                    continue
                # Mostly comments, so the alerts stay open for the whole run.
                action = "comment" if rng.random() < 0.7 else allowed[0]
                t0 = time.perf_counter()
                try:
                    store.act(
                        alert.id,
                        action,
                        actor=f"t{i}",
                        expected_seq=alert.seq,
                        payload=PAYLOADS[action],
                        now_ms=NOW_MS + k,
                    )
                    outcome["won"] += 1
                except StaleSequenceError:
                    outcome["stale"] += 1
                acts.append(time.perf_counter() - t0)

        workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
        started = time.perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        elapsed = time.perf_counter() - started
    finally:
        for s in stores:
            s.close()
    return {
        "threads": threads,
        "acts": len(acts),
        "acts_per_s": round(len(acts) / elapsed, 1),
        "stale_share": round(outcome["stale"] / max(1, len(acts)), 3),
        "act_ms": percentiles(acts),
        "page_ms": percentiles(pages),
    }


def percentiles(seconds: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(seconds, n=100)
    return {"p50": round(cuts[49] * 1000, 2), "p99": round(cuts[98] * 1000, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--threads", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=20, help="acts per thread")
    ap.add_argument("--alerts", type=int, default=20, help="alerts the threads share")
    ap.add_argument("--postgres", default="host=127.0.0.1 port=5432 dbname=test user=postgres")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "alerts.sqlite"
        results["sqlite"] = run(
            lambda: SqliteAlertStore(path), args.threads, args.rounds, args.alerts
        )
    schema = f"dianyan_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.postgres, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
        try:
            dsn = f"{args.postgres} options='-c search_path={schema}'"
            results["postgres"] = run(
                lambda: PostgresAlertStore(dsn), args.threads, args.rounds, args.alerts
            )
        finally:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")

    for backend, r in results.items():
        print(
            f"{backend:9} {r['threads']} threads, {r['acts']} acts ({r['acts_per_s']}/s, "
            f"{r['stale_share']:.0%} stale): act p50 {r['act_ms']['p50']} ms "
            f"p99 {r['act_ms']['p99']} ms; page_alerts p50 {r['page_ms']['p50']} ms "
            f"p99 {r['page_ms']['p99']} ms"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
