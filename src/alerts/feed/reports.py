"""Backtest and tune reports in the feed: the stats view links to them, ``/reports/`` serves them.

Reports are the files ``dianyan backtest`` and ``dianyan tune`` write (see
``tuning.reports``). A user sees a report only when every county it covers lies inside
the user's jurisdiction; any other report reads as absent (404), like a foreign alert.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from alerts.feed.context import CONFIG, user_of
from tuning.reports import ReportEntry, list_reports, report_path

LINKED = 10  # most recent reports listed in the stats view


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/reports/{filename}", _report)


async def visible_reports(request: web.Request, region: str | None) -> list[ReportEntry]:
    """Reports a user of ``region`` may read, newest first."""
    directory = request.app[CONFIG].reports_dir
    if directory is None:
        return []
    entries = await asyncio.get_running_loop().run_in_executor(None, list_reports, directory)
    return [e for e in entries if e.visible_to(region)]


def link_stats(body: dict[str, Any], reports: list[ReportEntry]) -> dict[str, Any]:
    """The stats JSON with the last reports, and per row its last backtest and tune."""
    body["reports"] = [e.to_dict() for e in reports[:LINKED]]
    for row in body.get("rows", []):
        for kind in ("backtest", "tune"):
            last = next(
                (e for e in reports if e.kind == kind and e.covers(row["county"], row["rule"])),
                None,
            )
            row[f"last_{kind}"] = None if last is None else last.to_dict()["html"]
    return body


async def _report(request: web.Request) -> web.StreamResponse:
    user = user_of(request)
    directory = request.app[CONFIG].reports_dir
    found = None
    if directory is not None:
        found = await asyncio.get_running_loop().run_in_executor(
            None, report_path, directory, request.match_info["filename"]
        )
    if found is None or not found[0].visible_to(user.region):
        raise web.HTTPNotFound(text="no such report in your region")
    path = found[1]
    kind = "text/html" if path.suffix == ".html" else "application/json"
    return web.FileResponse(path, headers={"Content-Type": f"{kind}; charset=utf-8"})
