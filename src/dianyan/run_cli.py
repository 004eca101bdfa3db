"""``dianyan run``: replay readings through the embedded pipeline while serving the feed.

The feed (JSON API, web page, /metrics) runs on a background thread during the replay;
with ``--serve`` it goes on serving after it until Ctrl-C.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dianyan.alerts_cli import DEFAULT_DB, print_stored_alerts

DEFAULT_THRESHOLDS = "config/thresholds.yaml"
DEMO_DIR = Path("out/demo")
DEMO_SIZE = {"counties": 3, "enterprises": 300, "days": 35, "seed": 7}


def add_run_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "run",
        help="replay readings through the detectors into the alert store",
        description="Replay a file or directory of readings (CSV, Parquet, Arrow IPC, JSON "
        "lines) in event time. Without PATH: simulate a small province and replay it.",
    )
    p.add_argument("path", nargs="?", help="readings file or directory (default: a demo province)")
    p.add_argument(
        "--mqtt",
        metavar="URL",
        help="subscribe to device readings (JSON) at mqtt://HOST:PORT/TOPIC instead of files",
    )
    p.add_argument("--registry", help="entity registry directory (entities/status/exemptions)")
    p.add_argument("--thresholds", default=DEFAULT_THRESHOLDS, help="thresholds YAML file")
    p.add_argument("--db", default=DEFAULT_DB, help="SQLite alert store")
    p.add_argument("--dead-letter", default="out/deadletter.jsonl", help="rejected records file")
    pace = p.add_mutually_exclusive_group()
    pace.add_argument("--speed", type=float, help="replay N times faster than real time")
    pace.add_argument("--max", action="store_true", help="replay as fast as possible (default)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000, help="HTTP port of the feed (0: any free)")
    p.add_argument(
        "--serve", action="store_true", help="keep serving the feed and /metrics after the replay"
    )
    p.add_argument(
        "--broker",
        choices=["embedded"],
        help="run the distributed path instead: embedded Kafka broker, a worker, the replay",
    )
    p.set_defaults(handler=run_command)
    return p


def run_command(args: argparse.Namespace) -> int:
    from alerts.feed.server import start_in_thread
    from alerts.store import SqliteAlertStore
    from detectors.thresholds import load_thresholds
    from dianyan.metrics import Metrics
    from dianyan.pipeline import Pipeline, open_watcher
    from dianyan.serve_cli import feed_app
    from ingest.deadletter import JsonLinesDeadLetter
    from ingest.registry import Registry

    path, registry_dir = args.path, args.registry
    if path is None and not args.mqtt:
        path, registry_dir = _demo_province()
    if args.broker == "embedded":
        from dianyan.kafka.demo import run_with_embedded_broker

        return run_with_embedded_broker(args, path, registry_dir)
    thresholds = load_thresholds(args.thresholds)
    registry = Registry.load(registry_dir) if registry_dir else None
    Path(args.db).parent.mkdir(parents=True, exist_ok=True)
    Path(args.dead_letter).parent.mkdir(parents=True, exist_ok=True)
    metrics = Metrics.create()

    server = start_in_thread(feed_app(args, metrics), args.host, args.port)
    print(
        f"dianyan: feed at {server.url}/ (API {server.url}/openapi.json, "
        f"metrics {server.url}/metrics); add users with `dianyan users add --db {args.db}`"
    )
    print(f"dianyan: replaying {args.mqtt or path} (thresholds {thresholds.version})")
    try:
        with SqliteAlertStore(args.db) as store:
            pipeline = Pipeline(
                thresholds,
                store,
                JsonLinesDeadLetter(args.dead_letter),
                registry=registry,
                metrics=metrics,
                watcher=open_watcher(args.thresholds),
            )
            if args.mqtt:
                from dianyan.listen import listen_mqtt

                summary = listen_mqtt(pipeline, args.mqtt)
            else:
                summary = pipeline.run(path, speed=args.speed)
            print(summary)
            alerts = store.list_alerts()
            print_stored_alerts(alerts, args.db, sys.stdout)
        if args.serve:
            server.keep_serving()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


def _demo_province() -> tuple[str, str]:
    """Simulate the seeded demo province once; later runs reuse it."""
    from ingest.simulator import simulate

    readings = DEMO_DIR / "readings.parquet"
    if not readings.exists():
        print(f"dianyan: simulating a demo province into {DEMO_DIR} ...")
        print(simulate(out_dir=DEMO_DIR, **DEMO_SIZE))
    return str(readings), str(DEMO_DIR / "registry")
