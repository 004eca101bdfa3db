"""``dianyan alerts``: read the alert store from the command line.

``dianyan alerts list [--db PATH] [--county CODE] [--rule R] [--state S] [--limit N]
[--format table|json|csv]`` prints the alerts of a region, oldest first. Times are shown
in China Standard Time.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import sys
import unicodedata
from pathlib import Path
from typing import TextIO

from alerts.model import Alert, AlertState
from alerts.region import check_region
from alerts.store import SqliteAlertStore
from dianyan.errors import DianyanError

DEFAULT_DB = "out/dianyan.sqlite"
CST = datetime.timezone(datetime.timedelta(hours=8), "CST")

_CSV_FIELDS = (
    "id",
    "rule",
    "entity_id",
    "county",
    "severity",
    "state",
    "first_seen_cst",
    "last_seen_cst",
    "occurrences",
    "thresholds_version",
    "evidence_hash",
    "explanation",
)


def add_alerts_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Register ``alerts`` and its subcommands; each sets ``handler(args) -> int``."""
    alerts = subparsers.add_parser("alerts", help="告警 / alerts: read the alert store")
    sub = alerts.add_subparsers(dest="alerts_command", required=True)

    lst = sub.add_parser("list", help="list alerts, oldest first")
    lst.add_argument("--db", default=DEFAULT_DB, help=f"alert store file (default {DEFAULT_DB})")
    lst.add_argument(
        "--county",
        type=_region_arg,
        metavar="CODE",
        help="division code prefix: 2 digits province, 4 city, 6 county (e.g. 3704)",
    )
    lst.add_argument("--rule", help="only this rule, e.g. night_production")
    lst.add_argument("--state", choices=[s.value for s in AlertState], help="only this state")
    lst.add_argument("--limit", type=_limit_arg, metavar="N", help="at most N alerts")
    lst.add_argument("--format", choices=("table", "json", "csv"), default="table")
    lst.set_defaults(handler=_cmd_list)
    return alerts


def _cmd_list(args: argparse.Namespace) -> int:
    if not Path(args.db).is_file():
        raise DianyanError(
            f"no alert store at {args.db}; run `dianyan run` first or pass --db PATH."
        )
    with SqliteAlertStore(args.db) as store:
        alerts = store.list_alerts(
            region=args.county, rule=args.rule, state=args.state, limit=args.limit
        )
    {"table": write_table, "json": write_json, "csv": write_csv}[args.format](alerts, sys.stdout)
    return 0


def write_table(alerts: list[Alert], out: TextIO) -> None:
    """A table for people: the explanation last, since it is the longest column."""
    header = ("id", "rule", "entity", "county", "first seen (CST)", "occ.", "state")
    rows = [
        (
            a.id,
            a.rule,
            a.entity_id,
            a.county,
            format_cst(a.first_seen_ms),
            str(a.occurrences),
            a.state.label,
            a.explanation,
        )
        for a in alerts
    ]
    widths = [max([_width(h), *(_width(r[i]) for r in rows)]) for i, h in enumerate(header)]
    for row in [(*header, "explanation"), *rows]:
        cells = [_pad(cell, w) for cell, w in zip(row, widths, strict=False)]
        out.write("  ".join([*cells, row[-1]]).rstrip() + "\n")
    out.write(f"{len(alerts)} alert{'' if len(alerts) == 1 else 's'}\n")


def write_json(alerts: list[Alert], out: TextIO) -> None:
    """Every field of every alert, evidence included."""
    json.dump([a.to_dict() for a in alerts], out, ensure_ascii=False, indent=2)
    out.write("\n")


def write_csv(alerts: list[Alert], out: TextIO) -> None:
    """One flat row per alert (evidence by hash only), for spreadsheets."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(_CSV_FIELDS)
    for a in alerts:
        writer.writerow(
            (
                a.id,
                a.rule,
                a.entity_id,
                a.county,
                a.severity,
                a.state.value,
                format_cst(a.first_seen_ms),
                format_cst(a.last_seen_ms),
                a.occurrences,
                a.thresholds_version,
                a.evidence_hash,
                a.explanation,
            )
        )


def format_cst(ms: int) -> str:
    """UTC epoch milliseconds as China Standard Time, to the minute."""
    return datetime.datetime.fromtimestamp(ms / 1000, tz=CST).strftime("%Y-%m-%d %H:%M")


def _width(text: str) -> int:
    # Chinese characters take two terminal columns.
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


def _region_arg(text: str) -> str:
    try:
        return check_region(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _limit_arg(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"--limit takes a whole number >= 0, not {text!r}")
    return int(text)


def print_stored_alerts(alerts: list[Alert], db: str, out: TextIO, limit: int = 20) -> None:
    """What a run prints at its end: how many alerts, where, and the first ``limit``."""
    print(f"\n{len(alerts)} alerts in {db} (dianyan alerts list --db {db}):", file=out)
    write_table(alerts[:limit], out)
    if len(alerts) > limit:
        print(f"... and {len(alerts) - limit} more", file=out)
