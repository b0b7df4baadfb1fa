"""The witness over HTTP (c2sp.org/tlog-witness): ``POST /add-checkpoint`` and ``GET /healthz``.

:class:`Witness` ties the pure decision (:mod:`hub.witness.core`) to the persisted
state (:mod:`hub.witness.state`) under the origin's lock: read the latest state,
decide, persist, and only then answer. :func:`serve` wraps it in a threading HTTP
server with keep-alive (HTTP/1.1). Refusals become the status codes of the spec; a
409 carries the latest size as ``text/x.tlog.size``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from hub.errors import HubError, PortInUseError
from hub.ledger import note
from hub.ledger.cosignature import CosignatureSigner
from hub.witness.core import Accepted, Conflict, WitnessRefusal, decide, parse_request
from hub.witness.state import WitnessState

__all__ = ["MAX_BODY", "SIZE_CONTENT_TYPE", "Witness", "WitnessServer", "serve"]

log = logging.getLogger("hub.witness")

#: Largest request body accepted: a checkpoint with its signatures and a 63-line proof fit easily.
MAX_BODY = 256 * 1024

#: Content type of a 409 body (tlog-witness, "add-checkpoint").
SIZE_CONTENT_TYPE = "text/x.tlog.size"


class Witness:
    """A witness: its cosigning key, the logs it knows (origin -> trusted keys) and its state."""

    def __init__(
        self,
        signer: CosignatureSigner,
        logs: Mapping[str, Sequence[note.Verifier]],
        state: WitnessState,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.signer = signer
        self.logs = {origin: tuple(keys) for origin, keys in logs.items()}
        self.state = state
        self._clock = clock

    def add_checkpoint(self, body: bytes) -> Accepted:
        """Handle one request body: cosign and persist, or raise a :class:`WitnessRefusal`."""
        request = parse_request(body)
        with self.state.lock(request.origin):
            try:
                accepted = decide(
                    request,
                    self.state.get(request.origin),
                    self.logs.get(request.origin),
                    self.signer,
                    int(self._clock()),
                )
            except WitnessRefusal as refusal:
                if refusal.status in (409, 422):  # signed by the log: possible evidence of misbehaviour
                    log.warning(
                        "refused a checkpoint for %s (%d): %s\n%s",
                        request.origin,
                        refusal.status,
                        refusal,
                        request.signed_checkpoint.decode("utf-8", "replace"),
                    )
                raise
            self.state.put(request.origin, accepted.state)
        log.info("cosigned %s at size %d", request.origin, accepted.checkpoint.size)
        return accepted


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30  # seconds a connection may idle or dribble its body
    server: WitnessServer

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def _reply(
        self,
        status: int,
        body: bytes,
        content_type: str = "text/plain; charset=utf-8",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/healthz":
            self._reply(200, b"ok\n")
        elif self.path == "/add-checkpoint":
            self._reply(405, b"use POST\n", headers={"Allow": "POST"})
        else:
            self._reply(404, b"not found\n")

    do_HEAD = do_GET

    def do_POST(self) -> None:
        if self.path != "/add-checkpoint":
            self._reply(404, b"not found\n")
            return
        length_header = self.headers.get("Content-Length")
        if length_header is None or not (length_header.isascii() and length_header.isdigit()):
            self.close_connection = True
            self._reply(411, b"a Content-Length is required\n")
            return
        length = int(length_header)
        if length > MAX_BODY:
            self.close_connection = True
            self._reply(413, b"request body too large\n")
            return
        body = self.rfile.read(length)
        try:
            accepted = self.server.witness.add_checkpoint(body)
        except Conflict as refusal:
            self._reply(409, b"%d\n" % refusal.latest_size, SIZE_CONTENT_TYPE)
        except WitnessRefusal as refusal:
            self._reply(refusal.status, f"{refusal}\n".encode())
        except HubError as exc:  # the state could not be persisted: no cosignature
            log.error("add-checkpoint failed: %s", exc.diagnostics())
            self._reply(500, b"internal error\n")
        else:
            self._reply(200, accepted.cosignature.encode("utf-8"))


class WitnessServer(ThreadingHTTPServer):
    """A threading HTTP server holding the :class:`Witness` it serves."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], witness: Witness) -> None:
        self.witness = witness
        super().__init__(address, _Handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])


def serve(witness: Witness, host: str, port: int) -> tuple[WitnessServer, threading.Thread]:
    """Bind ``host:port`` (0: any free port) and serve in a background thread."""
    try:
        server = WitnessServer((host, port), witness)
    except OSError as exc:
        raise PortInUseError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    thread = threading.Thread(target=server.serve_forever, name="witness-http", daemon=True)
    thread.start()
    return server, thread
