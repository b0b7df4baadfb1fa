"""Every RPC field at its edges, called as a partner's client with its defaults would (no deadline,
odd cursors), and idempotency under failure: a retry never doubles an order, even when the
connector was SIGKILLed between Kafka's acknowledgement and its answer."""

from __future__ import annotations

import json
import signal
import time

import grpc
import pytest

from hub.kafka.reader import read_partition
from hub.kafka.topics import Topics
from hub.ledger.entry import LedgerEntry
from hub.standard.envelope import Envelope
from hub.v1 import connector_pb2 as pb
from tests.integration.conftest import Hub, stub
from tests.integration.test_freeze_loop import BANK, COURT, ORDER, ORDER_JSON


@pytest.fixture(scope="module")
def world(hub: Hub):
    sequencer = hub.sequencer(0)
    ports = {m: hub.connector(m, name=f"{m}-edges")[1] for m in (COURT, BANK)}
    return sequencer, {m: stub(p) for m, p in ports.items()}


def order(**changes: object) -> pb.PublishRequest:
    return pb.PublishRequest(type=ORDER, recipients=[BANK], payload_json=json.dumps({**ORDER_JSON, **changes}),
                             wait_for_receipt=True)


def ledger_ids(hub: Hub) -> list[str]:
    return [str(Envelope.from_bytes(LedgerEntry.from_bytes(r.value).envelope).message_id)
            for r in read_partition(hub.bootstrap, Topics(hub.namespace).ledger, 0)]


def refused(call, *args, **kwargs) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        result = call(*args, **kwargs)
        if hasattr(result, "__next__"):  # a server stream: its status comes with the first read
            next(result)
    return caught.value


def test_publish_without_a_deadline_waits_for_its_receipt_and_answers(hub: Hub, world):
    _, agencies = world
    # no timeout: what most gRPC clients send by default (gRPC reports it as a huge time remaining)
    r = agencies[COURT].Publish(order(judge="无期限"))
    assert r.receipt.status == pb.Receipt.ACCEPTED, r.receipt
    assert ledger_ids(hub).count(r.message_id) == 1


def test_a_deadline_too_short_to_publish_publishes_nothing_and_a_retry_publishes_once(hub: Hub, world):
    _, agencies = world
    court = agencies[COURT]
    request = order(judge="期限过短")
    request.idempotency_key = "edges-deadline-too-short"
    before = len(ledger_ids(hub))
    err = refused(court.Publish, request, timeout=0.02)
    assert err.code() == grpc.StatusCode.DEADLINE_EXCEEDED, err.details()
    r = court.Publish(request, timeout=30)
    assert r.receipt.status == pb.Receipt.ACCEPTED
    again = court.Publish(request, timeout=30)
    assert (again.message_id, again.receipt.ledger_index) == (r.message_id, r.receipt.ledger_index)
    ids = ledger_ids(hub)
    assert len(ids) == before + 1 and ids.count(r.message_id) == 1


def test_subscribe_refuses_cursors_it_cannot_honour_and_ack_moves_nothing_it_never_delivered(hub: Hub, world):
    _, agencies = world
    bank = agencies[BANK]
    sent = agencies[COURT].Publish(order(judge="游标"), timeout=30)
    first = next(iter(bank.Subscribe(pb.SubscribeRequest(after_cursor=-1), timeout=30)))
    assert first.cursor >= 0

    err = refused(bank.Subscribe, pb.SubscribeRequest(after_cursor=-2), timeout=10)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "-2" in err.details()
    err = refused(bank.Subscribe, pb.SubscribeRequest(after_cursor=10**12), timeout=10)
    assert err.code() == grpc.StatusCode.OUT_OF_RANGE and "past the end" in err.details()

    # acknowledge up to the order, then try to acknowledge far beyond anything delivered
    cursor = next(d.cursor for d in bank.Subscribe(pb.SubscribeRequest(after_cursor=-1), timeout=30)
                  if d.WhichOneof("item") == "message" and d.message.message_id == sent.message_id)
    assert bank.Ack(pb.AckRequest(cursor=cursor), timeout=10).next_cursor == cursor + 1
    err = refused(bank.Ack, pb.AckRequest(cursor=10**12), timeout=10)
    assert err.code() == grpc.StatusCode.OUT_OF_RANGE, err.details()
    err = refused(bank.Ack, pb.AckRequest(cursor=-3), timeout=10)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, err.details()
    # the position did not move: a Subscribe without a cursor resumes right after the acknowledged one
    agencies[COURT].Publish(order(judge="游标之后"), timeout=30)
    resumed = next(iter(bank.Subscribe(pb.SubscribeRequest(), timeout=30)))
    assert resumed.cursor > cursor
    assert resumed.cursor < 10**12


def test_a_retry_after_a_sigkill_between_kafkas_ack_and_the_answer_is_on_the_ledger_once(hub: Hub, world):
    sequencer, _ = world
    proc, port = hub.connector(COURT, name="court-killed")
    request = order(judge="重试")
    request.idempotency_key = "edges-killed-before-answering"
    inbound = Topics(hub.namespace).inbound
    seen = {r.offset for r in read_partition(hub.bootstrap, inbound, 0)}

    sequencer.send_signal(signal.SIGSTOP)  # no receipt can come: the connector waits, unanswered
    try:
        call = stub(port).Publish.future(request, timeout=60)
        hub.wait_for(lambda: any(r.offset not in seen for r in read_partition(hub.bootstrap, inbound, 0)),
                     "the order acknowledged by Kafka")
        proc.send_signal(signal.SIGKILL)  # after Kafka's acknowledgement, before any answer
        proc.wait(timeout=30)
        with pytest.raises(grpc.RpcError):
            call.result()
    finally:
        sequencer.send_signal(signal.SIGCONT)
    first = [Envelope.from_bytes(r.value) for r in read_partition(hub.bootstrap, inbound, 0) if r.offset not in seen]
    assert len(first) == 1

    _, port = hub.connector(COURT, name="court-after-kill")
    r = stub(port).Publish(request, timeout=60)
    assert r.message_id == str(first[0].message_id)  # the same envelope, sent again
    assert r.receipt.status == pb.Receipt.ACCEPTED, r.receipt  # the first copy's receipt
    deadline = time.monotonic() + 30
    while (ids := ledger_ids(hub)).count(r.message_id) == 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert ids.count(r.message_id) == 1
    # both copies reached the sequencer; the second was refused as a replay and is not on the ledger
    copies = [r2 for r2 in read_partition(hub.bootstrap, inbound, 0)
              if r2.offset not in seen and str(Envelope.from_bytes(r2.value).message_id) == r.message_id]
    assert len(copies) == 2
