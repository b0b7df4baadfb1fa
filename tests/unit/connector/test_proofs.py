"""GetReceipt's edge: a verifier that does not answer is unavailable (retry), one that does not know
the message yet is not (a real HTTP server on a local port; no broker)."""

from __future__ import annotations

import base64
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from hub.connector.proofs import locate, receipt
from hub.errors import UnavailableError, VerifierUnavailableError

MID = "0190f5a2-0000-7000-8000-000000000001"
LOOKUP = {"sender": "court-bj-chaoyang", "recipients": ["bank-icbc-bj"], "index": 7,
          "leaf_hash": base64.b64encode(b"\x01" * 32).decode(),
          "checkpoint": "hub.test/consortium/hub.ledger/3\n8\nroot\n"}


def _server(routes: dict[str, tuple[int, bytes]]) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = routes.get(self.path, (404, b"not found"))
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def knows_it() -> Iterator[str]:
    yield from _server({f"/lookup/message/{MID}": (200, json.dumps(LOOKUP).encode()),
                        f"/proof/message/{MID}": (200, b"c2sp.org/tlog-proof@v1\nindex 7\n")})


@pytest.fixture
def knows_nothing() -> Iterator[str]:
    yield from _server({})


@pytest.fixture
def failing() -> Iterator[str]:
    yield from _server({f"/lookup/message/{MID}": (500, b"oops")})


def _closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def test_the_verifier_that_knows_the_message_gives_its_proof(knows_nothing: str, knows_it: str):
    located = locate((knows_nothing, knows_it), MID)
    assert located is not None and located.url == knows_it
    assert located.sender == "court-bj-chaoyang" and located.recipients == ("bank-icbc-bj",)
    answer = receipt(located, MID)
    assert (answer.ledger_partition, answer.ledger_index) == (3, 7)
    assert answer.leaf_hash == "01" * 32
    assert answer.tlog_proof.startswith("c2sp.org/tlog-proof@v1")


def test_a_message_no_verifier_knows_yet_is_not_found(knows_nothing: str):
    assert locate((knows_nothing,), MID) is None


def test_a_verifier_that_does_not_answer_is_unavailable():
    with pytest.raises(VerifierUnavailableError) as caught:
        locate((_closed_port(),), MID)
    assert isinstance(caught.value, UnavailableError)
    assert "did not answer" in caught.value.diagnostics()


def test_a_verifier_answering_with_a_server_error_is_unavailable(failing: str, knows_nothing: str):
    with pytest.raises(VerifierUnavailableError, match="answered 500"):
        locate((failing, knows_nothing), MID)


def test_a_verifier_that_knows_the_message_wins_over_one_that_is_down(knows_it: str):
    located = locate((_closed_port(), knows_it), MID)
    assert located is not None and located.url == knows_it
