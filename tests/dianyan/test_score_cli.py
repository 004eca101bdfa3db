"""`dianyan score`: one row out per row in, in order, timestamps as given, spikes flagged."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detectors.thresholds import parse_thresholds
from dianyan.cli import main
from dianyan.score_csv import InputError, score_stream

ROOT = Path(__file__).resolve().parents[2]
FAST = parse_thresholds("rules:\n  generic_score: {window: 32, min_history: 8}\n")


def _run(text: str | bytes, sep: str = ",", block_bytes: int | None = None) -> list[list[str]]:
    data = text.encode() if isinstance(text, str) else text
    out = io.BytesIO()
    kwargs = {} if block_bytes is None else {"block_bytes": block_bytes}
    score_stream(io.BytesIO(data), out, FAST, sep, **kwargs)
    lines = out.getvalue().decode("utf-8", "surrogateescape").split("\n")
    assert lines[-1] == ""
    return [line.split(sep) for line in lines[:-1]]


def _csv(values: np.ndarray, sep: str = ",", extra: np.ndarray | None = None) -> str:
    start = np.datetime64("2026-03-02T00:00")
    rows = ["timestamp" + sep + "kpa" + ("" if extra is None else sep + "flow")]
    for i, v in enumerate(values):
        ts = str(start + np.timedelta64(5 * i, "m")) + ":00+08:00"
        rows.append(
            ts + sep + repr(float(v)) + ("" if extra is None else sep + repr(float(extra[i])))
        )
    return "\n".join(rows) + "\n"


def _noise(n: int, seed: int = 0) -> np.ndarray:
    return np.round(400 + np.random.default_rng(seed).normal(0, 1, n), 2)


def test_rows_keep_their_count_order_and_timestamp_text() -> None:
    text = (
        "timestamp,kpa\n"
        "2026-03-02 08:00,401\n"
        '"2026-03-02 08:05",402\n'
        " 2026-03-02T08:10:00+08:00 ,not-a-number\n"
        "\n"
        "2026-03-02 08:20,\n"
        "yesterday,400\n"
        "2026-03-02 08:30,401,surplus\n"
        '"unbalanced,401\n'
        "1772410200000,399"
    )
    rows = _run(text)
    assert rows[0] == ["timestamp", "value", "score", "is_anomaly"]
    stamps = [
        "2026-03-02 08:00",
        '"2026-03-02 08:05"',
        " 2026-03-02T08:10:00+08:00 ",
        "",
        "2026-03-02 08:20",
        "yesterday",
        "2026-03-02 08:30",
        "",  # not CSV: no field to echo
        "1772410200000",
    ]
    assert [r[0] for r in rows[1:]] == stamps
    assert [r[1] for r in rows[1:3]] == ["401", "402"]
    assert all(r[2] == "" and r[3] == "false" for r in rows[1:])  # warm-up or unscorable


def test_a_planted_spike_is_flagged() -> None:
    values = _noise(300)
    values[250] = 430.0
    rows = _run(_csv(values))[1:]
    flagged = [i for i, r in enumerate(rows) if r[3] == "true"]
    assert flagged == [250]
    assert float(rows[250][2]) > 0.9999
    assert rows[250][1] == "430.0"
    assert all(r[2] == "" for r in rows[:7]) and all(r[2] != "" for r in rows[8:])


def test_semicolon_separated_input_gives_semicolon_separated_output() -> None:
    values = _noise(120, seed=1)
    values[100] = 370.0
    rows = _run(_csv(values, sep=";"), sep=";")
    assert rows[0] == ["timestamp", "value", "score", "is_anomaly"]
    assert [i for i, r in enumerate(rows[1:]) if r[3] == "true"] == [100]


def test_several_value_columns_echo_the_first_and_score_them_all() -> None:
    kpa = _noise(200, seed=2)
    flow = np.round(50 + np.random.default_rng(3).normal(0, 0.5, 200), 2)
    flow[150] = 80.0
    rows = _run(_csv(kpa, extra=flow))[1:]
    assert [i for i, r in enumerate(rows) if r[3] == "true"] == [150]
    assert rows[150][1] == repr(float(kpa[150]))


def test_blocks_of_any_size_give_the_same_output() -> None:
    values = _noise(400, seed=4)
    values[300] = 460.0
    text = _csv(values)
    assert _run(text, block_bytes=128) == _run(text)


def test_a_header_without_timestamp_is_refused() -> None:
    with pytest.raises(InputError, match="timestamp"):
        _run("time;kpa\n2026-03-02 08:00;1\n")


def test_the_command_line_reads_stdin_and_reports_a_bad_header(monkeypatch, capsys) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"when,kpa\n1,2\n")))
    assert main(["score"]) == 2
    assert "timestamp" in capsys.readouterr().err


line = st.text(alphabet='0123456789,;"\r .-:TZabé\t', max_size=30)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lines=st.lists(line, max_size=40),
    header=st.sampled_from(["timestamp,a", "a,timestamp,b", '"timestamp",a,b']),
    end=st.sampled_from(["", "\n", "\r\n"]),
)
def test_any_csv_gives_one_row_per_line_and_never_crashes(lines, header, end) -> None:
    body = "\n".join(lines) + (end if lines else "")
    rows = _run(header + "\n" + body)
    lines = body.split("\n")[: body.count("\n") + (0 if body.endswith("\n") or not body else 1)]
    assert len(rows) - 1 == len(lines)
    ts_col = header.replace('"', "").split(",").index("timestamp")
    for got, given_line in zip(rows[1:], lines, strict=True):
        assert got[-1] in ("true", "false")
        plain = '"' not in given_line and given_line.count(",") == header.count(",")
        if plain:
            text = given_line[:-1] if given_line.endswith("\r") else given_line
            assert got[0] == text.split(",")[ts_col]


@settings(max_examples=50, deadline=None)
@given(body=st.binary(max_size=300))
def test_arbitrary_bytes_never_crash(body: bytes) -> None:
    rows = _run(b"timestamp,v\n" + body)
    expected = body.count(b"\n") + (0 if body.endswith(b"\n") or not body else 1)
    assert len(rows) - 1 == expected


def test_the_readme_example_runs_as_shown() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("dianyan score`") :]
    command = re.search(r"```sh\n(.*?)\n```", section, re.S).group(1)
    shown = re.search(r"```text\n(.*?\n)```", section, re.S).group(1)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        ["bash", "-c", command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == shown
