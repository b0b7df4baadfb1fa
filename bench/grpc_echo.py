"""The gRPC baseline of `make bench`: a Python gRPC server whose one stream method echoes every
message back, unchanged, on the server settings the connector uses (hub.rpc.server).

Usage: grpc_echo.py PORT_FILE. It listens on 127.0.0.1 (a free port, written to PORT_FILE) until
SIGTERM.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc

from hub.rpc.server import create_server


def echo(requests: Iterator[bytes], _context: grpc.ServicerContext) -> Iterator[bytes]:
    yield from requests


def main() -> None:
    server, port, _ = create_server("127.0.0.1:0", [])
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(
        "bench.Echo", {"Stream": grpc.stream_stream_rpc_method_handler(echo)})])
    server.start()
    Path(sys.argv[1]).write_text(str(port))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    server.stop(2).wait()


if __name__ == "__main__":
    main()
