"""`dianyan run` and `dianyan alerts list` as a user types them."""

from __future__ import annotations

from dianyan.cli import main


def test_run_then_list_alerts(province, tmp_path, thresholds_file, capsys):
    db = tmp_path / "alerts.sqlite"
    code = main(
        [
            "run",
            str(province / "readings.parquet"),
            "--registry",
            str(province / "registry"),
            "--thresholds",
            str(thresholds_file),
            "--db",
            str(db),
            "--dead-letter",
            str(tmp_path / "dead.jsonl"),
            "--port",
            "0",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "readings:" in out and "alerts in" in out
    assert main(["alerts", "list", "--db", str(db), "--rule", "night_production"]) == 0
    listed = capsys.readouterr().out
    assert "night_production" in listed and "suspended_operation" not in listed


def test_run_refuses_a_bad_thresholds_file(province, tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  usage_surge:\n    z: -1\n", encoding="utf-8")
    code = main(
        [
            "run",
            str(province / "readings.parquet"),
            "--thresholds",
            str(bad),
            "--db",
            str(tmp_path / "a.sqlite"),
            "--port",
            "0",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "rules.usage_surge.z" in err and str(bad) in err
