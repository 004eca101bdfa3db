"""``dianyan run --broker embedded``: the distributed path on one machine, for a demo.

Starts the embedded Tansu broker, one ``dianyan worker`` process and the inspector feed,
replays the readings onto the broker (``dianyan replay``), waits until the worker has
checkpointed every partition at the end of the input, and prints the alerts, as
``dianyan run`` does in one process.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from pathlib import Path

from dianyan.alerts_cli import print_stored_alerts
from dianyan.errors import DianyanError
from dianyan.kafka.broker import EmbeddedBroker, free_port
from dianyan.kafka.progress import group_progress
from dianyan.kafka.replay import replay
from dianyan.kafka.topics import Topics

GROUP = "dianyan-workers"


def run_with_embedded_broker(args: argparse.Namespace, path: str, registry: str | None) -> int:
    """Broker, worker, feed, replay; then the alerts (and the feed with ``--serve``)."""
    from alerts.feed.server import start_in_thread
    from alerts.store import SqliteAlertStore
    from dianyan.metrics import Metrics
    from dianyan.serve_cli import feed_app

    Path(args.db).parent.mkdir(parents=True, exist_ok=True)
    SqliteAlertStore(args.db).close()  # the feed opens it before the worker writes
    topics = Topics()
    with EmbeddedBroker() as broker:
        web_port = free_port()
        worker = _start_worker(args, broker.bootstrap, registry, web_port)
        server = start_in_thread(feed_app(args, Metrics.create()), args.host, args.port)
        print(f"dianyan: broker kafka://{broker.bootstrap} (embedded Tansu, memory only)")
        print(f"dianyan: worker metrics at http://127.0.0.1:{web_port}/metrics")
        print(f"dianyan: feed at {server.url}/ (API {server.url}/openapi.json)")
        try:
            summary = asyncio.run(replay(path, broker.bootstrap, topics, speed=args.speed))
            print(f"dianyan: {summary}")
            _wait_done(broker.bootstrap, topics, worker)
            with SqliteAlertStore(args.db) as store:
                alerts = store.list_alerts()
            print_stored_alerts(alerts, args.db, sys.stdout)
            if args.serve:
                server.keep_serving()
        except KeyboardInterrupt:
            pass
        finally:
            worker.terminate()
            worker.wait(timeout=30)
            server.stop()
    return 0


def _start_worker(
    args: argparse.Namespace, bootstrap: str, registry: str | None, web_port: int
) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "dianyan.cli", "worker", "--broker", f"kafka://{bootstrap}"]
    cmd += ["--group", GROUP, "--thresholds", args.thresholds, "--db", args.db]
    cmd += ["--web-port", str(web_port), "--loglevel", "info"]
    if registry:
        cmd += ["--registry", registry]
    log = Path(args.db).with_name("worker.log")
    print(f"dianyan: worker log {log}")
    with open(log, "ab") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)


def _wait_done(bootstrap: str, topics: Topics, worker: subprocess.Popen[bytes]) -> None:
    while not asyncio.run(group_progress(bootstrap, GROUP, topics.readings)).done:
        if worker.poll() is not None:
            raise DianyanError(f"the worker exited with {worker.returncode}; see its log")
        time.sleep(0.3)
