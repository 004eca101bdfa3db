"""The feed's database side: alert store and user store calls, run on a few worker threads.

The stores are blocking (sqlite3, psycopg). Each worker thread opens its own pair on first
use and keeps it, so a slow commit (an fsync) on one connection does not hold up reads on
another (SQLite in WAL mode and PostgreSQL both read while another connection writes),
and the event loop stays free for other requests meanwhile.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from alerts.users import UserStore

DEFAULT_THREADS = 4


class Backend:
    """Runs store methods by name on worker threads; closes every connection on stop."""

    def __init__(
        self,
        open_store: Callable[[], Any],
        open_users: Callable[[], UserStore],
        threads: int = DEFAULT_THREADS,
    ) -> None:
        self._open_store = open_store
        self._open_users = open_users
        self._threads = threads
        self._executor: ThreadPoolExecutor | None = None
        self._local = threading.local()
        self._opened: list[Any] = []
        self._lock = threading.Lock()

    async def start(self) -> None:
        """Open one pair of connections now, so a bad database fails at startup."""
        self._executor = ThreadPoolExecutor(self._threads, thread_name_prefix="dianyan-feed-db")
        await self._run(self._connections)

    async def stop(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
        with self._lock:
            opened, self._opened = self._opened, []
        for resource in opened:
            resource.close()

    async def store(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """``store.<method>(*args, **kwargs)`` on a worker thread's alert store."""
        return await self._run(self._call, 0, method, args, kwargs)

    async def users(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """``users.<method>(*args, **kwargs)`` on a worker thread's user store."""
        return await self._run(self._call, 1, method, args, kwargs)

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self._executor is None:
            raise RuntimeError("the feed backend is not started")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, partial(fn, *args))

    def _call(self, which: int, method: str, args: tuple, kwargs: dict[str, Any]) -> Any:
        return getattr(self._connections()[which], method)(*args, **kwargs)

    def _connections(self) -> tuple[Any, UserStore]:
        pair = getattr(self._local, "pair", None)
        if pair is None:
            pair = (self._open_store(), self._open_users())
            self._local.pair = pair
            with self._lock:
                self._opened.extend(pair)
        return pair
