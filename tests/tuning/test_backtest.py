"""dianyan backtest: one replay, two thresholds sets, judged by the inspectors' outcomes."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from tuning_kit import LIVE, LOOSE_COUNTY, OTHER_COUNTY, backtest, data_args, row

from alerts.store import SqliteAlertStore
from dianyan.cli import main
from ingest.registry import Registry
from tuning.reports import list_reports


@pytest.fixture(scope="module")
def loose_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("loose_vs_live")


@pytest.fixture(scope="module")
def loose_vs_live(province: Path, loose_file: Path, loose_dir: Path) -> dict:
    """The loosened file backtested against the shipped one, no outcomes."""
    tmp = loose_dir
    capacity = tmp / "capacity.yaml"
    capacity.write_text(
        f'inspection_capacity:\n  default: 40\n  regions:\n    "{LOOSE_COUNTY}": 8\n',
        encoding="utf-8",
    )
    args = [*data_args(province), "--thresholds", str(loose_file), "--against", str(LIVE)]
    return backtest([*args, "--capacity", str(capacity)], tmp)


def test_backtesting_the_live_file_reproduces_the_alerts_dianyan_run_raised(
    province: Path, tmp_path: Path
) -> None:
    db = tmp_path / "run.sqlite"
    readings, registry = str(province / "readings.parquet"), str(province / "registry")
    run = ["run", readings, "--registry", registry, "--db", str(db), "--port", "0"]
    assert main([*run, "--dead-letter", str(tmp_path / "dead.jsonl")]) == 0
    with SqliteAlertStore(db) as store:
        raised = [a.id for a in store.list_alerts()]

    report = backtest(
        [*data_args(province), "--thresholds", str(LIVE), "--against", str(LIVE)], tmp_path
    )
    assert len(raised) > 10
    assert report["alert_ids"]["reference"] == raised
    assert report["alert_ids"]["candidate"] == raised
    assert all((r["gained"], r["lost"]) == (0, 0) for r in report["rows"])


def test_a_loosened_county_gains_usage_surge_alerts_there_and_nowhere_else(
    loose_vs_live: dict,
) -> None:
    surge = row(loose_vs_live, LOOSE_COUNTY, "usage_surge")
    assert surge["candidate"] > 3 * surge["reference"] > 0
    assert surge["gained"] == surge["candidate"] - surge["reference"]
    others = [r for r in loose_vs_live["rows"] if r is not surge]
    assert others and all((r["gained"], r["lost"]) == (0, 0) for r in others)
    days = loose_vs_live["daily"]
    assert sum(days["candidate"]) - sum(days["reference"]) == surge["gained"]


def test_the_alert_budget_says_which_set_fits_each_countys_capacity(loose_vs_live: dict) -> None:
    budget = {c["county"]: c for c in loose_vs_live["counties"]}
    loose, other = budget[LOOSE_COUNTY], budget[OTHER_COUNTY]
    assert (loose["capacity_per_week"], other["capacity_per_week"]) == (8, 40)
    assert loose["per_week"]["candidate"] > 8 >= loose["per_week"]["reference"]
    assert loose["fits"] == {"reference": True, "candidate": False}
    assert other["fits"] == {"reference": True, "candidate": True}


def test_outcomes_show_confirmed_violations_kept_and_explained_alerts_avoided(
    province: Path, loose_file: Path, inspected: Path, tmp_path: Path
) -> None:
    """Live ran loose and inspectors verified it; the shipped file as the candidate."""
    report = backtest(
        [
            *data_args(province),
            "--thresholds",
            str(LIVE),
            "--against",
            str(loose_file),
            "--store",
            str(inspected),
        ],
        tmp_path,
    )
    with SqliteAlertStore(inspected) as store:
        verified = {(r.county, r.rule): (r.confirmed, r.explained) for r in store.stats().rows}
    surge = row(report, LOOSE_COUNTY, "usage_surge")
    confirmed, explained = verified[(LOOSE_COUNTY, "usage_surge")]
    assert (surge["confirmed"], surge["explained"]) == (confirmed, explained)
    assert explained > 5 * confirmed > 0
    assert surge["confirmed_kept"] == {"reference": confirmed, "candidate": confirmed}
    assert surge["explained_avoided"] == {"reference": 0, "candidate": explained}
    assert surge["precision"]["reference"] < 0.5 and surge["precision"]["candidate"] == 1.0
    county = next(c for c in report["counties"] if c["county"] == LOOSE_COUNTY)
    assert county["precision"]["candidate"] > county["precision"]["reference"]
    assert report["outcomes"]["unknown"] == 0
    assert report["outcomes"]["verified_in_scope"] == sum(c + e for c, e in verified.values())


def test_region_filter_replays_and_reports_only_that_region(
    province: Path,
    loose_file: Path,
    loose_vs_live: dict,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = [*data_args(province), "--thresholds", str(loose_file), "--against", str(LIVE)]
    report = backtest([*args, "--region", OTHER_COUNTY, "--progress"], tmp_path)
    assert "100%" in capsys.readouterr().err  # the bar, asked for although not a terminal
    assert {r["county"] for r in report["rows"]} == {OTHER_COUNTY}
    assert [c["county"] for c in report["counties"]] == [OTHER_COUNTY]
    assert 0 < report["readings"]["replayed"] < report["readings"]["read"]
    # an enterprise's alerts depend on its own readings only: same as in the full backtest
    full = [r for r in loose_vs_live["rows"] if r["county"] == OTHER_COUNTY]
    assert report["rows"] == full


def test_date_range_reports_its_days_with_the_baselines_warmed_by_earlier_history(
    province: Path,
    loose_file: Path,
    loose_vs_live: dict,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = [*data_args(province), "--thresholds", str(loose_file), "--against", str(LIVE)]
    report = backtest([*args, "--from", "2026-02-02", "--to", "2026-02-08"], tmp_path)
    assert capsys.readouterr().err == ""  # no progress bar off a terminal unless asked
    days = report["daily"]["days"]
    assert (days[0], days[-1], len(days), report["period_days"]) == (
        "2026-02-02",
        "2026-02-08",
        7,
        7,
    )
    full = loose_vs_live["daily"]
    at = full["days"].index("2026-02-02")
    for name in ("reference", "candidate"):
        assert report["daily"][name] == full[name][at : at + 7]
        assert sum(r[name] for r in report["rows"]) == sum(report["daily"][name])
    assert sum(report["daily"]["candidate"]) < sum(full["candidate"])


def test_an_empty_history_gives_an_empty_report(
    inspected: Path, loose_file: Path, tmp_path: Path
) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("entity_id,metric,ts,value\n", encoding="utf-8")
    args = ["--data", str(empty), "--thresholds", str(loose_file), "--store", str(inspected)]
    report = backtest(args, tmp_path)
    assert report["rows"] == [] and report["counties"] == []
    assert report["alert_ids"] == {"reference": [], "candidate": []}
    assert report["readings"]["read"] == 0 and report["daily"]["days"] == []
    assert report["outcomes"]["unknown"] == report["outcomes"]["verified_in_scope"] > 0
    assert (tmp_path / "reports" / f"{list_reports(tmp_path / 'reports')[0].name}.html").is_file()


def test_outcomes_of_alerts_the_history_cannot_judge_are_unknown_not_missed(
    province: Path, loose_file: Path, inspected: Path, tmp_path: Path
) -> None:
    """History of one county only: the other county's verified alerts are unknown."""
    registry = Registry.load(province / "registry")
    kept = registry.entity_ids[registry.county == OTHER_COUNTY].astype(str)
    table = pq.read_table(province / "readings.parquet")
    part = tmp_path / "one-county.parquet"
    pq.write_table(table.filter(pc.is_in(table["entity_id"], value_set=pa.array(kept))), part)
    args = ["--data", str(part), "--registry", str(province / "registry")]
    args += ["--thresholds", str(loose_file), "--against", str(loose_file)]
    report = backtest([*args, "--store", str(inspected)], tmp_path)
    with SqliteAlertStore(inspected) as store:
        foreign = {a.id for a in store.list_alerts(region=LOOSE_COUNTY) if a.outcome is not None}
    assert foreign and set(report["outcomes"]["unknown_alert_ids"]) == foreign
    assert report["rows"] and all(r["county"] == OTHER_COUNTY for r in report["rows"])
    assert all(r["confirmed_missed"]["candidate"] == 0 for r in report["rows"])


