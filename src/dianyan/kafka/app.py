"""The Faust app of a worker: its web server (/metrics), sensors, and the readings service.

``dianyan worker`` runs :func:`run_worker`: a Faust worker whose app carries Faust's own
Prometheus sensors and serves ``/metrics`` with dianyan's metrics and Faust's in one
registry, and whose extra service is the readings :class:`Worker`.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alerts.store import AlertStore
from dianyan.kafka.worker import Worker, WorkerSettings
from dianyan.metrics import KafkaMetrics, Metrics

log = logging.getLogger(__name__)


def create_app(
    settings: WorkerSettings,
    open_store: Callable[[], AlertStore],
    web_host: str = "127.0.0.1",
    web_port: int = 6066,
) -> tuple[Any, Any]:
    """(Faust app, readings service) for these settings."""
    import faust
    from faust.sensors.prometheus import setup_prometheus_sensors
    from mode import Service

    datadir = Path(tempfile.gettempdir()) / f"dianyan-faust-{settings.worker_id}"
    app = faust.App(
        f"{settings.group}-faust",
        broker=f"kafka://{settings.bootstrap}",
        store="memory://",
        datadir=str(datadir),
        autodiscover=False,
        web_enabled=True,
        web_host=web_host,
        web_bind=web_host,
        web_port=web_port,
        broker_session_timeout=settings.session_timeout_ms / 1000,
        broker_heartbeat_interval=settings.heartbeat_interval_ms / 1000,
        topic_partitions=settings.topics.partitions,
    )
    metrics = Metrics.create()
    worker = Worker(settings, open_store, metrics, KafkaMetrics.create(metrics.registry))
    setup_prometheus_sensors(
        app, pattern="/metrics", registry=metrics.registry, name_prefix="faust"
    )

    class ReadingsService(Service):
        """Starts the worker with the app, runs its loop, checkpoints on a clean stop."""

        _task: asyncio.Task[None] | None = None
        _crash: asyncio.Future[None] | None = None

        async def on_start(self) -> None:
            await worker.start()
            self._task = asyncio.create_task(worker.run())
            self._task.add_done_callback(self._on_done)

        def _on_done(self, task: asyncio.Task[None]) -> None:
            if not task.cancelled() and task.exception() is not None:
                log.error("readings loop failed", exc_info=task.exception())
                self._crash = asyncio.ensure_future(self.crash(task.exception()))  # type: ignore[arg-type]

        async def on_stop(self) -> None:
            await worker.stop(self._task)

    return app, ReadingsService()


def run_worker(
    settings: WorkerSettings,
    open_store: Callable[[], AlertStore],
    web_host: str,
    web_port: int,
    loglevel: str = "info",
) -> int:
    """Run a worker until SIGINT / SIGTERM (a clean stop checkpoints every partition)."""
    import faust

    app, service = create_app(settings, open_store, web_host, web_port)
    worker = faust.Worker(app, service, loglevel=loglevel, quiet=True)
    worker.execute_from_commandline()
    return 0
