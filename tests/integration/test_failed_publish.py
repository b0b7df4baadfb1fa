"""What a failed Publish means, on a real broker with real processes: a message whose caller was
told DEADLINE_EXCEEDED never reaches the ledger later (EXPIRED); a subscriber's heartbeats; the
sequencer's /healthz. (Faults of the broker itself: tests/integration/test_kafka_faults.py.)"""

from __future__ import annotations

import json
import re
import signal
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator

import grpc
import pytest

from hub.consortium.files import load_signing_key
from hub.dev.loadgen import freeze_orders
from hub.kafka.producer import open_producer
from hub.kafka.reader import read_partition
from hub.kafka.topics import DELIVER_BY_HEADER, Topics
from hub.ledger.entry import LedgerEntry
from hub.standard import avro
from hub.standard.envelope import Envelope
from hub.standard.schemas import default_registry, hub_record
from hub.timeutil import now_us
from hub.v1 import connector_pb2 as pb
from hub.v1 import connector_pb2_grpc as pb_grpc
from tests.integration.conftest import Hub, stub
from tests.integration.test_freeze_loop import BANK, COURT, ORDER, ORDER_JSON


def order(judge: str) -> pb.PublishRequest:
    return pb.PublishRequest(type=ORDER, recipients=[BANK], payload_json=json.dumps({**ORDER_JSON, "judge": judge}),
                             wait_for_receipt=True, idempotency_key=str(uuid.uuid4()))


def ledger_ids(hub: Hub) -> list[str]:
    return [str(Envelope.from_bytes(LedgerEntry.from_bytes(r.value).envelope).message_id)
            for r in read_partition(hub.bootstrap, Topics(hub.namespace).ledger, 0)]


def receipts(court, message_ids: set[str], timeout: float = 60) -> dict[str, pb.Receipt]:
    """The receipts of ``message_ids`` on the court's Subscribe stream (from its oldest record)."""
    found: dict[str, pb.Receipt] = {}
    stream = court.Subscribe(pb.SubscribeRequest(after_cursor=-1), timeout=timeout)
    try:
        for d in stream:
            if d.WhichOneof("item") == "receipt" and d.receipt.message_id in message_ids:
                found[d.receipt.message_id] = d.receipt
                if len(found) == len(message_ids):
                    break
    finally:
        stream.cancel()
    return found


def health(port: int) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.fixture(scope="module")
def court(hub: Hub) -> Iterator[pb_grpc.ConnectorStub]:
    port = hub.connector(COURT, name=f"{COURT}-failed")[1]
    yield stub(port)


def test_a_retry_of_a_key_in_flight_waits_only_as_long_as_its_own_deadline(court):
    # no sequencer: the first call holds its key until its deadline
    request = order("同键重试")
    first: list[grpc.StatusCode] = []

    def call_first() -> None:
        try:
            court.Publish(request, timeout=4)
        except grpc.RpcError as e:
            first.append(e.code())

    t = threading.Thread(target=call_first)
    t.start()
    time.sleep(0.5)
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as caught:
        court.Publish(request, timeout=1)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.monotonic() - started < 1.8
    assert "still in flight" in (caught.value.details() or "")
    t.join()
    assert first == [grpc.StatusCode.DEADLINE_EXCEEDED]


def test_a_message_whose_caller_was_told_it_failed_is_expired_not_notarised_later(hub: Hub, court):
    # no sequencer yet: the receipt cannot come before the deadline
    request = order("期限已过")
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as caught:
        court.Publish(request, timeout=1.5)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.monotonic() - started < 2.5  # answered at its deadline, not held
    detail = caught.value.details() or ""
    assert "EXPIRED" in detail, detail
    # the sequencer starts later: the record Kafka holds is refused, with a receipt to the court
    seq = hub.sequencer(0, "seq-failed")
    late = court.Publish(order("准时"), timeout=30)  # and a message in time still goes through
    assert late.receipt.status == pb.Receipt.ACCEPTED, late.receipt
    expired_id = re.search(r"message ([0-9a-f-]{36})", detail).group(1)  # type: ignore[union-attr]
    found = receipts(court, {expired_id})
    assert found[expired_id].status == pb.Receipt.REJECTED and found[expired_id].reason == "EXPIRED"
    assert expired_id not in ledger_ids(hub)
    assert late.message_id in ledger_ids(hub)
    # the retry with the same key publishes the same envelope anew and it is notarised once
    again = court.Publish(request, timeout=30)
    assert again.receipt.status == pb.Receipt.ACCEPTED, again.receipt
    assert again.message_id == expired_id
    assert ledger_ids(hub).count(expired_id) == 1
    seq.send_signal(signal.SIGTERM)
    assert seq.wait(timeout=60) == 0