def test_the_html_report_is_self_contained_and_indexed_for_the_feed(
    loose_vs_live: dict, loose_dir: Path
) -> None:
    entry = list_reports(loose_dir / "reports")[0]
    html = (loose_dir / "reports" / f"{entry.name}.html").read_text(encoding="utf-8")
    assert html.count("<svg") == 2 and "<script" not in html and "src=" not in html
    assert "http" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert (entry.kind, entry.counties) == ("backtest", (OTHER_COUNTY, LOOSE_COUNTY))
    saved = json.loads((loose_dir / "reports" / f"{entry.name}.json").read_text("utf-8"))
    assert saved["rows"] == loose_vs_live["rows"]


def test_a_candidate_the_validator_refuses_is_reported_with_file_and_key_path(
    province: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  usage_surge:\n    z: -1\n", encoding="utf-8")
    code = main(["backtest", *data_args(province), "--thresholds", str(bad)])
    err = capsys.readouterr().err
    assert code == 2 and str(bad) in err and "rules.usage_surge.z" in err


def test_a_candidate_with_other_ingest_settings_is_refused(
    province: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "late.yaml"
    other.write_text("ingest:\n  allowed_lateness_minutes: 30\n", encoding="utf-8")
    code = main(["backtest", *data_args(province), "--thresholds", str(other)])
    err = capsys.readouterr().err
    assert (
        code == 2
        and "ingest.allowed_lateness_minutes" in err
        and "validates the history once" in err
    )
