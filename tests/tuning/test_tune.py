"""dianyan tune: sweep a rule's threshold for a county on verified history, propose a value."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tuning_kit import LIVE, LOOSE, LOOSE_COUNTY, OTHER_COUNTY, backtest, data_args, row

from detectors.threshold_schema import RULES
from detectors.thresholds import load_thresholds
from dianyan.cli import main
from dianyan.errors import DianyanError
from ingest.registry import Registry
from tuning.override import write_validated
from tuning.reports import list_reports
from tuning.sweep import MAIN_PARAM, STRICTER_WHEN, default_grid

TARGET, MIN_RECALL = 0.9, 0.8


def tune(args: list[str], tmp_path: Path) -> tuple[int, dict]:
    """Run ``dianyan tune``; its exit code and the JSON of the report it indexed."""
    reports = tmp_path / "reports"
    code = main(["tune", *args, "--out", str(tmp_path / "out"), "--reports", str(reports)])
    entry = list_reports(reports)[0]
    return code, json.loads((reports / f"{entry.name}.json").read_text(encoding="utf-8"))


def _tune_args(province: Path, thresholds: Path, store: Path, *extra: str) -> list[str]:
    return [
        *data_args(province),
        "--thresholds",
        str(thresholds),
        "--store",
        str(store),
        "--rule",
        "usage_surge",
        "--region",
        LOOSE_COUNTY,
        *extra,
    ]


@pytest.fixture(scope="module")
def proposal(province: Path, loose_file: Path, inspected: Path, tmp_path_factory) -> tuple:
    """Tune the loosened county's usage_surge z (the default grid) with the live file loose."""
    tmp = tmp_path_factory.mktemp("tune")
    before = loose_file.read_bytes()
    code, report = tune(
        _tune_args(
            province,
            loose_file,
            inspected,
            "--target-precision",
            str(TARGET),
            "--min-recall",
            str(MIN_RECALL),
        ),
        tmp,
    )
    assert loose_file.read_bytes() == before  # the live file is never written
    return code, report, tmp


def test_tune_raises_the_loose_countys_precision_to_the_target_within_the_recall_bound(
    proposal: tuple,
) -> None:
    code, report, _ = proposal
    assert code == 0 and report["param"] == "z" and report["current"] == LOOSE["z"]
    current = next(p for p in report["points"] if p["value"] == report["current"])
    chosen = report["proposal"]
    assert current["precision"] < TARGET <= chosen["precision"]
    assert chosen["recall"] >= MIN_RECALL
    assert report["recall_lost"] == pytest.approx(current["recall"] - chosen["recall"])
    assert 0 <= report["recall_lost"] <= 1 - MIN_RECALL
    # the least strict value meeting the targets: every looser value misses them
    assert chosen["value"] > current["value"]
    assert not any(p["meets"] for p in report["points"] if p["value"] < chosen["value"])
    assert len(report["points"]) >= 10  # the default grid


def test_the_written_override_block_round_trips_through_the_validator(
    proposal: tuple, province: Path, loose_file: Path
) -> None:
    _, report, tmp = proposal
    value = report["proposal"]["value"]
    block, candidate = (Path(report["written"][k]) for k in ("override", "candidate"))
    assert block.parent == candidate.parent == tmp / "out"
    registry = Registry.load(province / "registry")
    i = list(registry.county).index(LOOSE_COUNTY)
    entity, industry = str(registry.entity_ids[i]), str(registry.industry[i])

    only = load_thresholds(block)  # the block alone is a valid thresholds file
    assert only.overrides["regions"][LOOSE_COUNTY] == {"usage_surge": {"z": value}}
    assert only.resolve(entity, LOOSE_COUNTY, industry).rule("usage_surge").z == value

    full, loose = load_thresholds(candidate), load_thresholds(loose_file)
    surge = full.resolve(entity, LOOSE_COUNTY, industry).rule("usage_surge")
    assert (surge.z, surge.min_ratio) == (value, LOOSE["min_ratio"])
    elsewhere = ("E1", OTHER_COUNTY, "metallurgy")
    assert full.resolve(*elsewhere).rules == loose.resolve(*elsewhere).rules


