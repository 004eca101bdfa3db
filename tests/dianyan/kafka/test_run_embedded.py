"""`dianyan run --broker embedded`: broker, worker and replay on one machine, same alerts."""

from __future__ import annotations

import subprocess
import sys

from kafkakit import THRESHOLDS, alert_keys

from alerts.store import SqliteAlertStore


def test_run_with_the_embedded_broker_gives_the_alerts_of_the_embedded_run(
    province, embedded_alerts, tmp_path
):
    db = tmp_path / "alerts.sqlite"
    args = ["run", str(province / "readings.parquet"), "--registry", str(province / "registry")]
    args += ["--thresholds", THRESHOLDS, "--broker", "embedded", "--db", str(db), "--port", "0"]
    done = subprocess.run(
        [sys.executable, "-m", "dianyan.cli", *args],
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout.decode()[-2000:] + done.stderr.decode()[-2000:]
    assert f"{len(embedded_alerts)} alerts in {db}" in done.stdout.decode()
    with SqliteAlertStore(db) as store:
        assert alert_keys(store.list_alerts()) == embedded_alerts
    assert (tmp_path / "worker.log").stat().st_size > 0
