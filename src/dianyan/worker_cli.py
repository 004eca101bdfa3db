"""``dianyan worker`` and ``dianyan replay``: the distributed runtime on Kafka.

See docs/distributed.md for topics, message formats, guarantees and monitoring.
"""

from __future__ import annotations

import argparse
import asyncio

from dianyan.errors import DianyanError
from dianyan.run_cli import DEFAULT_THRESHOLDS
from dianyan.users_cli import add_database_arguments


def bootstrap_of(url: str) -> str:
    """``kafka://host:port[,host:port]`` (or bare ``host:port``) to bootstrap servers."""
    servers = url.removeprefix("kafka://").strip("/")
    if not servers or "://" in servers:
        raise DianyanError(
            f"broker {url!r} is not kafka://HOST:PORT; pass e.g. kafka://127.0.0.1:9092"
        )
    return servers


def _add_topic_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--prefix", default="dianyan-", help="topic name prefix (default dianyan-)")
    p.add_argument(
        "--partitions", type=int, default=4, help="readings partitions when creating topics"
    )


def add_worker_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "worker",
        help="run a Faust worker: readings from Kafka through the detectors into the store",
        description="Consume the readings topic with the other workers of --group, detect, "
        "store alerts and publish them; state is checkpointed per partition.",
    )
    p.add_argument("--broker", default="kafka://127.0.0.1:9092", help="kafka://HOST:PORT")
    _add_topic_arguments(p)
    p.add_argument("--group", default="dianyan-workers", help="consumer group of the workers")
    p.add_argument("--thresholds", default=DEFAULT_THRESHOLDS, help="thresholds YAML file")
    p.add_argument("--registry", help="entity registry directory (entities/status/exemptions)")
    add_database_arguments(p)
    p.add_argument("--web-host", default="127.0.0.1", help="address of /metrics")
    p.add_argument("--web-port", type=int, default=6066, help="port of /metrics (default 6066)")
    p.add_argument(
        "--checkpoint-every", type=float, default=5.0, metavar="S", help="seconds (default 5)"
    )
    p.add_argument(
        "--max-wait", type=float, default=0.2, metavar="S", help="batch gathering time (0.2)"
    )
    p.add_argument(
        "--session-timeout", type=float, default=10.0, metavar="S", help="group session (10 s)"
    )
    p.add_argument("--loglevel", default="info", choices=["crit", "error", "warn", "info", "debug"])
    p.set_defaults(handler=_cmd_worker)
    return p


def add_replay_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "replay",
        help="send readings files to the readings topic (Arrow batches grouped by partition)",
        description="Replay a file or directory of readings onto Kafka for the workers.",
    )
    p.add_argument("path", help="readings file or directory")
    p.add_argument("--to", required=True, help="kafka://HOST:PORT")
    _add_topic_arguments(p)
    pace = p.add_mutually_exclusive_group()
    pace.add_argument("--speed", type=float, help="N times faster than event time")
    pace.add_argument("--max", action="store_true", help="as fast as possible (default)")
    p.add_argument(
        "--format", choices=["arrow", "json"], default="arrow", help="message format (arrow)"
    )
    p.add_argument("--batch-rows", type=int, help="rows read at a time (262144; 8192 with --speed)")
    p.add_argument(
        "--no-end", action="store_true", help="send no end-of-input marker (more files follow)"
    )
    p.set_defaults(handler=_cmd_replay)
    return p


def settings_of(args: argparse.Namespace) -> object:
    from dianyan.kafka.topics import Topics
    from dianyan.kafka.worker import WorkerSettings

    return WorkerSettings(
        bootstrap=bootstrap_of(args.broker),
        topics=Topics(args.prefix, args.partitions),
        group=args.group,
        thresholds=args.thresholds,
        registry_dir=args.registry,
        checkpoint_every_s=args.checkpoint_every,
        max_wait_s=args.max_wait,
        session_timeout_ms=int(args.session_timeout * 1000),
        heartbeat_interval_ms=max(100, int(args.session_timeout * 100)),
    )


def _cmd_worker(args: argparse.Namespace) -> int:
    from detectors.thresholds import load_thresholds
    from dianyan.kafka.app import run_worker
    from dianyan.serve_cli import store_openers
    from ingest.registry import Registry

    load_thresholds(args.thresholds)  # refuse bad files here, with their reasons, not in Faust
    if args.registry:
        Registry.load(args.registry)
    open_store, _ = store_openers(args)
    return run_worker(settings_of(args), open_store, args.web_host, args.web_port, args.loglevel)  # type: ignore[arg-type]


def _cmd_replay(args: argparse.Namespace) -> int:
    from dianyan.kafka.replay import replay
    from dianyan.kafka.topics import Topics

    summary = asyncio.run(
        replay(
            args.path,
            bootstrap_of(args.to),
            Topics(args.prefix, args.partitions),
            speed=args.speed,
            fmt=args.format,
            batch_rows=args.batch_rows,
            end_marker=not args.no_end,
        )
    )
    print(summary)
    return 0
