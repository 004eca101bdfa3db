"""``dianyan score``: the generic anomaly score of a CSV series, stdin to stdout.

The command line only; the reading, scoring and writing is :mod:`dianyan.score_csv`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DEFAULT_THRESHOLDS = "config/thresholds.yaml"


def add_score_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "score",
        help="score a CSV series from stdin: timestamp,value,score,is_anomaly on stdout",
        description="Read CSV on stdin (a timestamp column and one or more value columns) and "
        "write timestamp,value,score,is_anomaly for every row, in order. score in [0, 1] is "
        "how unusual the value is against the series' own history; is_anomaly applies the "
        "generic_score threshold of the thresholds file.",
    )
    p.add_argument("--sep", default=",", help="field separator, one character (default ,)")
    p.add_argument(
        "--thresholds",
        help=f"thresholds YAML file (default {DEFAULT_THRESHOLDS} if present, "
        "else the built-in defaults)",
    )
    p.set_defaults(handler=score_command)
    return p


def score_command(args: argparse.Namespace) -> int:
    from detectors.thresholds import load_thresholds, parse_thresholds
    from dianyan.score_csv import score_stream

    if len(args.sep) != 1 or args.sep in '"\r\n':
        print(
            f"dianyan score: error: --sep must be one character, not {args.sep!r}", file=sys.stderr
        )
        return 2
    if args.thresholds:
        thresholds = load_thresholds(args.thresholds)
    elif Path(DEFAULT_THRESHOLDS).is_file():
        thresholds = load_thresholds(DEFAULT_THRESHOLDS)
    else:
        thresholds = parse_thresholds("{}\n", "<built-in defaults>")
    score_stream(sys.stdin.buffer, sys.stdout.buffer, thresholds, args.sep)
    return 0
