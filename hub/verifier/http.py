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
GET /healthz                          200 when following, 503 with the problems otherwise (halted
                                      on a broken log; "unreachable" while Kafka does not answer,
                                      what is published still served); with witnesses, each
                                      one's last cosigned size and last error
====================================  ===========================================================

Sizes above the published checkpoint's are 404: nothing is served for a tree size that
was not published. Malformed input is 400. Every error is JSON ``{"error": "..."}``.

:class:`Answers` holds the transport-free answers (raising :class:`Refused` with a :class:`Why`);
:class:`Api` maps them to HTTP, and ``hub.verifier.rpc`` to gRPC (proto/hub/v1/verifier.proto).
"""

from __future__ import annotations

import base64
import enum
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

from hub.errors import ConfigError, DecodeError, HubError, PortInUseError
from hub.ledger import tile_paths, tiles
from hub.ledger.entry import LedgerEntry
from hub.ledger.merkle import leaf_hash
from hub.standard.envelope import Envelope
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
    """An HTTP answer: status, body, content type and Cache-Control value."""

    status: int
    body: bytes
    content_type: str = "application/json"
    cache: str = SHORT


class Why(enum.Enum):
    """Why a request is refused; each transport maps it to its own status (:data:`HTTP_STATUS`,
    and ``hub.verifier.rpc``'s gRPC codes)."""

    #: malformed input
    INVALID = "invalid"
    #: no such message, document or resource
    NOT_FOUND = "not found"
    #: a tree size or ledger index beyond the published checkpoint (it may be published later)
    UNPUBLISHED = "unpublished"
    #: no checkpoint published yet
    NO_CHECKPOINT = "no checkpoint"


HTTP_STATUS = {Why.INVALID: 400, Why.NOT_FOUND: 404, Why.UNPUBLISHED: 404, Why.NO_CHECKPOINT: 404}


class Refused(Exception):
    """A request the verifier will not answer, and why (transport-free)."""

    def __init__(self, why: Why, message: str) -> None:
        super().__init__(message)
        self.why = why

    @property
    def status(self) -> int:
        return HTTP_STATUS[self.why]


def _json(value: Any, status: int = 200) -> Response:
    return Response(status, json.dumps(value, ensure_ascii=False, indent=1).encode() + b"\n")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _int(query: dict[str, list[str]], name: str) -> int:
    values = query.get(name)
    if not values or len(values) != 1 or not (values[0].isascii() and values[0].isdigit()) or len(values[0]) > 20:
        raise Refused(Why.INVALID, f"query parameter {name} must be one non-negative integer")
    return int(values[0])


@dataclass(frozen=True)
class InclusionProof:
    """An RFC 9162 inclusion proof of leaf ``index`` (with its leaf hash) in the tree of ``size``."""

    index: int
    size: int
    leaf_hash: bytes
    hashes: list[bytes]


@dataclass(frozen=True)
class ConsistencyProof:
    """An RFC 9162 consistency proof from the tree of ``old`` leaves to the tree of ``size``."""

    old: int
    size: int
    hashes: list[bytes]


@dataclass(frozen=True)
class Located:
    """A published ledger entry with its inclusion proof in the published checkpoint."""

    index: int
    entry: bytes
    ledger_entry: LedgerEntry
    envelope: Envelope
    published: Published
    inclusion_proof: list[bytes]

    @property
    def leaf_hash(self) -> bytes:
        return leaf_hash(self.entry)


@dataclass(frozen=True)
class MessageReceipt:
    """A message's ledger index, the published tree size, and its C2SP tlog-proof in that tree."""

    index: int
    size: int
    tlog_proof: bytes


def parse_message_id(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise Refused(Why.INVALID, f"{text!r} is not a message id (a UUID)") from None


def parse_document_hash(text: str) -> bytes:
    """A document's SHA-256 from its 64 hexadecimal digits (either case)."""
    text = text.lower()
    if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
        raise Refused(Why.INVALID, "a document hash is 64 hexadecimal digits (SHA-256)")
    return bytes.fromhex(text)


class Answers:
    """The verifier's answers, from the published tiles and the in-memory index of a :class:`Log`.

    Transport-free: shared by the HTTP :class:`Api` and the gRPC service (``hub.verifier.rpc``).
    Every answer is for one published checkpoint, read once; a request the verifier will not
    answer raises :class:`Refused`.
    """

    def __init__(self, state: Log, cosigner: Cosigner | None = None,
                 kafka_problem: Callable[[], str | None] = lambda: None) -> None:
        self.state = state
        self.cosigner = cosigner
        #: why the ledger cannot be followed now (Kafka does not answer), or None
        self.kafka_problem = kafka_problem

    def serving(self) -> bool:
        """Following the ledger: not halted, and Kafka answers."""
        return not self.state.halted and self.kafka_problem() is None

    def published(self) -> Published:
        pub = self.state.published
        if pub is None:
            raise Refused(Why.NO_CHECKPOINT, "no checkpoint published yet")
        return pub

    def _size(self, size: int) -> int:
        pub = self.published()
        if size > pub.size:
            raise Refused(Why.UNPUBLISHED, f"tree size {size} is larger than the published size {pub.size}")
        return size

    def _reader(self, size: int) -> tiles.TileReader:
        return tiles.TileReader(size, self.state.store.read_tile)

    def tile(self, path: str) -> tuple[bytes, bool]:
        """The published tile or entry bundle at a tlog-tiles ``path`` (``tile/...``), and whether it
        is full (immutable)."""
        pub = self.published()
        try:
            if path.startswith("tile/entries/"):
                index, width = tile_paths.parse_entries_path(path)
                count = pub.size
            else:
                t = tile_paths.parse_tile_path(path)
                index, width, count = t.index, t.width, pub.size >> (tile_paths.TILE_HEIGHT * t.level)
        except DecodeError as exc:
            raise Refused(Why.INVALID, exc.diagnostics()) from exc
        if index * tile_paths.TILE_WIDTH + width > count:
            raise Refused(Why.UNPUBLISHED, f"{path} is beyond the published tree size {pub.size}")
        data = self.state.store.read(path)
        if data is None:
            raise Refused(Why.NOT_FOUND, f"{path} not found")
        return data, width == tile_paths.TILE_WIDTH

    def inclusion_proof(self, index: int, size: int) -> InclusionProof:
        size = self._size(size)
        if index >= size:
            raise Refused(Why.INVALID, f"index {index} is not below tree size {size}")
        reader = self._reader(size)
        return InclusionProof(index, size, reader.leaf_hash(index), reader.inclusion_proof(index))

    def consistency_proof(self, old: int, size: int) -> ConsistencyProof:
        size = self._size(size)
        if not 0 < old <= size:
            raise Refused(Why.INVALID, f"old size must be within 1..{size}, not {old}")
        return ConsistencyProof(old, size, self._reader(size).consistency_proof(old))

    def message_index(self, mid: uuid.UUID) -> int:
        index = self.state.index.by_message.get(mid)
        if index is None:
            raise Refused(Why.NOT_FOUND, f"message {mid} is not on this ledger partition")
        return index

    def _entry(self, index: int) -> tuple[Published, bytes]:
        pub = self.published()
        if index >= pub.size:
            raise Refused(Why.UNPUBLISHED, f"ledger index {index} is not yet covered by a published "
                                           f"checkpoint (size {pub.size}); try again shortly")
        return pub, self.state.store.entry(index, pub.size)

    def locate(self, index: int) -> Located:
        """The published entry at ``index`` with its inclusion proof in the published checkpoint."""
        pub, raw = self._entry(index)
        entry = LedgerEntry.from_bytes(raw)
        return Located(index, raw, entry, Envelope.from_bytes(entry.envelope), pub,
                       self._reader(pub.size).inclusion_proof(index))

    def lookup_message(self, mid: uuid.UUID) -> Located:
        return self.locate(self.message_index(mid))

    def lookup_document(self, sha256: bytes) -> list[Located]:
        """Every published entry carrying the document hash, in ledger order (at least one)."""
        pub = self.published()
        found = [self.locate(i) for i in self.state.index.by_document.get(sha256, []) if i < pub.size]
        if not found:
            raise Refused(Why.NOT_FOUND, f"no published ledger entry carries document {sha256.hex()}")
        return found

    def receipt(self, mid: uuid.UUID) -> MessageReceipt:
        """The message's C2SP tlog-proof, with its entry as the extra data."""
        index = self.message_index(mid)
        pub, raw = self._entry(index)
        proof = build_proof(raw, index, self._reader(pub.size).inclusion_proof(index), pub.note)
        return MessageReceipt(index, pub.size, proof)


def _describe(found: Located) -> dict[str, Any]:
    env, pub = found.envelope, found.published
    return {"index": found.index, "leaf_hash": _b64(found.leaf_hash), "message_id": str(env.message_id),
            "sender": env.sender, "type": env.type, "recipients": list(env.recipients),
            "created_at": iso(env.created_at), "notarised_at": iso(found.ledger_entry.notarised_at),
            "tree_size": pub.size, "checkpoint": pub.note.decode("utf-8"),
            "inclusion_proof": [_b64(h) for h in found.inclusion_proof],
            "entry": _b64(found.entry)}  # the ledger entry's bytes, so a client can hash the leaf itself


class Api(Answers):
    """The HTTP routes over :class:`Answers`."""

    def __init__(self, state: Log, cosigner: Cosigner | None = None,
                 kafka_problem: Callable[[], str | None] = lambda: None) -> None:
        super().__init__(state, cosigner, kafka_problem)
        self.routes: list[tuple[str, Callable[[str, dict[str, list[str]]], Response]]] = [
            ("/checkpoint", self.get_checkpoint), ("/healthz", self.healthz),
            ("/tile/", self.get_tile), ("/proof/inclusion", self.get_inclusion),
            ("/proof/consistency", self.get_consistency), ("/proof/message/", self.proof_message),
            ("/lookup/message/", self.get_lookup_message), ("/lookup/document/", self.get_lookup_document),
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
            raise Refused(Why.NOT_FOUND, f"no such resource: {url.path}")
        except Refused as exc:
            return _json({"error": str(exc)}, exc.status)
        except HubError as exc:
            log.error("serving %s: %s", url.path, exc.diagnostics())
            return _json({"error": exc.diagnostics()}, 500)

    # --- routes ---------------------------------------------------------------------------------

    def get_checkpoint(self, _: str, __: dict[str, list[str]]) -> Response:
        return Response(200, self.published().note, "text/plain; charset=utf-8")

    def healthz(self, _: str, __: dict[str, list[str]]) -> Response:
        pub = self.state.published
        body = {"origin": self.state.origin, "published_size": pub.size if pub else 0,
                "entries_read": self.state.entries_read, "checkpoints_refused": self.state.refused,
                "halted": self.state.halted, "problems": list(self.state.problems)}
        if self.cosigner is not None:  # a witness down is reported, never a failure of the verifier
            body.update(self.cosigner.health())
        kafka = self.kafka_problem()
        if kafka is not None:  # what is published is still served; nothing new can be
            body["kafka"] = kafka
        status = "halted" if self.state.halted else "unreachable" if kafka is not None else "ok"
        return _json({"status": status, **body}, 200 if status == "ok" else 503)

    def get_tile(self, rest: str, _: dict[str, list[str]]) -> Response:
        data, full = self.tile("tile/" + rest)
        return Response(200, data, "application/octet-stream", IMMUTABLE if full else SHORT)

    def get_inclusion(self, _: str, query: dict[str, list[str]]) -> Response:
        index, size = _int(query, "index"), _int(query, "size")
        p = self.inclusion_proof(index, size)
        return _json({"index": p.index, "size": p.size, "leaf_hash": _b64(p.leaf_hash),
                      "proof": [_b64(h) for h in p.hashes]})

    def get_consistency(self, _: str, query: dict[str, list[str]]) -> Response:
        old, size = _int(query, "old"), _int(query, "size")
        p = self.consistency_proof(old, size)
        return _json({"old": p.old, "size": p.size, "proof": [_b64(h) for h in p.hashes]})

    def log_key(self, _: str, __: dict[str, list[str]]) -> Response:
        vkeys = "".join(v.to_vkey() + "\n" for v in self.state.verifiers)
        return Response(200, vkeys.encode(), "text/plain; charset=utf-8")

    def static(self, rest: str, _: dict[str, list[str]]) -> Response:
        ctype = STATIC_TYPES.get(Path(rest).suffix)
        if "/" in rest or rest.startswith(".") or ctype is None or not (STATIC / rest).is_file():
            raise Refused(Why.NOT_FOUND, f"no such resource: /static/{rest}")
        return Response(200, (STATIC / rest).read_bytes(), ctype)

    def page(self, rest: str, query: dict[str, list[str]]) -> Response:
        if rest not in ("", "index.html"):
            raise Refused(Why.NOT_FOUND, f"no such resource: /{rest}")
        return self.static("index.html", query)

    def get_lookup_message(self, rest: str, _: dict[str, list[str]]) -> Response:
        return _json(_describe(self.lookup_message(parse_message_id(rest))))

    def get_lookup_document(self, rest: str, _: dict[str, list[str]]) -> Response:
        sha256 = parse_document_hash(rest)
        return _json({"document_sha256": sha256.hex(),
                      "entries": [_describe(f) for f in self.lookup_document(sha256)]})

    def proof_message(self, rest: str, _: dict[str, list[str]]) -> Response:
        return Response(200, self.receipt(parse_message_id(rest)).tlog_proof, "text/plain; charset=utf-8")


def _handler(api: Api) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        """The HTTP server's request handler: GET and HEAD answered by ``api``."""

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
