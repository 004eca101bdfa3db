"""`dianyan worker` and `dianyan replay` refuse bad arguments before touching a broker."""

from __future__ import annotations

from dianyan.cli import main


def test_a_worker_with_a_broken_thresholds_file_is_refused_with_the_place(tmp_path, capsys):
    bad = tmp_path / "thresholds.yaml"
    bad.write_text("baseline: [\n", encoding="utf-8")
    assert main(["worker", "--thresholds", str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "line 2" in err


def test_a_worker_without_its_registry_is_refused(tmp_path, capsys):
    assert main(["worker", "--registry", str(tmp_path / "nowhere")]) == 2
    assert "entities.csv" in capsys.readouterr().err


def test_replay_wants_a_kafka_url(tmp_path, capsys):
    assert main(["replay", str(tmp_path / "r.parquet"), "--to", "http://127.0.0.1:9092"]) == 2
    assert "kafka://HOST:PORT" in capsys.readouterr().err
