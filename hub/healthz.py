"""``GET /healthz`` over HTTP for a service with no HTTP API of its own (the sequencer).

The answer is JSON: ``{"status": "SERVING", ...}`` with 200, or ``{"status": "NOT_SERVING",
"reason": "...", ...}`` with 503, so a Kubernetes probe, a load balancer or ``curl -f`` reads it
without parsing. Any other path is 404.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from hub.errors import ConfigError, PortInUseError

#: what the service reports: (serving, fields for the JSON answer)
Report = Callable[[], tuple[bool, dict[str, Any]]]


class HealthServer(ThreadingHTTPServer):
    """Answers ``GET /healthz`` with what ``report()`` says; :meth:`close` stops it."""

    daemon_threads = True

    def __init__(self, listen: str, report: Report) -> None:
        host, sep, port = listen.rpartition(":")
        if not sep or not port.isdigit():
            raise ConfigError(f"health listen address {listen!r} must be host:port")
        self.report = report
        try:
            super().__init__((host or "127.0.0.1", int(port)), _Handler)
        except OSError as exc:
            raise PortInUseError(f"cannot listen on {listen} for /healthz: {exc.strerror}") from exc
        self._thread = threading.Thread(target=self.serve_forever, name="healthz", daemon=True)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def start(self) -> HealthServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: HealthServer

    def do_GET(self) -> None:
        if self.path != "/healthz":
            self._answer(404, {"error": "not found: GET /healthz"})
            return
        serving, fields = self.server.report()
        self._answer(200 if serving else 503, {"status": "SERVING" if serving else "NOT_SERVING", **fields})

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body, sort_keys=True).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # a probe every few seconds is not worth a log line
