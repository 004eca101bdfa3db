"""What the feed's handlers share: its configuration, request keys and the caller."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from alerts.access import AuthenticationError, User
from alerts.deadlines import Deadlines
from alerts.feed.backend import Backend
from alerts.users import Session, UserStore
from dianyan.metrics import Metrics
from tuning.reports import DEFAULT_REPORTS_DIR


def wall_clock_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class FeedConfig:
    """What the service needs; the openers run on the database thread (see Backend)."""

    open_store: Callable[[], Any]
    open_users: Callable[[], UserStore]
    metrics: Metrics = field(default_factory=Metrics.create)
    clock: Callable[[], int] = wall_clock_ms
    secure_cookies: bool = False  # set behind HTTPS so the session cookie is never sent in clear
    deadlines: Deadlines | None = None  # run the overdue escalation (超时督办) when given
    escalate_every_s: float = 60.0
    reports_dir: Path | None = DEFAULT_REPORTS_DIR  # backtest/tune reports to link


BACKEND = web.AppKey("backend", Backend)
CONFIG = web.AppKey("config", FeedConfig)
USER = web.RequestKey("user", User)
SESSION = web.RequestKey("session", Session)
SESSION_COOKIE = "dianyan_session"


def is_api(request: web.Request) -> bool:
    return request.path.startswith("/api/") or request.path == "/openapi.json"


def user_of(request: web.Request) -> User:
    """The caller, or AuthenticationError (401) when nobody is logged in."""
    user = request.get(USER)
    if user is None:
        raise AuthenticationError(
            "no credentials; send 'Authorization: Bearer <token>' (from `dianyan users add`)."
        )
    return user
