"""The ``dianyan`` command line: one subcommand per job, each a thin adapter."""

from __future__ import annotations

import argparse
import datetime
import sys
from collections.abc import Callable, Sequence

from dianyan.alerts_cli import add_alerts_parser
from dianyan.allocator import tune_allocator
from dianyan.errors import DianyanError
from dianyan.run_cli import add_run_parser
from dianyan.score_cli import add_score_parser
from dianyan.serve_cli import add_serve_parser
from dianyan.tuning_cli import add_backtest_parser, add_tune_parser
from dianyan.users_cli import add_users_parser
from dianyan.worker_cli import add_replay_parser, add_worker_parser

Handler = Callable[[argparse.Namespace], int]


def _cmd_simulate(args: argparse.Namespace) -> int:
    from ingest.simulator import simulate

    try:
        summary = simulate(
            out_dir=args.out,
            counties=args.counties,
            enterprises=args.enterprises,
            days=args.days,
            seed=args.seed,
            start=args.start,
            gas_stations_per_county=args.gas_stations_per_county,
            water_stations_per_county=args.water_stations_per_county,
        )
    except ValueError as exc:
        print(f"dianyan simulate: error: {exc}", file=sys.stderr)
        return 2
    print(summary)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dianyan", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    sim = sub.add_parser("simulate", help="generate a province of readings with labelled events")
    sim.add_argument("--counties", type=int, default=3)
    sim.add_argument("--enterprises", type=int, default=300)
    sim.add_argument("--days", type=int, default=35)
    sim.add_argument("--seed", type=int, default=7)
    sim.add_argument("--out", default="out/sim")
    sim.add_argument(
        "--start",
        type=datetime.date.fromisoformat,
        default=datetime.date(2026, 1, 19),
        help="first local day, YYYY-MM-DD (default 2026-01-19: 35 days reach the Spring Festival)",
    )
    sim.add_argument("--gas-stations-per-county", type=int, default=2)
    sim.add_argument("--water-stations-per-county", type=int, default=2)
    sim.set_defaults(handler=_cmd_simulate)

    add_run_parser(sub)
    add_score_parser(sub)
    add_alerts_parser(sub)
    add_users_parser(sub)
    add_serve_parser(sub)
    add_worker_parser(sub)
    add_replay_parser(sub)
    add_backtest_parser(sub)
    add_tune_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    tune_allocator()
    handler: Handler = args.handler
    try:
        return handler(args)
    except DianyanError as exc:
        print(f"dianyan: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
