"""The feed's database side: the alert store and the users, run on one worker thread.

The store and user store are blocking (sqlite3, psycopg) and a SQLite connection belongs
to the thread that made it, so both are opened, used and closed on one dedicated thread;
the event loop stays free to serve /healthz, static files and the requests waiting on it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

from alerts.users import UserStore

T = TypeVar("T")


class Backend:
    """Opens the stores on start, runs calls on them in order, closes them on stop."""

    def __init__(self, open_store: Callable[[], Any], open_users: Callable[[], UserStore]) -> None:
        self._open_store = open_store
        self._open_users = open_users
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dianyan-feed-db")
        self.store: Any = None
        self.users: UserStore | None = None

    async def start(self) -> None:
        self.store = await self.run(self._open_store)
        self.users = await self.run(self._open_users)

    async def stop(self) -> None:
        for resource in (self.users, self.store):
            if resource is not None:
                await self.run(resource.close)
        self.store = self.users = None
        self._executor.shutdown(wait=True)

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call ``fn(*args, **kwargs)`` on the database thread and wait for its result."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, partial(fn, *args, **kwargs))
