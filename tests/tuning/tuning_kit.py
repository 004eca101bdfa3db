"""Helpers for the tuning tests: the province's size, the loosened county, the commands."""

from __future__ import annotations

import json
from pathlib import Path

from dianyan.cli import main

SIZE = {"counties": 2, "enterprises": 200, "days": 28, "seed": 7}
LOOSE_COUNTY, OTHER_COUNTY = "370883", "370481"
LIVE = Path("config/thresholds.yaml")
LOOSE = {"z": 1.5, "min_ratio": 1.0}  # usage_surge in LOOSE_COUNTY: fires on ordinary noise


def data_args(province: Path) -> list[str]:
    return ["--data", str(province / "readings.parquet"), "--registry", str(province / "registry")]


def backtest(args: list[str], tmp_path: Path) -> dict:
    """Run ``dianyan backtest`` and return its JSON report."""
    out = tmp_path / f"report-{len(list(tmp_path.glob('report-*.json')))}.json"
    code = main(["backtest", *args, "--reports", str(tmp_path / "reports"), "--json", str(out)])
    assert code == 0
    return json.loads(out.read_text(encoding="utf-8"))


def row(report: dict, county: str, rule: str) -> dict:
    return next(r for r in report["rows"] if (r["county"], r["rule"]) == (county, rule))
