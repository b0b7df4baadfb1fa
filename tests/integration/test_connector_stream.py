"""PublishStream on a real connector process and broker: many requests in flight, answered in
request order with one result each, refusals answered in place, idempotency keys honoured, and
every accepted message on the inbound topic in request order."""

from __future__ import annotations

import json
import uuid

import grpc
import pytest

from hub.kafka.reader import read_partition
from hub.kafka.topics import Topics
from hub.standard.envelope import Envelope
from hub.v1 import connector_pb2 as pb
from tests.integration.conftest import Hub, stub
from tests.integration.test_freeze_loop import BANK, COURT, ORDER, ORDER_JSON


@pytest.fixture(scope="module")
def court(hub: Hub):
    return stub(hub.connector(COURT)[1])


def order(n: int, **extra: object) -> pb.PublishRequest:
    payload = dict(ORDER_JSON, case_number=f"（2026）京0105执{n + 1}号")  # serial numbers start at 1
    return pb.PublishRequest(type=ORDER, recipients=[BANK], payload_json=json.dumps(payload), **extra)  # type: ignore[arg-type]


def inbound(hub: Hub) -> list[Envelope]:
    return [Envelope.from_bytes(r.value) for r in read_partition(hub.bootstrap, Topics(hub.namespace).inbound, 0)]


def test_many_in_flight_are_answered_in_request_order_with_refusals_in_place(hub: Hub, court):
    n = 3000
    requests = [order(i) for i in range(n)]
    requests[1000] = pb.PublishRequest(type=ORDER, recipients=[BANK],
                                       payload_json=json.dumps(dict(ORDER_JSON, amount=1.5)))
    requests[1001] = pb.PublishRequest(type="cn.judicial.hub.Nope", recipients=[BANK], payload_json="{}")
    requests[2000] = pb.PublishRequest(type=ORDER, recipients=["no-such-member"], payload_json=json.dumps(ORDER_JSON))
    requests[2999] = pb.PublishRequest(type=ORDER, recipients=[BANK], payload_json="{not json")
    before = len(inbound(hub))
    results = list(court.PublishStream(iter(requests), timeout=120))
    assert [r.sequence for r in results] == list(range(n))  # one each, in request order
    refused = {1000: "payload.amount", 1001: "unknown message type", 2999: "not JSON"}
    for seq, words in refused.items():
        assert results[seq].WhichOneof("outcome") == "error"
        assert results[seq].error.code == "INVALID_ARGUMENT"
        assert words in results[seq].error.detail
    assert results[2000].error.code == "PERMISSION_DENIED"
    accepted = [r.response.message_id for r in results if r.WhichOneof("outcome") == "response"]
    assert len(accepted) == n - 4 == len(set(accepted))
    # every accepted message was acknowledged by Kafka before its result: it is on the inbound topic,
    # in request order, and nothing refused reached Kafka
    published = inbound(hub)[before:]
    assert [str(e.message_id) for e in published] == accepted


def test_idempotency_keys_are_honoured_within_and_across_streams_and_with_unary_publish(hub: Hub, court):
    key, other = f"k-{uuid.uuid4()}", f"k-{uuid.uuid4()}"
    requests = [order(1, idempotency_key=key), order(2), order(1, idempotency_key=key),
                order(3, idempotency_key=key), order(4, idempotency_key=other), order(5, idempotency_key="x" * 201)]
    before = len(inbound(hub))
    results = list(court.PublishStream(iter(requests), timeout=60))
    assert [r.sequence for r in results] == list(range(len(requests)))
    first = results[0].response.message_id
    assert first and results[2].response.message_id == first  # a retry in flight gets the original answer
    assert results[3].error.code == "INVALID_ARGUMENT" and "different request" in results[3].error.detail
    assert results[5].error.code == "INVALID_ARGUMENT" and "longer than 200" in results[5].error.detail
    published = [str(e.message_id) for e in inbound(hub)[before:]]
    assert published == [first, results[1].response.message_id, results[4].response.message_id]
    # a later stream and a unary retry with the same key get the same answer, and publish nothing
    again = list(court.PublishStream(iter([order(1, idempotency_key=key)]), timeout=60))
    assert again[0].response.message_id == first
    assert court.Publish(order(1, idempotency_key=key), timeout=30).message_id == first
    with pytest.raises(grpc.RpcError) as exc:
        court.Publish(order(9, idempotency_key=key), timeout=30)
    assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert len(inbound(hub)) - before == 3


def test_a_stream_the_client_cancels_ends_and_the_connector_goes_on(hub: Hub, court):
    def endless():
        i = 0
        while True:
            yield order(i)
            i += 1

    call = court.PublishStream(endless(), timeout=60)
    got = [next(call) for _ in range(100)]
    call.cancel()
    assert [r.sequence for r in got] == list(range(100))
    r = court.Publish(order(0), timeout=30)
    assert uuid.UUID(r.message_id)


def test_batches_are_answered_frame_for_frame_with_results_numbered_across_the_stream(hub: Hub, court):
    key = f"k-{uuid.uuid4()}"
    frames = [
        [order(i) for i in range(250)],
        [],  # an empty frame: answered by an empty frame
        [order(300, idempotency_key=key),
         pb.PublishRequest(type=ORDER, recipients=["no-such-member"], payload_json=json.dumps(ORDER_JSON)),
         pb.PublishRequest(type=ORDER, recipients=[BANK], payload_json=json.dumps(dict(ORDER_JSON, amount=1.5))),
         order(300, idempotency_key=key)],
        [order(400 + i) for i in range(1003)],  # three beyond the limit of a frame
    ]
    before = len(inbound(hub))
    answers = list(court.PublishBatches(iter(pb.PublishBatch(requests=f) for f in frames), timeout=120))
    assert [len(a.results) for a in answers] == [250, 0, 4, 1003]
    results = [r for a in answers for r in a.results]
    assert [r.sequence for r in results] == list(range(250 + 4 + 1003))
    third = answers[2].results
    assert third[0].response.message_id and third[3].response.message_id == third[0].response.message_id
    assert third[1].error.code == "PERMISSION_DENIED"
    assert third[2].error.code == "INVALID_ARGUMENT" and "payload.amount" in third[2].error.detail
    beyond = answers[3].results[1000:]
    assert all(r.error.code == "INVALID_ARGUMENT" and "at most 1000" in r.error.detail for r in beyond)
    accepted = [r.response.message_id for r in results if r.WhichOneof("outcome") == "response"]
    assert len(accepted) == 250 + 2 + 1000 and len(set(accepted)) == 250 + 1 + 1000
    # on the inbound topic exactly once each, in request order; nothing refused or beyond the limit
    published = [str(e.message_id) for e in inbound(hub)[before:]]
    assert published == list(dict.fromkeys(accepted))
