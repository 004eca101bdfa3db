"""A Kafka client from outside Python (Debian's kcat) feeds JSON readings and reads the alerts."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dianyan.kafka.broker import EmbeddedBroker, free_port

T0 = 1_772_323_200_000  # 2026-03-01 00:00 UTC
SLOT = 15 * 60 * 1000

needs_kcat = pytest.mark.skipif(
    shutil.which("kcat") is None and os.environ.get("CI") != "true",
    reason="kcat not installed (apt-get install kcat; .ci/run installs it)",
)


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A broker of this module's own, reached through the ApiVersions relay (see there)."""
    relay_port = free_port()
    log = tmp_path_factory.mktemp("kcat-broker") / "tansu.log"
    with EmbeddedBroker(log=log, advertised_port=relay_port) as b:
        relay = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("apiversions_relay.py")),
             str(relay_port), str(b.port)]
        )  # fmt: skip
        try:
            _wait_listening(relay_port)
            yield f"127.0.0.1:{relay_port}"
        finally:
            relay.terminate()
            relay.wait()


def _wait_listening(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port}")


@needs_kcat
def test_kcat_produces_readings_that_raise_an_alert_and_consumes_it(
    deployment, start_worker, tmp_path
):
    worker = start_worker("--db", str(tmp_path / "alerts.sqlite"))
    worker.wait_metric("dianyan_partitions", 1)
    # a meter that reports twice, then nothing for 12 hours: meter_offline (limit 4 h)
    reading = {"entity_id": "M77", "metric": "electricity.kwh", "value": 4.2}
    lines = [
        f"M77:{json.dumps(reading | {'ts': ts})}"
        for ts in (T0 + SLOT, T0 + 2 * SLOT, T0 + 50 * SLOT)
    ]
    kcat = ["kcat", "-b", deployment.bootstrap, "-X", "topic.partitioner=murmur2_random"]
    subprocess.run(
        [*kcat, "-P", "-t", f"{deployment.prefix}readings", "-K:"],
        input="\n".join(lines).encode(),
        check=True,
        timeout=30,
    )

    deadline = time.monotonic() + 60
    alerts: list[dict] = []
    while not alerts and time.monotonic() < deadline:
        out = subprocess.run(
            [*kcat, "-C", "-t", f"{deployment.prefix}alerts", "-o", "beginning", "-e", "-q"],
            capture_output=True,
            timeout=30,
            check=True,
        ).stdout
        alerts = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
        time.sleep(0.5)
    assert [(a["rule"], a["entity_id"]) for a in alerts] == [("meter_offline", "M77")]
    assert alerts[0]["alert_id"].startswith("A")
    assert worker.metric("dianyan_readings_accepted_total") == 3
