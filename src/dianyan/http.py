"""A small HTTP server for the embedded runtime: /metrics, /alerts and /healthz.

Runs in a daemon thread beside the pipeline so operators can scrape it while a replay is
under way. The inspector feed (issue 4) grows out of this.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from dianyan.metrics import Metrics

AlertLister = Callable[[str | None, str | None], list[dict]]


def make_server(
    host: str, port: int, metrics: Metrics, list_alerts: AlertLister
) -> ThreadingHTTPServer:
    """An HTTP server (not started) bound to host:port; port 0 picks a free one."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlparse(self.path)
            if url.path == "/metrics":
                self._send(200, CONTENT_TYPE_LATEST, generate_latest(metrics.registry))
            elif url.path == "/healthz":
                self._send(200, "text/plain; charset=utf-8", b"ok\n")
            elif url.path == "/alerts":
                q = parse_qs(url.query)
                region = q.get("region", [None])[0]
                rule = q.get("rule", [None])[0]
                body = json.dumps(list_alerts(region, rule), ensure_ascii=False).encode()
                self._send(200, "application/json; charset=utf-8", body)
            else:
                self._send(404, "text/plain; charset=utf-8", b"not found\n")

        def _send(self, status: int, ctype: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    return ThreadingHTTPServer((host, port), Handler)


def serve_in_background(server: ThreadingHTTPServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, name="dianyan-http", daemon=True)
    thread.start()
    return thread
