"""``dianyan backtest`` and ``dianyan tune``: try thresholds on history before publishing them.

``dianyan backtest --data PATH --thresholds CANDIDATE.yaml [--against LIVE.yaml]
[--registry DIR] [--region CODE] [--from DATE --to DATE] [--store DB]`` replays the history
once under both files and prints per county and rule what the candidate gains and loses,
and what the inspectors' outcomes in ``--store`` say about it; the JSON and an offline HTML
report go to the reports directory, which the feed's stats view links to.

``dianyan tune --rule RULE --region CODE --target-precision P [--min-recall R] --data PATH
--store DB`` sweeps the rule's main parameter, prints the trade-off curve and writes a
candidate override block (and the base file with it) to ``--out``; never the live file.
See docs/tuning.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from dianyan.errors import DianyanError
from dianyan.run_cli import DEFAULT_THRESHOLDS

DEFAULT_CAPACITY = "config/capacity.yaml"
DEFAULT_TUNE_OUT = "out/tune"


def add_backtest_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``backtest``; it sets ``handler(args) -> int``."""
    p = sub.add_parser(
        "backtest",
        help="回测 / replay history under a candidate thresholds file and the live one",
        description="Replay history once under two thresholds files and compare their alerts "
        "per county and rule, against the verification outcomes in the alert store.",
    )
    p.add_argument("--data", required=True, help="readings file or directory (the history)")
    p.add_argument("--thresholds", required=True, help="the candidate thresholds file")
    p.add_argument(
        "--against",
        default=DEFAULT_THRESHOLDS,
        help=f"the thresholds to compare with (default {DEFAULT_THRESHOLDS})",
    )
    _common(p)
    p.add_argument(
        "--capacity",
        default=DEFAULT_CAPACITY,
        help=f"inspection capacity per county (default {DEFAULT_CAPACITY}; none when missing)",
    )
    p.add_argument("--json", help="also write the JSON report to this file")
    p.set_defaults(handler=backtest_command)
    return p


