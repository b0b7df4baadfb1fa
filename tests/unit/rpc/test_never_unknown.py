"""A handler's unforeseen failure is answered INTERNAL with a clear line, never gRPC's UNKNOWN; a
call the handler ended itself keeps its status; a HubError gets the status of its cause. Over a
real gRPC server on a loopback port, called by a real client."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest

from hub.errors import BrokerUnavailableError
from hub.rpc.server import create_server


def _fail(request: bytes, context: grpc.ServicerContext) -> bytes:
    raise ValueError("timestamp out of range for platform time_t")


def _abort(request: bytes, context: grpc.ServicerContext) -> bytes:
    context.abort(grpc.StatusCode.OUT_OF_RANGE, "past the end")
    return b""


def _unavailable(request: bytes, context: grpc.ServicerContext) -> bytes:
    raise BrokerUnavailableError("no broker answered")


def _stream_fails(request: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:
    yield b"one"
    raise KeyError("boom")


@pytest.fixture(scope="module")
def channel() -> Iterator[grpc.Channel]:
    server, port, _ = create_server("127.0.0.1:0", [])
    handlers = {
        "Fail": grpc.unary_unary_rpc_method_handler(_fail),
        "Abort": grpc.unary_unary_rpc_method_handler(_abort),
        "Unavailable": grpc.unary_unary_rpc_method_handler(_unavailable),
        "StreamFails": grpc.unary_stream_rpc_method_handler(_stream_fails),
    }
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("test.Edges", handlers)])
    server.start()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        yield ch
    server.stop(0)


def _call(channel: grpc.Channel, method: str) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        channel.unary_unary(f"/test.Edges/{method}")(b"", timeout=10)
    return caught.value


def test_an_unforeseen_failure_is_internal_with_a_line_of_our_own(channel: grpc.Channel) -> None:
    err = _call(channel, "Fail")
    assert err.code() == grpc.StatusCode.INTERNAL
    assert "ValueError" in err.details() and "time_t" not in err.details()


def test_a_call_the_handler_aborted_keeps_its_status(channel: grpc.Channel) -> None:
    err = _call(channel, "Abort")
    assert (err.code(), err.details()) == (grpc.StatusCode.OUT_OF_RANGE, "past the end")


def test_a_hub_error_gets_the_status_of_its_cause(channel: grpc.Channel) -> None:
    err = _call(channel, "Unavailable")
    assert err.code() == grpc.StatusCode.UNAVAILABLE and "no broker answered" in err.details()


def test_a_stream_that_fails_midway_ends_internal(channel: grpc.Channel) -> None:
    results = channel.unary_stream("/test.Edges/StreamFails")(b"", timeout=10)
    assert next(results) == b"one"
    with pytest.raises(grpc.RpcError) as caught:
        next(results)
    assert caught.value.code() == grpc.StatusCode.INTERNAL and "KeyError" in caught.value.details()
