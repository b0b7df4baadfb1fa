"""The verifier's HTTP API (stdlib ``http.server``; no framework needed for a read-only API).

====================================  ===========================================================
GET /checkpoint                       the latest published signed checkpoint (text/plain)
GET /tile/<L>/<N>[.p/<W>]             tlog-tiles Merkle tiles; full ones cached as immutable
GET /tile/entries/<N>[.p/<W>]         tlog-tiles entry bundles (the ledger entries' bytes)
GET /proof/inclusion?index=I&size=N   RFC 9162 inclusion proof, JSON with base64 hashes
GET /proof/consistency?old=M&size=N   RFC 9162 consistency proof, JSON with base64 hashes
GET /lookup/message/<uuid>            where a message is: index, leaf hash, sender, type, times,
                                      and its inclusion proof in the latest checkpoint (JSON)
GET /lookup/document/<sha256 hex>     the same for every entry carrying that document hash
GET /proof/message/<uuid>             the message's C2SP tlog-proof (hub.verifier.proofs)
GET /log-key                          the log's signed-note verifier key(s), one a line (text/plain)
GET /  and  /static/<file>            the public verification page (hub/verifier/static): the
                                      browser hashes a file locally and checks its entry there
GET /healthz                          200 when following, 503 with the problems otherwise; with
                                      witnesses, each one's last cosigned size and last error
====================================  ===========================================================

Sizes above the published checkpoint's are 404: nothing is served for a tree size that
was not published. Malformed input is 400. Every error is JSON ``{"error": "..."}``.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from hub.envelope import Envelope
from hub.errors import ConfigError, DecodeError, HubError, PortInUseError
from hub.ledger import tiles
from hub.ledger.entry import LedgerEntry
from hub.ledger.merkle import leaf_hash
from hub.timeutil import iso
from hub.verifier.follow import Log, Published
from hub.verifier.proofs import build_proof
from hub.verifier.witnesses import Cosigner

log = logging.getLogger(__name__)

IMMUTABLE = "public, max-age=31536000, immutable"
#: the public verification page's files, and their content types (nothing else is served from there)
STATIC = Path(__file__).with_name("static")
STATIC_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                ".css": "text/css; charset=utf-8"}
#: sent with every answer: the page runs only its own script and talks only to this verifier
CSP = ("default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; "
       "object-src 'none'")
SHORT = "no-cache"


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    cache: str = SHORT


class HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _json(value: Any, status: int = 200) -> Response:
    return Response(status, json.dumps(value, ensure_ascii=False, indent=1).encode() + b"\n")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _int(query: dict[str, list[str]], name: str) -> int:
    values = query.get(name)
    if not values or len(values) != 1 or not values[0].isdigit() or len(values[0]) > 20:
        raise HttpError(400, f"query parameter {name} must be one non-negative integer")
    return int(values[0])


class Api:
    """The answers, from the published tiles and the in-memory index of a :class:`Log`."""

    def __init__(self, state: Log, cosigner: Cosigner | None = None) -> None:
        self.state = state
        self.cosigner = cosigner
        self.routes: list[tuple[str, Callable[[str, dict[str, list[str]]], Response]]] = [
            ("/checkpoint", self.checkpoint), ("/healthz", self.healthz),
            ("/tile/", self.tile), ("/proof/inclusion", self.inclusion),
            ("/proof/consistency", self.consistency), ("/proof/message/", self.proof_message),
            ("/lookup/message/", self.lookup_message), ("/lookup/document/", self.lookup_document),
            ("/log-key", self.log_key), ("/static/", self.static),
            ("/", self.page),  # last: "/" prefixes every path
        ]

    def handle(self, target: str) -> Response:
        url = urlsplit(target)
        query = parse_qs(url.query, keep_blank_values=True)
        try:
            for prefix, fn in self.routes:
                if url.path == prefix or (prefix.endswith("/") and url.path.startswith(prefix)):
                    return fn(url.path[len(prefix):], query)
            raise HttpError(404, f"no such resource: {url.path}")
        except HttpError as exc:
            return _json({"error": str(exc)}, exc.status)
        except HubError as exc:
            log.error("serving %s: %s", url.path, exc.diagnostics())
            return _json({"error": exc.diagnostics()}, 500)

    def _published(self) -> Published:
        pub = self.state.published
        if pub is None:
            raise HttpError(404, "no checkpoint published yet")
        return pub

    def _size(self, size: int) -> int:
        pub = self._published()
        if size > pub.size:
            raise HttpError(404, f"tree size {size} is larger than the published size {pub.size}")
        return size

    def _reader(self, size: int) -> tiles.TileReader:
        return tiles.TileReader(size, self.state.store.read_tile)

    # --- routes ---------------------------------------------------------------------------------

    def checkpoint(self, _: str, __: dict[str, list[str]]) -> Response:
        return Response(200, self._published().note, "text/plain; charset=utf-8")

    def healthz(self, _: str, __: dict[str, list[str]]) -> Response:
        pub = self.state.published
        body = {"origin": self.state.origin, "published_size": pub.size if pub else 0,
                "entries_read": self.state.entries_read, "checkpoints_refused": self.state.refused,
                "halted": self.state.halted, "problems": list(self.state.problems)}
        if self.cosigner is not None:  # a witness down is reported, never a failure of the verifier
            body.update(self.cosigner.health())
        return _json({"status": "halted" if self.state.halted else "ok", **body},
                     503 if self.state.halted else 200)

    def tile(self, rest: str, _: dict[str, list[str]]) -> Response:
        path = "tile/" + rest
        pub = self._published()
        try:
            if rest.startswith("entries/"):
                index, width = tiles.parse_entries_path(path)
                count = pub.size
            else:
                t = tiles.parse_tile_path(path)
                index, width, count = t.index, t.width, pub.size >> (tiles.TILE_HEIGHT * t.level)
        except DecodeError as exc:
            raise HttpError(400, exc.diagnostics()) from exc
        if index * tiles.TILE_WIDTH + width > count:
            raise HttpError(404, f"{path} is beyond the published tree size {pub.size}")
        data = self.state.store.read(path)
        if data is None:
            raise HttpError(404, f"{path} not found")
        full = width == tiles.TILE_WIDTH
        return Response(200, data, "application/octet-stream", IMMUTABLE if full else SHORT)

    def inclusion(self, _: str, query: dict[str, list[str]]) -> Response:
        index, size = _int(query, "index"), self._size(_int(query, "size"))
        if index >= size:
            raise HttpError(400, f"index {index} is not below tree size {size}")
        reader = self._reader(size)
        return _json({"index": index, "size": size, "leaf_hash": _b64(reader.leaf_hash(index)),
                      "proof": [_b64(h) for h in reader.inclusion_proof(index)]})

    def consistency(self, _: str, query: dict[str, list[str]]) -> Response:
        old, size = _int(query, "old"), self._size(_int(query, "size"))
        if not 0 < old <= size:
            raise HttpError(400, f"old size must be within 1..{size}, not {old}")
        return _json({"old": old, "size": size,
                      "proof": [_b64(h) for h in self._reader(size).consistency_proof(old)]})

    def _message_index(self, text: str) -> int:
        try:
            mid = uuid.UUID(text)
        except ValueError:
            raise HttpError(400, f"{text!r} is not a message id (a UUID)") from None
        index = self.state.index.by_message.get(mid)
        if index is None:
            raise HttpError(404, f"message {mid} is not on this ledger partition")
        return index

    def _located(self, index: int) -> tuple[Published, bytes]:
        pub = self._published()
        if index >= pub.size:
            raise HttpError(404, f"ledger index {index} is not yet covered by a published checkpoint "
                                 f"(size {pub.size}); try again shortly")
        return pub, self.state.store.entry(index, pub.size)

    def _describe(self, index: int) -> dict[str, Any]:
        pub, raw = self._located(index)
        entry = LedgerEntry.from_bytes(raw)
        env = Envelope.from_bytes(entry.envelope)
        return {"index": index, "leaf_hash": _b64(leaf_hash(raw)), "message_id": str(env.message_id),
                "sender": env.sender, "type": env.type, "recipients": list(env.recipients),
                "created_at": iso(env.created_at), "notarised_at": iso(entry.notarised_at),
                "tree_size": pub.size, "checkpoint": pub.note.decode("utf-8"),
                "inclusion_proof": [_b64(h) for h in self._reader(pub.size).inclusion_proof(index)],
                "entry": _b64(raw)}  # the ledger entry's bytes, so a client can hash the leaf itself

    def log_key(self, _: str, __: dict[str, list[str]]) -> Response:
        vkeys = "".join(v.to_vkey() + "\n" for v in self.state.verifiers)
        return Response(200, vkeys.encode(), "text/plain; charset=utf-8")

    def static(self, rest: str, _: dict[str, list[str]]) -> Response:
        ctype = STATIC_TYPES.get(Path(rest).suffix)
        if "/" in rest or rest.startswith(".") or ctype is None or not (STATIC / rest).is_file():
            raise HttpError(404, f"no such resource: /static/{rest}")
        return Response(200, (STATIC / rest).read_bytes(), ctype)

    def page(self, rest: str, query: dict[str, list[str]]) -> Response:
        if rest not in ("", "index.html"):
            raise HttpError(404, f"no such resource: /{rest}")
        return self.static("index.html", query)

    def lookup_message(self, rest: str, _: dict[str, list[str]]) -> Response:
        return _json(self._describe(self._message_index(rest)))

    def lookup_document(self, rest: str, _: dict[str, list[str]]) -> Response:
        text = rest.lower()
        if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
            raise HttpError(400, "a document hash is 64 hexadecimal digits (SHA-256)")
        indexes = self.state.index.by_document.get(bytes.fromhex(text), [])
        pub = self.state.published
        found = [self._describe(i) for i in indexes if pub is not None and i < pub.size]
        if not found:
            raise HttpError(404, f"no published ledger entry carries document {text}")
        return _json({"document_sha256": text, "entries": found})

    def proof_message(self, rest: str, _: dict[str, list[str]]) -> Response:
        index = self._message_index(rest)
        pub, raw = self._located(index)
        proof = build_proof(raw, index, self._reader(pub.size).inclusion_proof(index), pub.note)
        return Response(200, proof, "text/plain; charset=utf-8")


def _handler(api: Api) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "hub-verifier"
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._send(api.handle(self.path))

        def do_HEAD(self) -> None:
            self._send(api.handle(self.path), body=False)

        def _send(self, r: Response, body: bool = True) -> None:
            self.send_response(r.status)
            self.send_header("Content-Type", r.content_type)
            self.send_header("Content-Length", str(len(r.body)))
            self.send_header("Cache-Control", r.cache)
            self.send_header("Access-Control-Allow-Origin", "*")
            self.send_header("Content-Security-Policy", CSP)
            self.send_header("X-Content-Type-Options", "nosniff")
            self.end_headers()
            if body:
                self.wfile.write(r.body)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("%s " + format, self.address_string(), *args)

    return Handler


def serve(api: Api, listen: str) -> tuple[ThreadingHTTPServer, int, threading.Thread]:
    """Bind ``host:port`` (port 0: any) and serve in a daemon thread; (server, bound port, thread)."""
    host, _, port = listen.rpartition(":")
    try:
        server = ThreadingHTTPServer((host or "127.0.0.1", int(port)), _handler(api))
    except ValueError:
        raise ConfigError(f"--listen {listen!r} is not host:port") from None
    except OSError as exc:
        raise PortInUseError(f"cannot listen on {listen}: {exc.strerror}") from exc
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="verifier-http", daemon=True)
    thread.start()
    return server, int(server.server_address[1]), thread
