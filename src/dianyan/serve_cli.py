"""``dianyan serve``: the inspector feed (JSON API, web page, /metrics) over an alert store.

``dianyan serve [--db PATH | --postgres DSN] [--host H] [--port P]``. Users and their
tokens live in the same database (``dianyan users add``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from dianyan.errors import DianyanError
from dianyan.metrics import Metrics
from dianyan.users_cli import add_database_arguments

DEFAULT_LIFECYCLE = "config/lifecycle.yaml"


def add_serve_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Register ``serve``; it sets ``handler(args) -> int``."""
    p = subparsers.add_parser(
        "serve",
        help="告警处置 / serve the inspector feed: JSON API, web page and /metrics",
        description="Serve the feed over an alert store. Add users with `dianyan users add`.",
    )
    add_database_arguments(p)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default loopback)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument(
        "--lifecycle",
        default=DEFAULT_LIFECYCLE,
        help=f"stage deadlines for 超时督办 (default {DEFAULT_LIFECYCLE}; built-in when missing)",
    )
    p.add_argument(
        "--escalate-every",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="how often to flag and escalate overdue alerts (0: never; default 60)",
    )
    p.set_defaults(handler=_cmd_serve)
    return p


def store_openers(args: argparse.Namespace) -> tuple[Callable[[], Any], Callable[[], Any]]:
    """(open alert store, open user store) for ``--db`` / ``--postgres``."""
    from alerts.store import PostgresAlertStore, SqliteAlertStore
    from alerts.users import UserStore

    dsn = getattr(args, "postgres", None)  # `dianyan run` has --db only
    if dsn:
        return partial(PostgresAlertStore, dsn), partial(UserStore.postgres, dsn)
    return partial(SqliteAlertStore, args.db), partial(UserStore.sqlite, args.db)


def feed_app(args: argparse.Namespace, metrics: Metrics) -> Any:
    """The feed application for these arguments (shared with ``dianyan run``, which
    replays history and so runs no wall-clock overdue escalation)."""
    from alerts.deadlines import Deadlines, load_deadlines
    from alerts.feed.app import create_app
    from alerts.feed.context import FeedConfig

    open_store, open_users = store_openers(args)
    lifecycle = getattr(args, "lifecycle", None)
    deadlines = None
    if lifecycle is not None:
        deadlines = load_deadlines(lifecycle) if Path(lifecycle).is_file() else Deadlines()
    return create_app(
        FeedConfig(
            open_store=open_store,
            open_users=open_users,
            metrics=metrics,
            deadlines=deadlines,
            escalate_every_s=getattr(args, "escalate_every", 60.0),
        )
    )


def _cmd_serve(args: argparse.Namespace) -> int:
    from alerts.feed.server import serve_forever

    if not args.postgres and not Path(args.db).is_file():
        raise DianyanError(
            f"no alert store at {args.db}; run `dianyan run` first or pass --db PATH."
        )
    app = feed_app(args, Metrics.create())
    print(f"dianyan: feed at http://{args.host}:{args.port}/ (API: /openapi.json); Ctrl-C to stop")
    serve_forever(app, args.host, args.port)
    return 0
