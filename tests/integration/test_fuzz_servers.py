"""Fuzzed across the process boundary: the verifier's HTTP and gRPC endpoints and the witness's
HTTP endpoint, as real `hub` processes, take generated requests (valid, near-valid and hostile).
Each answer is a documented status (HTTP 2xx/4xx, never 5xx; gRPC never UNKNOWN or INTERNAL),
and every server is still up and serving the right checkpoint afterwards.

HUB_FUZZ_EXAMPLES sets how many requests each endpoint gets (default 300)."""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.v1 import verifier_pb2 as pb
from hub.v1 import verifier_pb2_grpc as pb_grpc
from tests.integration.conftest import Hub
from tests.integration.test_verifier_witness import witnessed_world

EXAMPLES = int(os.environ.get("HUB_FUZZ_EXAMPLES", "300"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

#: what a gRPC call of the verifier may answer, as proto/hub/v1/verifier.proto documents it
DOCUMENTED = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.OUT_OF_RANGE,
              grpc.StatusCode.FAILED_PRECONDITION}

segment = st.one_of(st.text(max_size=12), st.integers(min_value=-5, max_value=2**65).map(str),
                    st.sampled_from(["", ".", "..", "%00", "%2e%2e", "x" * 300, "0", "1", "000", "x001", "p", "8.p",
                                     "0123456789abcdef" * 4]))


@st.composite
def http_targets(draw: st.DrawFn) -> str:
    """A path under one of the verifier's routes (or none), odd segments, an odd query."""
    prefix = draw(st.sampled_from(["/checkpoint", "/healthz", "/tile/", "/tile/0/", "/tile/entries/",
                                   "/proof/inclusion", "/proof/consistency", "/proof/message/",
                                   "/lookup/message/", "/lookup/document/", "/log-key", "/static/", "/", "/nope/"]))
    rest = "/".join(draw(st.lists(segment, max_size=4)))
    query = {k: draw(segment) for k in draw(st.lists(st.sampled_from(["index", "tree_size", "old", "new", "n",
                                                                      "size", "x"]), max_size=3))}
    return urllib.parse.quote(prefix + rest, safe="/%") + ("?" + urllib.parse.urlencode(query) if query else "")


def status_of(url: str, data: bytes | None = None) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=20) as resp:
            resp.read()
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        exc.read()
        return int(exc.code)


@pytest.fixture(scope="module")
def world(hub: Hub, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return witnessed_world(hub, tmp_path_factory, 5, "fz")


def test_the_verifiers_http_answers_every_generated_request_without_a_server_error(hub: Hub, world):
    seen: dict[int, int] = {}
    started = time.monotonic()

    @FUZZ
    @given(http_targets())
    def get(target: str) -> None:
        status = status_of(world["base"] + target)
        seen[status] = seen.get(status, 0) + 1
        assert status < 500, (status, target)

    get()
    print(f"fuzzed {EXAMPLES} verifier HTTP requests in {time.monotonic() - started:.1f} s: {seen}")
    assert world["proc"].poll() is None
    assert status_of(world["base"] + "/checkpoint") == 200


def test_the_verifiers_grpc_answers_every_generated_request_with_a_documented_status(hub: Hub, world):
    pf = hub.workdir / "fuzz-verifier.grpc-port"
    proc, _ = hub.verifier(world["dir"], "--grpc-listen", "127.0.0.1:0", "--grpc-port-file", str(pf),
                           name="fuzz-verifier")
    channel = grpc.insecure_channel(f"127.0.0.1:{int(pf.read_text())}")
    verifier = pb_grpc.VerifierStub(channel)
    big = st.integers(min_value=0, max_value=2**64 - 1)
    small = st.integers(min_value=0, max_value=40)
    calls = st.one_of(
        st.builds(lambda s, i: ("GetInclusionProof", pb.GetInclusionProofRequest(tree_size=s, index=i)),
                  st.one_of(small, big), st.one_of(small, big)),
        st.builds(lambda o, n: ("GetConsistencyProof", pb.GetConsistencyProofRequest(old_size=o, new_size=n)),
                  st.one_of(small, big), st.one_of(small, big)),
        st.builds(lambda m: ("LookupMessage", pb.LookupMessageRequest(message_id=m)), segment),
        st.builds(lambda d: ("LookupDocument", pb.LookupDocumentRequest(sha256=d)), st.binary(max_size=40)),
        st.builds(lambda m: ("GetReceipt", pb.MessageReceiptRequest(message_id=m)), segment),
        st.builds(lambda lv, i, w: ("GetTile", pb.GetTileRequest(level=lv, index=i, width=w)),
                  st.integers(min_value=0, max_value=2**32 - 1), st.one_of(small, big),
                  st.integers(min_value=0, max_value=2**32 - 1)),
    )
    seen: dict[str, int] = {}

    @FUZZ
    @given(calls)
    def call(named: tuple[str, Any]) -> None:
        method, request = named
        try:
            getattr(verifier, method)(request, timeout=20)
            seen["OK"] = seen.get("OK", 0) + 1
        except grpc.RpcError as exc:
            assert exc.code() in DOCUMENTED, (method, request, exc.code(), exc.details())
            seen[exc.code().name] = seen.get(exc.code().name, 0) + 1

    call()
    print(f"fuzzed {EXAMPLES} verifier gRPC requests: {seen}")
    assert proc.poll() is None
    assert verifier.GetCheckpoint(pb.GetCheckpointRequest(), timeout=10).tree_size >= len(world["sent"])


def test_the_witness_refuses_every_generated_submission_without_a_server_error(hub: Hub, world):
    url = world["witness"]["url"] + "/add-checkpoint"
    seen: dict[int, int] = {}
    lines = st.lists(st.one_of(segment, st.just(world["origin"]), st.just("old 0"), st.just("old 1"),
                               st.just("— sig " + "A" * 40)), max_size=8)

    @FUZZ
    @given(st.one_of(st.binary(max_size=400), lines.map(lambda ls: "\n".join(ls).encode())))
    def post(body: bytes) -> None:
        status = status_of(url, body)
        seen[status] = seen.get(status, 0) + 1
        assert 400 <= status < 500, (status, body)

    post()
    print(f"fuzzed {EXAMPLES} witness submissions: {seen}")
    assert world["witness"]["proc"].poll() is None
    assert status_of(world["witness"]["url"] + "/healthz") == 200
