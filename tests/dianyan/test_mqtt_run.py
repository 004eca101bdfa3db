"""`dianyan run --mqtt`: device readings through a real Mosquitto broker raise alerts.

The round trip uses the broker running on this machine (127.0.0.1:1883). The restart test
starts its own mosquitto process on a free port, so that stopping it disturbs nobody else's
tests; it stops that process mid-stream and starts it again on the same port. Without a
broker (or the mosquitto binary) the tests skip, except under CI=true, where they fail.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from alerts.store import SqliteAlertStore
from detectors.thresholds import load_thresholds
from dianyan.pipeline import Pipeline
from ingest.deadletter import MemoryDeadLetter
from ingest.sources.mqtt import MqttSource

ROOT = Path(__file__).resolve().parents[2]
SLOT_MS = 15 * 60_000
WAIT = 30.0


def _missing(what: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} (CI=true: the MQTT tests must run)")
    pytest.skip(what)


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


@pytest.fixture
def shared_broker() -> str:
    if not _listening(1883):
        _missing("no MQTT broker at 127.0.0.1:1883 (mosquitto -d -c /etc/mosquitto/mosquitto.conf)")
    return "127.0.0.1:1883"


class OwnBroker:
    """A mosquitto process of this test: started, stopped and started again on one port."""

    def __init__(self, binary: str, workdir: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.binary = binary
        self.conf = workdir / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n",
            encoding="utf-8",
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _until(lambda: _listening(self.port), "mosquitto to listen")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[OwnBroker]:
    binary = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )
    if binary is None:
        _missing("the mosquitto binary is not installed (apt-get install mosquitto)")
    broker = OwnBroker(binary, tmp_path)
    broker.start()
    yield broker
    broker.stop()


def _until(check, what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _topic() -> str:
    return f"dianyan-test/{uuid.uuid4().hex}"


def _readings(entities: list[str], first_slot: int, slots: int) -> list[dict[str, object]]:
    """15-minute electricity readings ending two days ago at the latest."""
    base = (int(time.time() * 1000) // SLOT_MS - 4 * 96) * SLOT_MS
    return [
        {
            "entity_id": e,
            "metric": "electricity.kwh",
            "ts": base + (first_slot + k) * SLOT_MS,
            "value": 20.0 + (k % 3),
        }
        for k in range(slots)
        for e in entities
    ]


def _publish(host_port: str, topic: str, payloads: list[bytes]) -> None:
    host, port = host_port.split(":")
    client = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2)
    client.connect(host, int(port))
    client.loop_start()
    try:
        for payload in payloads:
            client.publish(topic, payload, qos=1).wait_for_publish(timeout=10)
    finally:
        client.disconnect()
        client.loop_stop()


def _offline_alerts(db: Path) -> list[str]:
    with SqliteAlertStore(db) as store:
        return [a.entity_id for a in store.list_alerts(rule="meter_offline")]


def test_dianyan_run_mqtt_round_trip_raises_an_alert_and_dead_letters_bad_messages(
    shared_broker, tmp_path, thresholds_file
) -> None:
    """E1 and E2 report for 8 hours, then only E1: E2's meter goes offline."""
    topic = _topic()
    db, dead = tmp_path / "alerts.sqlite", tmp_path / "dead.jsonl"
    command = [
        sys.executable,
        "-m",
        "dianyan.cli",
        "run",
        "--mqtt",
        f"mqtt://{shared_broker}/{topic}",
    ]
    command += ["--db", str(db), "--dead-letter", str(dead), "--port", "0"]
    command += ["--thresholds", str(thresholds_file)]
    proc = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: queue.SimpleQueue[str] = queue.SimpleQueue()
    reader = threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + WAIT
        while "subscribed" not in lines.get(timeout=max(deadline - time.monotonic(), 0)):
            pass
        both = [json.dumps(r).encode() for r in _readings(["E1", "E2"], 0, 32)]
        alone = _readings(["E1"], 32, 32)
        lists = [json.dumps(alone[i : i + 4]).encode() for i in range(0, 32, 4)]
        bad = [b"not json", b"", b'[{"entity_id": "E9"}, 5]']
        _publish(shared_broker, topic, both + bad + lists)
        _until(lambda: db.exists() and _offline_alerts(db) == ["E2"], "the meter_offline alert")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=WAIT)
        reader.join(timeout=WAIT)
        proc.stdout.close()
    out = "".join(iter(lambda: lines.get() if not lines.empty() else "", ""))
    assert proc.returncode == 0, out
    assert "readings: 100 in" in out  # 64 + 32 readings, 2 bad messages, a list of 2 records
    rejected = [json.loads(x) for x in dead.read_text(encoding="utf-8").splitlines()]
    first_bad = len(both) + 1
    assert sorted((r["position"], r["reason"]) for r in rejected) == [
        (first_bad, "malformed_record"),
        (first_bad + 1, "malformed_record"),
        (first_bad + 2, "malformed_record"),  # the 5
        (first_bad + 2, "missing_field"),  # E9 without metric, ts, value
    ]


def test_a_broker_restart_mid_stream_loses_neither_the_pipeline_nor_later_messages(
    own_broker, tmp_path, thresholds_file
) -> None:
    """Readings before the restart and after it make one meter_offline episode together."""
    topic = _topic()
    where = f"127.0.0.1:{own_broker.port}"
    source = MqttSource(f"mqtt://{where}/{topic}", batch_seconds=0.2).start()
    assert source.wait_subscribed(1, timeout=WAIT)
    db = tmp_path / "alerts.sqlite"
    pipeline: list[Pipeline] = []

    def run() -> None:
        with SqliteAlertStore(db) as store:
            pipe = Pipeline(load_thresholds(thresholds_file), store, MemoryDeadLetter())
            pipeline.append(pipe)
            pipe.run_batches(source.batches())

    worker = threading.Thread(target=run)
    worker.start()
    try:
        before = [json.dumps(r).encode() for r in _readings(["E1", "E2"], 0, 32)]
        _publish(where, topic, before)
        _until(lambda: pipeline and pipeline[0].summary.readings_in == 64, "the first readings")

        own_broker.stop()
        own_broker.start()
        assert source.wait_subscribed(2, timeout=WAIT), "the source did not subscribe again"
        after = [json.dumps(r).encode() for r in _readings(["E1"], 32, 32)]
        _publish(where, topic, after)
        _until(lambda: pipeline[0].summary.readings_in == 96, "the readings after the restart")
    finally:
        source.stop()
        worker.join(timeout=WAIT)
        source.close()
    assert not worker.is_alive()
    assert source.connects == 2
    assert pipeline[0].summary.accepted == 96
    assert _offline_alerts(db) == ["E2"]
