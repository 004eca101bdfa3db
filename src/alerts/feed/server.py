"""Running the feed app: in the foreground (``dianyan serve``) or on a background thread
beside the embedded pipeline (``dianyan run``), on a host and port (0: any free port).
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass

from aiohttp import web


@dataclass
class RunningServer:
    """A server on its own thread and event loop; ``stop()`` shuts it down cleanly."""

    url: str
    _loop: asyncio.AbstractEventLoop
    _runner: web.AppRunner
    _thread: threading.Thread

    def stop(self) -> None:
        future = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop)
        future.result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)

    def keep_serving(self) -> None:
        """Block until Ctrl-C (the KeyboardInterrupt reaches the caller, who stops it)."""
        print("dianyan: serving; Ctrl-C to stop", flush=True)
        while True:
            time.sleep(3600)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_in_thread(app: web.Application, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
    """Start serving ``app`` on a daemon thread; returns once it accepts connections."""
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    started: dict[str, object] = {}
    ready = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, host, port)
            loop.run_until_complete(site.start())
            started["port"] = runner.addresses[0][1]
        except BaseException as exc:  # reported to the caller below
            started["error"] = exc
            ready.set()
            loop.close()
            return
        ready.set()
        loop.run_forever()
        loop.close()

    thread = threading.Thread(target=serve, name="dianyan-feed", daemon=True)
    thread.start()
    ready.wait(timeout=60)
    if "error" in started:
        raise started["error"]  # type: ignore[misc]
    return RunningServer(f"http://{host}:{started['port']}", loop, runner, thread)


def serve_forever(app: web.Application, host: str, port: int) -> None:
    """Serve in the foreground until Ctrl-C (``dianyan serve``)."""
    web.run_app(app, host=host, port=port, print=None, access_log=None)
