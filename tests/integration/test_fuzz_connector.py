"""Fuzzed across the process boundary: hypothesis drives a real court connector over real gRPC with
generated Publish requests (valid, near-valid and hostile) and checks, for every one, that the
answer is a documented status (never UNKNOWN or INTERNAL), that the connector stays up, that every
request it accepted is on the ledger exactly once, and that everything on the ledger passes the
standard's checks again.

HUB_FUZZ_EXAMPLES sets how many requests (default 300; `make chaos` runs more)."""

from __future__ import annotations

import json
import os
import time
import uuid
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.consortium.files import load_membership
from hub.kafka.reader import read_partition
from hub.kafka.topics import Topics
from hub.ledger.entry import LedgerEntry
from hub.standard.envelope import Envelope
from hub.standard.schemas import default_registry
from hub.standard.validation import Accepted, Limits, precheck
from hub.v1 import connector_pb2 as pb
from tests.integration.conftest import Hub, stub
from tests.integration.test_flows import fixture_json
from tests.integration.test_freeze_loop import BANK, COURT
from tests.rich_status import refused

EXAMPLES = int(os.environ.get("HUB_FUZZ_EXAMPLES", "300"))

#: what a Publish may answer, as proto/hub/v1/connector.proto documents it
DOCUMENTED = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.PERMISSION_DENIED,
              grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.FAILED_PRECONDITION}

#: what the court may send, and to whom
COURT_SENDS = {"cn.judicial.hub.enforcement.FreezeOrder": "bank-icbc-bj",
               "cn.judicial.hub.enforcement.UnfreezeOrder": "bank-icbc-bj",
               "cn.judicial.hub.enforcement.SealOrder": "property-registry-bj",
               "cn.judicial.hub.credit.DefaulterListing": "credit-platform-national"}
COURT_TYPES = sorted(COURT_SENDS)

hostile_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", "\x00", "\u202e", "\u2066x", "e\u0301", "（2026）京0105执1号\x07", "x" * 5000,
                     "-1", "NaN", "1e400", "null"]),
)
json_scalar = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                        st.floats(allow_nan=False, allow_infinity=False), hostile_text)
json_value = st.recursive(json_scalar, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                                st.dictionaries(st.text(max_size=10), inner,
                                                                                max_size=3)),
                          max_leaves=6)


@st.composite
def near_valid_payload(draw: st.DrawFn, type_: str) -> str:
    """A real fixture of ``type_`` with a few fields replaced, removed or added."""
    payload: dict[str, Any] = fixture_json(type_)
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 1, 2, 3]))):  # a good share left valid
        field = draw(st.sampled_from(sorted(payload)))
        action = draw(st.sampled_from(["replace", "remove", "add"]))
        if action == "replace":
            payload[field] = draw(json_value)
        elif action == "remove":
            payload.pop(field, None)
            if not payload:
                break
        else:
            payload[draw(st.text(min_size=1, max_size=12))] = draw(json_value)
    return json.dumps(payload, allow_nan=False)


@st.composite
def requests(draw: st.DrawFn) -> pb.PublishRequest:
    """Mostly near-valid (a real fixture, its own recipient, a few fields changed), the rest hostile."""
    hostile = draw(st.integers(min_value=0, max_value=9)) < 3
    type_ = draw(hostile_text) if hostile and draw(st.booleans()) else draw(st.sampled_from(COURT_TYPES))
    known = type_ in COURT_TYPES
    if known and not (hostile and draw(st.booleans())):
        recipients = [COURT_SENDS[type_]]
    else:
        recipients = draw(st.lists(st.one_of(st.sampled_from([BANK, COURT, "nobody"]), hostile_text), max_size=4))
    request = pb.PublishRequest(type=type_, recipients=recipients)
    if known and not hostile:
        request.payload_json = draw(near_valid_payload(type_))
    elif draw(st.booleans()):
        request.payload_json = draw(st.one_of(st.builds(json.dumps, json_value), hostile_text))
    else:
        request.payload_avro = draw(st.binary(max_size=300))
    if hostile:
        request.correlation_id = draw(st.one_of(st.just(str(uuid.uuid4())), hostile_text))
        request.idempotency_key = draw(st.one_of(st.text(max_size=20), st.just("k" * 300)))
    else:
        request.idempotency_key = draw(st.one_of(st.just(""), st.builds(lambda: str(uuid.uuid4()))))
    return request


@pytest.fixture(scope="module")
def court(hub: Hub):
    hub.sequencer(0)
    proc, port = hub.connector(COURT, name="court-fuzz")
    return proc, port, stub(port)


def test_generated_requests_get_documented_answers_and_only_valid_orders_reach_the_ledger(hub: Hub, court):
    proc, port, connector = court
    accepted: dict[str, int] = {}
    answers: dict[str, int] = {}
    started = time.monotonic()

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(requests())
    def publish(request: pb.PublishRequest) -> None:
        try:
            r = connector.Publish(request, timeout=20)
        except grpc.RpcError as exc:
            assert exc.code() in DOCUMENTED, (exc.code(), exc.details(), request)
            why = refused(exc)  # every refusal is machine-readable: a reason code, and the field when it is one
            assert why.reason and why.domain == "judicial-hub", (exc.code(), exc.details())
            if exc.code() == grpc.StatusCode.INVALID_ARGUMENT:
                assert why.violations and all(f and r for f, r, _ in why.violations), (exc.details(), why)
            answers[exc.code().name] = answers.get(exc.code().name, 0) + 1
            return
        answers["OK"] = answers.get("OK", 0) + 1
        accepted[r.message_id] = accepted.get(r.message_id, 0) + 1

    publish()
    elapsed = time.monotonic() - started
    print(f"fuzzed {EXAMPLES} Publish requests in {elapsed:.1f} s: {answers}")

    assert proc.poll() is None, "the connector died"
    health = health_pb2_grpc.HealthStub(grpc.insecure_channel(f"127.0.0.1:{port}"))
    assert health.Check(health_pb2.HealthCheckRequest(), timeout=10).status == health_pb2.HealthCheckResponse.SERVING

    # every accepted request is on the ledger, once; everything there passes the standard's checks again
    registry, membership = default_registry(), load_membership(hub.consortium)
    ledger = Topics(hub.namespace).ledger
    deadline = time.monotonic() + 60
    while True:
        entries = [LedgerEntry.from_bytes(r.value) for r in read_partition(hub.bootstrap, ledger, 0)]
        ids = [str(Envelope.from_bytes(e.envelope).message_id) for e in entries]
        if set(accepted) <= set(ids) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    for mid in accepted:
        assert ids.count(mid) == 1, mid
    for e in entries:
        verdict = precheck(e.envelope, membership, registry, e.notarised_at, Limits())
        assert isinstance(verdict, Accepted), verdict