def test_a_record_stamped_with_a_past_deliver_by_time_is_expired_and_others_are_not(hub: Hub):
    """A producer around the connector, as a partner's engineer would try it with kcat -H."""
    items = list(freeze_orders(default_registry(), COURT, load_signing_key(hub.consortium, COURT), [BANK], 3))
    stamps = [now_us() - 1_000_000, now_us() + 600_000_000, None]  # past, far future, none
    t = Topics(hub.namespace)
    producer = open_producer(hub.bootstrap)
    try:
        for item, stamp in zip(items, stamps, strict=True):
            headers = {DELIVER_BY_HEADER: str(stamp).encode()} if stamp is not None else None
            producer.send(t.inbound, item.value, key=COURT.encode(), headers=headers)
    finally:
        producer.close(5)
    ids = [str(Envelope.from_bytes(i.value).message_id) for i in items]
    seq = hub.sequencer(0, "seq-stamped")
    hub.wait_for(lambda: ids[2] in ledger_ids(hub), "the unstamped order notarised", seq)
    on_ledger = ledger_ids(hub)
    assert ids[0] not in on_ledger and ids[1] in on_ledger
    refusals = {str(uuid.UUID(bytes=r["message_id"])): r["reason"] for r in
                (avro.decode(hub_record("Rejection"), x.value) for x in read_partition(hub.bootstrap, t.rejected, 0))
                if r["message_id"]}
    assert refusals[ids[0]] == "EXPIRED"
    seq.send_signal(signal.SIGTERM)
    assert seq.wait(timeout=60) == 0


def test_a_subscriber_that_asks_for_heartbeats_gets_them_while_nothing_happens(hub: Hub, court):
    stream = court.Subscribe(pb.SubscribeRequest(heartbeat_seconds=1), timeout=30)
    got = []
    started = time.monotonic()
    try:
        for d in stream:
            if d.WhichOneof("item") == "heartbeat":
                got.append((time.monotonic() - started, d))
                if len(got) == 2:
                    break
    finally:
        stream.cancel()
    (t1, first), (t2, second) = got
    assert first.cursor == -1 and first.heartbeat.serving and first.heartbeat.at.endswith("Z")
    assert second.cursor == -1 and second.heartbeat.serving
    assert 0.5 < t2 - t1 < 3.0, (t1, t2)
    # a client that did not ask gets none: only deliveries (and none here within the wait)
    quiet = court.Subscribe(pb.SubscribeRequest(), timeout=2.5)
    with pytest.raises(grpc.RpcError) as caught:
        for d in quiet:
            assert d.WhichOneof("item") != "heartbeat"
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED


def test_the_sequencer_reports_its_health_over_http(hub: Hub):
    pf = hub.workdir / "seq-health.port"
    seq = hub.start("seq-health", "sequencer", "run", "--partition", "0", "--health-listen", "127.0.0.1:0",
                    "--health-port-file", str(pf))
    hub.wait_for(lambda: "ready" in hub.log("seq-health"), "the sequencer ready", seq)
    port = int(pf.read_text())
    status, body = health(port)
    assert status == 200 and body["status"] == "SERVING", body
    assert body["ledger"] == Topics(hub.namespace).ledger and isinstance(body["next_index"], int)
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10)
    assert caught.value.code == 404
    seq.send_signal(signal.SIGTERM)
    assert seq.wait(timeout=60) == 0
