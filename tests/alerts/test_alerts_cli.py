"""``dianyan alerts list`` prints the alerts of a store file."""

from __future__ import annotations

import argparse
import csv
import io
import json
import unicodedata
from collections.abc import Callable
from pathlib import Path

import pytest

from alerts.store import SqliteAlertStore
from detectors.detection import Detection
from dianyan.alerts_cli import add_alerts_parser
from dianyan.errors import DianyanError

NOW_MS = 1_750_000_000_000


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="dianyan")
    add_alerts_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.handler(args)


@pytest.fixture
def db(store_path: Path, make_detection: Callable[..., Detection]) -> Path:
    with SqliteAlertStore(store_path) as store:
        store.apply(
            [
                make_detection(entity_id="E-滕州-01", county="370481"),
                make_detection(entity_id="E-滕州-01", county="370481", start_slot=8),
                make_detection(rule="usage_surge", entity_id="E2", county="370502", start_slot=1),
            ],
            NOW_MS,
        )
    return store_path


def test_table_shows_each_alert_with_its_time_in_china_standard_time(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["alerts", "list", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    with SqliteAlertStore(db) as store:
        alerts = store.list_alerts()
    lines = out.splitlines()
    assert "first seen (CST)" in lines[0]
    for alert, line in zip(alerts, lines[1:-1], strict=True):
        assert line.startswith(alert.id)
        for shown in (alert.rule, alert.entity_id, alert.county, "告警 / Raised"):
            assert shown in line
        assert line.endswith(alert.explanation)
    night = next(line for line in lines if "night_production" in line)
    assert "2024-05-01 22:15" in night  # the factory's episode starts 22:15 Beijing time
    assert lines[-1] == "2 alerts"


def test_table_columns_line_up_with_chinese_text(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(["alerts", "list", "--db", str(db)])
    lines = capsys.readouterr().out.splitlines()[:-1]

    def column_of(line: str, text: str) -> int:
        before = line[: line.index(text)]
        return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in before)

    header_col = column_of(lines[0], "state")
    assert [column_of(line, "告警") for line in lines[1:]] == [header_col] * (len(lines) - 1)


def test_county_filter_takes_a_division_code_prefix(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(["alerts", "list", "--db", str(db), "--county", "3704", "--format", "json"])
    assert {a["county"] for a in json.loads(capsys.readouterr().out)} == {"370481"}
    run(["alerts", "list", "--db", str(db), "--county", "37", "--format", "json"])
    assert len(json.loads(capsys.readouterr().out)) == 2


def test_json_and_csv_carry_the_stored_alerts(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with SqliteAlertStore(db) as store:
        expected = [a.to_dict() for a in store.list_alerts()]
    run(["alerts", "list", "--db", str(db), "--format", "json"])
    assert json.loads(capsys.readouterr().out) == expected

    run(["alerts", "list", "--db", str(db), "--format", "csv", "--rule", "night_production"])
    [row] = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    [night] = [a for a in expected if a["rule"] == "night_production"]
    assert (row["id"], row["occurrences"], row["state"]) == (night["id"], "2", "raised")
    assert row["explanation"] == night["explanation"]


def test_state_filter(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(["alerts", "list", "--db", str(db), "--state", "cleared", "--format", "json"])
    assert json.loads(capsys.readouterr().out) == []


def test_missing_store_is_an_error_and_creates_no_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.sqlite"
    with pytest.raises(DianyanError, match="no alert store"):
        run(["alerts", "list", "--db", str(missing)])
    assert not missing.exists()


@pytest.mark.parametrize("county", ["370", "37x4"])
def test_malformed_county_is_a_usage_error(
    db: Path, county: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run(["alerts", "list", "--db", str(db), "--county", county])
    assert exit_info.value.code == 2
    assert "6 (county) digits" in capsys.readouterr().err