def test_backtesting_the_proposed_candidate_confirms_the_precision(
    proposal: tuple, province: Path, loose_file: Path, inspected: Path, tmp_path: Path
) -> None:
    _, report, _ = proposal
    args = [*data_args(province), "--thresholds", report["written"]["candidate"]]
    checked = backtest([*args, "--against", str(loose_file), "--store", str(inspected)], tmp_path)
    surge = row(checked, LOOSE_COUNTY, "usage_surge")
    assert surge["precision"]["candidate"] >= TARGET > surge["precision"]["reference"]
    assert surge["recall"]["candidate"] >= MIN_RECALL
    assert surge["candidate"] == report["proposal"]["alerts"]


def test_a_recall_bound_no_value_meets_proposes_nothing_and_writes_nothing(
    province: Path, loose_file: Path, inspected: Path, tmp_path: Path
) -> None:
    """min_ratio at 3 or more drops real surges (2.5x to 4x their baseline)."""
    grid = ["--param", "min_ratio", "--grid", "3,4,5", "--target-precision", str(TARGET)]
    code, report = tune(
        _tune_args(province, loose_file, inspected, *grid, "--min-recall", "0.99"), tmp_path
    )
    assert code == 1 and report["proposal"] is None and report["written"] == {}
    assert not (tmp_path / "out").exists()
    strict = [p for p in report["points"] if p["value"] >= 3]
    assert all(p["recall"] < 0.99 for p in strict)


def test_recall_lost_is_reported_when_the_target_costs_recall(
    province: Path, loose_file: Path, inspected: Path, tmp_path: Path, capsys
) -> None:
    grid = ["--param", "min_ratio", "--grid", "3,4,5", "--target-precision", str(TARGET)]
    code, report = tune(
        _tune_args(province, loose_file, inspected, *grid, "--min-recall", "0.5"), tmp_path
    )
    chosen = report["proposal"]
    assert code == 0 and chosen["value"] == 3.0 and 0.5 <= chosen["recall"] < 1.0
    assert report["recall_lost"] == pytest.approx(1.0 - chosen["recall"])
    assert f"recall lost {report['recall_lost']:.2f}" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rule", "nope"], "use one of suspended_operation"),
        (["--rule", "night_production", "--param", "window"], "cannot be swept"),
        (["--rule", "usage_surge", "--target-precision", "1.5"], "at most 1"),
        (["--rule", "usage_surge", "--grid", "4,x"], "numbers separated by commas"),
        (["--rule", "usage_surge", "--grid", "-3"], "expected a number greater than 0"),
        (["--rule", "usage_surge", "--region", "3708831"], "has 7 digits"),
    ],
)
def test_bad_arguments_are_refused_with_what_to_do(
    args: list[str], message: str, tmp_path: Path, capsys
) -> None:
    base = {"--rule": "usage_surge", "--region": LOOSE_COUNTY, "--target-precision": "0.9"}
    base |= dict(zip(args[::2], args[1::2], strict=True))
    flat = [x for kv in base.items() for x in kv]
    empty = tmp_path / "empty.csv"
    empty.write_text("entity_id,metric,ts,value\n", encoding="utf-8")
    store = tmp_path / "none.sqlite"
    code = main(["tune", *flat, "--data", str(empty), "--store", str(store)])
    assert code == 2 and message in capsys.readouterr().err


def test_tune_never_writes_over_the_live_file(tmp_path: Path) -> None:
    live = tmp_path / "thresholds.yaml"
    live.write_text(LIVE.read_text(encoding="utf-8"), encoding="utf-8")
    before = live.read_bytes()
    with pytest.raises(DianyanError, match="never edits it"):
        write_validated(live, "rules: {}\n", live)
    assert live.read_bytes() == before


def test_default_grids_stay_in_the_schema_and_include_the_current_value() -> None:
    sweepable = {(r, p): d for (r, p), d in STRICTER_WHEN.items() if r in RULES}
    assert (
        {r for r, _ in sweepable}
        >= {r for r in MAIN_PARAM if r in RULES}
        >= {
            "suspended_operation",
            "night_production",
            "usage_surge",
            "meter_offline",
        }
    )
    for (rule, param), direction in sweepable.items():
        spec = RULES[rule].param(param)
        current = spec.convert(spec.default)
        grid = default_grid(spec, float(current))
        assert current in grid and grid == sorted(set(grid)) and len(grid) >= 2, (rule, param)
        for value in grid:
            spec.convert(value)  # raises if the schema refuses it
        assert direction in (1, -1)
