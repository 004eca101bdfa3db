"""Latency of the feed API under concurrent load: GET /api/alerts and POST actions.

Builds a SQLite store with --alerts alerts (seeded synthetic detections over 10 counties
of one city), starts ``dianyan serve`` on it in a child process on a free loopback port,
then runs --clients concurrent aiohttp clients for --seconds: half list alerts (pages of
50 with a random county/state/rule filter, following next_cursor), half act on alerts of
their own (dispatch, claim, verify explained, clear, then comments), each tracking the
seq it expects. Prints count, p50/p90/p99/max per endpoint and the request rate.

    python benchmarks/feed_latency.py [--alerts 3000 --clients 20 --seconds 10] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp

from alerts.store import SqliteAlertStore
from alerts.users import UserStore
from detectors.detection import Detection

COUNTIES = [f"3704{n:02d}" for n in range(1, 11)]
RULES = ["night_production", "usage_surge", "suspended_operation", "meter_offline"]
SLOT_MS = 15 * 60_000
T0_MS = 1_767_225_600_000  # 2026-01-01 08:00 CST
STEPS = [
    ("dispatch", {"department": "工贸科"}),
    ("claim", {"owner": "bench"}),
    ("verify", {"outcome": "explained", "reason_code": "commissioning"}),
    ("clear", {"result": "调试设备"}),
]


def build_store(path: Path, n: int, seed: int) -> None:
    rng = random.Random(seed)
    detections = []
    for i in range(n):
        start = T0_MS + i * SLOT_MS
        values = [round(rng.uniform(2, 5), 2) for _ in range(88)] + [40.0] * 8
        detections.append(
            Detection(
                rule=RULES[i % len(RULES)],
                entity_id=f"E{i:05d}",
                county=COUNTIES[i % len(COUNTIES)],
                episode_start_ms=start,
                start_ms=start,
                end_ms=start + 4 * SLOT_MS,
                severity="high",
                score=4.0,
                observed=40.0,
                baseline=3.5,
                thresholds={"min_run": 4},
                thresholds_version="bench",
                explanation="基准测试 / benchmark",
                evidence={
                    "unit": "kWh",
                    "slot_minutes": 15,
                    "first_end_ms": start - 87 * SLOT_MS,
                    "values": values,
                    "baseline": [3.5] * 96,
                    "threshold": 20.0,
                },
            )
        )
    with SqliteAlertStore(path) as store:
        store.apply(detections, T0_MS)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(db: Path, port: int) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "dianyan.cli", "serve", "--db", str(db), "--port", str(port)]
    cmd += ["--escalate-every", "0"]  # the seeded alerts are old: keep their seq ours
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("dianyan serve did not come up within 30 s")


async def lister(session: aiohttp.ClientSession, base: str, until: float, out: dict) -> None:
    rng = random.Random(id(out) ^ len(out["list"]))
    while time.perf_counter() < until:
        query: dict[str, str] = {"limit": "50"}
        pick = rng.random()
        if pick < 0.3:
            query["region"] = rng.choice(COUNTIES)
        elif pick < 0.5:
            query["rule"] = rng.choice(RULES)
        elif pick < 0.6:
            query["state"] = "raised"
        for _ in range(rng.randint(1, 3)):  # the first page, sometimes the next ones
            t = time.perf_counter()
            async with session.get(f"{base}/api/alerts", params=query) as r:
                body = await r.json()
            out["list"].append(time.perf_counter() - t)
            if r.status != 200:
                out["errors"] += 1
                break
            if not body["next_cursor"]:
                break
            query["cursor"] = body["next_cursor"]


async def actor(
    session: aiohttp.ClientSession, base: str, until: float, ids: list[str], out: dict
) -> None:
    progress = {alert_id: 0 for alert_id in ids}  # steps done; seq = steps + 1
    i = 0
    while time.perf_counter() < until:
        alert_id = ids[i % len(ids)]
        i += 1
        done = progress[alert_id]
        action, payload = STEPS[done] if done < len(STEPS) else ("comment", {"text": "复查"})
        body = {"action": action, "expected_seq": done + 1, "payload": payload}
        t = time.perf_counter()
        async with session.post(f"{base}/api/alerts/{alert_id}/actions", json=body) as r:
            await r.read()
        out["act"].append(time.perf_counter() - t)
        if r.status == 200:
            progress[alert_id] += 1
        else:
            out["errors"] += 1


async def load(base: str, token: str, ids: list[str], clients: int, seconds: float) -> dict:
    out: dict[str, Any] = {"list": [], "act": [], "errors": 0}
    headers = {"Authorization": f"Bearer {token}"}
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(headers=headers, connector=connector) as session:
        until = time.perf_counter() + seconds
        n_act = clients // 2
        shares = [ids[k::n_act] for k in range(n_act)]
        tasks = [lister(session, base, until, out) for _ in range(clients - n_act)]
        tasks += [actor(session, base, until, share, out) for share in shares]
        await asyncio.gather(*tasks)
    return out


def summary(samples: list[float], seconds: float) -> dict[str, float]:
    ms = sorted(s * 1000 for s in samples)
    if not ms:
        return {"count": 0}
    q = statistics.quantiles(ms, n=100, method="inclusive")
    return {
        "count": len(ms),
        "per_s": round(len(ms) / seconds, 1),
        "p50_ms": round(q[49], 2),
        "p90_ms": round(q[89], 2),
        "p99_ms": round(q[98], 2),
        "max_ms": round(ms[-1], 2),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--alerts", type=int, default=3000)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--json", type=Path, help="write the figures here as JSON")
    args = ap.parse_args(argv)
    if args.clients < 2:
        ap.error("--clients must be at least 2 (half list, half act)")

    with tempfile.TemporaryDirectory(prefix="dianyan-feed-bench-") as tmp:
        db = Path(tmp) / "alerts.sqlite"
        t0 = time.perf_counter()
        build_store(db, args.alerts, args.seed)
        with UserStore.sqlite(db) as users:
            token = users.add("bench", "inspector", "3704")
        with SqliteAlertStore(db) as store:
            ids = [a.id for a in store.list_alerts()]
        print(f"store: {len(ids)} alerts in {time.perf_counter() - t0:.1f} s")
        port = free_port()
        server = start_server(db, port)
        try:
            base = f"http://127.0.0.1:{port}"
            out = asyncio.run(load(base, token, ids, args.clients, args.seconds))
        finally:
            server.terminate()
            server.wait(timeout=30)

    result = {
        "alerts": len(ids),
        "clients": args.clients,
        "seconds": args.seconds,
        "cpus": os.cpu_count(),
        "backend": "sqlite",
        "list": summary(out["list"], args.seconds),
        "act": summary(out["act"], args.seconds),
        "errors": out["errors"],
    }
    print(
        f"load: {args.clients} concurrent clients ({args.clients - args.clients // 2} listing, "
        f"{args.clients // 2} acting) for {args.seconds:g} s on {os.cpu_count()} CPUs"
    )
    for name, label in (("list", "GET /api/alerts"), ("act", "POST /api/alerts/{id}/actions")):
        s = result[name]
        if s["count"]:
            figures = "  ".join(f"{q} {s[q + '_ms']:>7.2f} ms" for q in ("p50", "p90", "p99"))
            print(f"{label:<30} n={s['count']:>6} {s['per_s']:>7.1f}/s  {figures}")
    print(f"non-2xx answers: {out['errors']}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 1 if out["errors"] else 0  # every request of this load should succeed


if __name__ == "__main__":
    sys.exit(main())
