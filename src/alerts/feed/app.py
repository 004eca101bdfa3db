"""The feed service as one aiohttp application: JSON API, web page, /metrics, /healthz.

``create_app(FeedConfig(...))`` wires the routes of ``alerts.feed.api`` and
``alerts.feed.web`` behind two middlewares: one turns dianyan's errors into the
documented status and a JSON body (or an HTML page for the web routes), the other
resolves who is asking (Bearer token for the API, session cookie for the pages).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from alerts.access import AuthenticationError
from alerts.feed import api, pages, reports
from alerts.feed.backend import Backend
from alerts.feed.context import (
    BACKEND,
    CONFIG,
    SESSION,
    SESSION_COOKIE,
    USER,
    FeedConfig,
    is_api,
)
from alerts.feed.errors import describe
from dianyan.errors import DianyanError

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def create_app(config: FeedConfig) -> web.Application:
    """The application; the stores open on startup and close on cleanup."""
    app = web.Application(middlewares=[_errors, _who], client_max_size=64 * 1024)
    backend = Backend(config.open_store, config.open_users)
    app[BACKEND] = backend
    app[CONFIG] = config
    app.cleanup_ctx.append(_lifetime)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/metrics", _metrics)
    api.add_routes(app.router)
    pages.add_routes(app.router)
    reports.add_routes(app.router)
    return app


async def _lifetime(app: web.Application) -> AsyncIterator[None]:
    """Open the stores, run the overdue check if configured; undo both on shutdown."""
    backend, config = app[BACKEND], app[CONFIG]
    await backend.start()
    task = None
    if config.deadlines is not None and config.escalate_every_s > 0:
        task = asyncio.create_task(_escalate_forever(backend, config), name="escalation")
    yield
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await backend.stop()


async def _escalate_forever(backend: Backend, config: FeedConfig) -> None:
    """超时督办: flag and escalate overdue alerts now and every ``escalate_every_s``."""
    while True:
        try:
            changed = await backend.store("escalate_overdue", config.clock(), config.deadlines)
            if changed:
                log.info("escalated %d overdue alert(s)", len(changed))
        except Exception:  # keep serving; the next round tries again
            log.exception("overdue escalation failed")
        await asyncio.sleep(config.escalate_every_s)


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _metrics(request: web.Request) -> web.Response:
    """Prometheus text; the alert gauges are read from the store at scrape time."""
    metrics = request.app[CONFIG].metrics
    counts = await request.app[BACKEND].store("counts_by_rule_state")
    stats = await request.app[BACKEND].store("stats")
    metrics.set_alert_gauges(counts, stats.rows)
    body = generate_latest(metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every refusal as ``{error, message}`` (API) or an error page (web)."""
    try:
        return await handler(request)
    except DianyanError as exc:
        described = describe(exc)
        if described is None:
            log.exception("unexpected dianyan error on %s %s", request.method, request.path)
            described = (500, {"error": "internal", "message": str(exc)})
        status, body = described
    except web.HTTPException as exc:
        if not is_api(request) or exc.status < 400:
            raise
        status = exc.status
        body = {"error": exc.reason.lower().replace(" ", "_"), "message": exc.text or exc.reason}
        if exc.status == 404:
            body["message"] = f"no such endpoint {request.path}; see /openapi.json."
        elif exc.status == 405:
            body["message"] = f"{request.method} is not allowed on {request.path}."
        elif exc.status == 413:
            body["message"] = "request body too large (limit 64 KiB)."
    if is_api(request):
        headers = {"WWW-Authenticate": 'Bearer realm="dianyan"'} if status == 401 else None
        return web.json_response(body, status=status, headers=headers)
    return await pages.error_page(request, status, body)


@web.middleware
async def _who(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Attach the caller: a Bearer token (API) or a session cookie (pages, API reads)."""
    backend = request.app[BACKEND]
    header = request.headers.get("Authorization")
    cookie = request.cookies.get(SESSION_COOKIE)
    if header is not None and is_api(request):
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationError("use the header 'Authorization: Bearer <token>'.")
        request[USER] = await backend.users("authenticate", token.strip())
    elif cookie is not None and (not is_api(request) or request.method == "GET"):
        # Cookies only read through the API (e.g. the page's CSV link): no CSRF exposure.
        now = request.app[CONFIG].clock()
        try:
            session = await backend.users("session", cookie, now)
        except AuthenticationError:
            if is_api(request):
                raise
        else:
            request[SESSION] = session
            request[USER] = session.user
    return await handler(request)
