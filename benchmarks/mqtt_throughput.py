"""MQTT intake throughput: device messages/s through a broker into the embedded pipeline.

Starts its own mosquitto on a free loopback port with unlimited per-client queues (the
default of 1,000 queued QoS 1 messages would drop a burst before a consumer sees it), then
publishes seeded electricity readings with mosquitto_pub -l (C, so the publisher is not
what is measured): one JSON object per message (what devices send), or ``--per-message``
readings per JSON list. ``dianyan run --mqtt``'s path (MqttSource batches ->
Pipeline.run_batches -> SQLite alert store) consumes them. Reports messages/s and
readings/s from the first message published to the last reading accepted.

    python benchmarks/mqtt_throughput.py [--messages N] [--per-message K] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

from alerts.store import SqliteAlertStore
from detectors.thresholds import load_thresholds
from dianyan.pipeline import Pipeline
from ingest.deadletter import MemoryDeadLetter
from ingest.sources.mqtt import MqttSource, MqttUrl

ROOT = Path(__file__).resolve().parents[1]
SLOT_MS = 900_000


def payloads(messages: int, per_message: int, entities: int) -> list[bytes]:
    """Readings slot by slot for ``entities`` meters, ending a day before now."""
    readings = messages * per_message
    slots = -(-readings // entities)
    base = (int(time.time() * 1000) // SLOT_MS - slots - 96) * SLOT_MS
    rows = [
        {
            "entity_id": f"E{e:05d}",
            "metric": "electricity.kwh",
            "ts": base + s * SLOT_MS,
            "value": 10.0 + (s * 7 + e) % 5,
        }
        for s in range(slots)
        for e in range(entities)
    ][:readings]
    if per_message == 1:
        return [json.dumps(r).encode() for r in rows]
    return [json.dumps(rows[i : i + per_message]).encode() for i in range(0, readings, per_message)]


def publish(url: MqttUrl, items: list[bytes]) -> None:
    command = ["mosquitto_pub", "-h", url.host, "-p", str(url.port), "-t", url.topic]
    subprocess.run([*command, "-q", "1", "-l"], input=b"\n".join(items) + b"\n", check=True)


def broker(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    """A mosquitto of this benchmark, queues unlimited; the caller terminates it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conf = workdir / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        "max_queued_messages 0\nmax_queued_bytes 0\n",
        encoding="utf-8",
    )
    proc = subprocess.Popen(["mosquitto", "-c", str(conf)], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.terminate()
    raise SystemExit("mosquitto did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--per-message", type=int, default=1)
    parser.add_argument("--entities", type=int, default=1000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if not (shutil.which("mosquitto") and shutil.which("mosquitto_pub")):
        raise SystemExit("needs mosquitto and mosquitto_pub (apt-get install mosquitto-clients)")
    items = payloads(args.messages, args.per_message, args.entities)
    readings = args.messages * args.per_message
    thresholds = load_thresholds(ROOT / "config" / "thresholds.yaml")
    with tempfile.TemporaryDirectory() as tmp, SqliteAlertStore(Path(tmp) / "a.sqlite") as store:
        proc, port = broker(Path(tmp))
        url = MqttUrl.parse(f"mqtt://127.0.0.1:{port}/dianyan-bench/{uuid.uuid4().hex}")
        pipe = Pipeline(thresholds, store, MemoryDeadLetter())
        source = MqttSource(url).start()
        try:
            if not source.wait_subscribed(timeout=10):
                raise SystemExit(f"no broker answers at {url}")
            worker = threading.Thread(target=pipe.run_batches, args=(source.batches(),))
            worker.start()
            started = time.perf_counter()
            publish(url, items)
            published = time.perf_counter() - started
            while pipe.summary.readings_in < readings and time.perf_counter() - started < 600:
                time.sleep(0.01)
            seconds = time.perf_counter() - started
            source.stop()
            worker.join()
        finally:
            source.close()
            proc.terminate()
            proc.wait()
    result = {
        "messages": args.messages,
        "readings": readings,
        "received": pipe.summary.readings_in,
        "accepted": pipe.summary.accepted,
        "seconds": round(seconds, 2),
        "publish_seconds": round(published, 2),
        "messages_per_s": round(args.messages / seconds),
        "readings_per_s": round(readings / seconds),
    }
    print(
        f"{args.messages:,} messages ({readings:,} readings, {args.per_message} per message) "
        f"in {seconds:.2f} s: {args.messages / seconds:,.0f} messages/s, "
        f"{readings / seconds:,.0f} readings/s; {pipe.summary.accepted:,} accepted"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
