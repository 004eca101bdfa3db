"""Workers on a real broker end with exactly the alerts of `dianyan run`, crash or not."""

from __future__ import annotations

import pytest
from kafkakit import alert_keys, replay

from alerts.store import PostgresAlertStore

PROVINCE_DAYS = 28


def stored_alerts(dsn: str) -> list:
    with PostgresAlertStore(dsn) as store:
        return alert_keys(store.list_alerts())


def test_two_workers_raise_exactly_the_alerts_of_dianyan_run(
    province, embedded_alerts, deployment, start_worker, pg_dsn
):
    registry = ("--registry", str(province / "registry"), "--postgres", pg_dsn)
    a, b = start_worker(*registry), start_worker(*registry)
    a.wait_metric("dianyan_partitions", 1)
    b.wait_metric("dianyan_partitions", 1)

    out, _ = replay(deployment, province).communicate(timeout=60)
    deployment.wait_done()

    assert stored_alerts(pg_dsn) == embedded_alerts
    assert a.metric("dianyan_partitions") + b.metric("dianyan_partitions") == 4
    assert a.metric("dianyan_messages_in_total") > 0 and b.metric("dianyan_messages_in_total") > 0
    assert b"readings" in out


@pytest.mark.parametrize("recovery", ["restart", "takeover"])
def test_a_worker_killed_mid_replay_loses_and_doubles_no_case(
    recovery, province, embedded_alerts, deployment, start_worker, pg_dsn
):
    registry = ("--registry", str(province / "registry"), "--postgres", pg_dsn)
    victim, other = start_worker(*registry), start_worker(*registry)
    victim.wait_metric("dianyan_partitions", 1)
    other.wait_metric("dianyan_partitions", 1)
    seconds = 8.0  # the paced replay's length
    feed = replay(
        deployment,
        province,
        "--speed",
        str(PROVINCE_DAYS * 86400 / seconds),
        "--batch-rows",
        "4096",
    )
    victim.wait_metric("dianyan_checkpoints_total", 2, timeout_s=seconds)
    victim.wait_metric("dianyan_messages_in_total", 10, timeout_s=seconds)
    assert feed.poll() is None, "the replay ended before the kill"
    victim.kill()
    if recovery == "restart":
        start_worker(*registry)
    feed.communicate(timeout=60)
    deployment.wait_done()

    assert stored_alerts(pg_dsn) == embedded_alerts
    if recovery == "takeover":
        assert other.metric("dianyan_partitions") == 4
    assert other.metric("dianyan_rebalances_total") >= 2