def add_tune_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``tune``; it sets ``handler(args) -> int``."""
    p = sub.add_parser(
        "tune",
        help="调参 / sweep a rule's threshold for a region and propose a value",
        description="Sweep one parameter of one rule for a region over history with known "
        "verification outcomes; propose the least strict value meeting the targets and write "
        "it as a candidate override block. The live thresholds file is never edited.",
    )
    p.add_argument("--rule", required=True, help="e.g. usage_surge")
    p.add_argument("--region", required=True, help="2, 4 or 6 digit division code")
    p.add_argument("--target-precision", type=float, required=True, metavar="P")
    p.add_argument("--min-recall", type=float, metavar="R", help="recall may not fall below R")
    p.add_argument("--param", help="the parameter to sweep (default: the rule's main one)")
    p.add_argument("--grid", help="comma-separated values to try (default: 12 around current)")
    p.add_argument("--data", required=True, help="readings file or directory (the history)")
    p.add_argument(
        "--thresholds",
        default=DEFAULT_THRESHOLDS,
        help=f"the thresholds to start from (default {DEFAULT_THRESHOLDS}; never written)",
    )
    p.add_argument(
        "--out",
        default=DEFAULT_TUNE_OUT,
        help="directory for the override block and the candidate file "
        f"(default {DEFAULT_TUNE_OUT})",
    )
    _common(p, region=False)
    p.set_defaults(handler=tune_command)
    return p


def _common(p: argparse.ArgumentParser, region: bool = True) -> None:
    from tuning.reports import DEFAULT_REPORTS_DIR

    p.add_argument("--registry", help="entity registry directory (counties, status, exemptions)")
    if region:
        p.add_argument("--region", help="only this region: 2, 4 or 6 digit division code")
    p.add_argument("--from", dest="from_day", metavar="DATE", help="first local day, YYYY-MM-DD")
    p.add_argument("--to", dest="to_day", metavar="DATE", help="last local day, YYYY-MM-DD")
    p.add_argument("--store", metavar="DB", help="SQLite alert store with verification outcomes")
    p.add_argument(
        "--reports",
        default=str(DEFAULT_REPORTS_DIR),
        help=f"where reports go (default {DEFAULT_REPORTS_DIR}; the feed links the last ones)",
    )
    p.add_argument("--progress", action="store_true", help="progress bar even when not a TTY")


def backtest_command(args: argparse.Namespace) -> int:
    from detectors.thresholds import load_thresholds
    from tuning.backtest import run_backtest
    from tuning.capacity import load_capacity
    from tuning.report_html import backtest_html
    from tuning.report_text import write_backtest
    from tuning.reports import save_report
    from tuning.scope import Scope

    scope = Scope.parse(args.region, args.from_day, args.to_day)
    candidate, reference = load_thresholds(args.thresholds), load_thresholds(args.against)
    capacity = None
    if Path(args.capacity).is_file() or args.capacity != DEFAULT_CAPACITY:
        capacity = load_capacity(args.capacity)
    registry = _registry(args.registry)
    with _store(args.store) as store:
        report = run_backtest(
            args.data,
            candidate,
            reference,
            registry=registry,
            scope=scope,
            store=store,
            capacity=capacity,
            progress=_progress("backtest", args),
        )
    report["store"] = args.store
    write_backtest(report, sys.stdout)
    html = save_report(
        args.reports,
        "backtest",
        report,
        backtest_html(report),
        region=scope.region,
        counties=[c["county"] for c in report["counties"]],
        rules=sorted({r["rule"] for r in report["rows"]}),
        title=f"{Path(args.thresholds).name} ({candidate.version}) vs "
        f"{Path(args.against).name} ({reference.version})",
    )
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, ensure_ascii=False, indent=2), "utf-8")
    print(f"\nreport: {html} (JSON {html.with_suffix('.json')})")
    return 0


def tune_command(args: argparse.Namespace) -> int:
    from detectors.thresholds import load_thresholds
    from tuning.override import write_proposal
    from tuning.report_html import sweep_html
    from tuning.report_text import write_sweep
    from tuning.reports import save_report
    from tuning.scope import Scope
    from tuning.sweep import Target, parse_grid, run_sweep, tunable

    scope = Scope.parse(args.region, args.from_day, args.to_day)
    target = Target(args.target_precision, args.min_recall)
    param, spec = tunable(args.rule, args.param)
    grid = None if args.grid is None else parse_grid(_numbers(args.grid), spec)
    if args.store is None:
        raise DianyanError(
            "tune needs --store DB: the alert store whose verification outcomes judge each value."
        )
    base = load_thresholds(args.thresholds)
    base_text = Path(args.thresholds).read_text(encoding="utf-8-sig")
    with _store(args.store) as store:
        sweep = run_sweep(
            args.data,
            base,
            base_text,
            args.rule,
            param,
            args.region,
            target,
            store,
            registry=_registry(args.registry),
            scope=scope,
            grid=grid,
            progress=_progress("tune", args),
        )
    result = sweep.to_dict()
    write_sweep(result, sys.stdout)
    written: dict[str, str] = {}
    if sweep.proposal is not None:
        written = write_proposal(args.out, args.thresholds, base_text, sweep)
        print(
            f"override block: {written['override']}\ncandidate file: {written['candidate']} "
            f"(try it: dianyan backtest --data {args.data} --thresholds {written['candidate']} "
            f"--against {args.thresholds} ...)"
        )
    result["written"] = written
    html = save_report(
        args.reports,
        "tune",
        result,
        sweep_html(result),
        region=args.region,
        counties=_counties(sweep),
        rules=[args.rule],
        title=f"{args.rule}.{param} for {args.region}",
    )
    print(f"report: {html}")
    return 0 if sweep.proposal is not None else 1


def _counties(sweep: Any) -> list[str]:
    counties = {c for run in sweep.history.runs.values() for c in run.episodes["county"]}
    return sorted(counties | set(sweep.outcomes.alerts["county"]))


def _numbers(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise DianyanError(
            f"--grid {text!r}: give numbers separated by commas, e.g. 4,6,8."
        ) from None


def _registry(directory: str | None) -> Any:
    from ingest.registry import Registry

    return Registry.load(directory) if directory else None


def _store(path: str | None) -> Any:
    from alerts.store import SqliteAlertStore

    if path is None:
        return nullcontext(None)
    if not Path(path).is_file():
        raise DianyanError(f"no alert store at {path}; pass the --store that `dianyan run` used.")
    return SqliteAlertStore(path)


def _progress(label: str, args: argparse.Namespace) -> Any:
    from tuning.progress import Progress, count_readings

    total = count_readings(args.data) if Path(args.data).exists() else None
    return Progress(label, total, force=args.progress)
