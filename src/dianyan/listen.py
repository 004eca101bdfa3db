"""``dianyan run --mqtt URL``: the embedded pipeline fed by an MQTT subscription.

Runs until Ctrl-C or SIGTERM, which end the batch being gathered and then the run (the open
slots are evaluated and stored, as at the end of a file). Broker restarts do not end it: the
source reconnects and the pipeline keeps its state.
"""

from __future__ import annotations

import signal
import threading

from dianyan.pipeline import Pipeline, RunSummary
from ingest.sources.mqtt import MqttSource

SUBSCRIBE_WAIT_SECONDS = 10.0


def listen_mqtt(pipeline: Pipeline, url: str) -> RunSummary:
    """Feed ``pipeline`` from the MQTT topic of ``url`` until interrupted."""
    source = MqttSource(url)
    handlers = _stop_on_signals(source)
    try:
        source.start()
        if source.wait_subscribed(timeout=SUBSCRIBE_WAIT_SECONDS):
            print(f"dianyan: subscribed to {source.url}; Ctrl-C to stop", flush=True)
        else:
            print(f"dianyan: waiting for the broker at {source.url} ...", flush=True)
        return pipeline.run_batches(source.batches())
    finally:
        source.close()
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


def _stop_on_signals(source: MqttSource) -> dict[int, object]:
    if threading.current_thread() is not threading.main_thread():
        return {}  # only the main thread may set handlers; the caller stops the source then
    old = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        old[sig] = signal.signal(sig, lambda *_: source.stop())
    return old
