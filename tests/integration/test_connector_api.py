"""The connector's other calls on real processes: PublishStream, LookupCredential from the
ledger, and GetReceipt with a proof from the verifier that `hub proof verify` accepts offline."""

from __future__ import annotations

import json
import time
import uuid

import grpc
import pytest

from hub.kafka.reader import read_partition
from hub.kafka.topics import Topics
from hub.ledger.entry import LedgerEntry
from hub.standard.envelope import Envelope, uuid7
from hub.v1 import connector_pb2 as pb
from tests.integration.conftest import Hub, stub
from tests.integration.test_flows import fixture_json
from tests.integration.test_freeze_loop import BANK, COURT, ORDER, ORDER_JSON
from tests.rich_status import refused

JUSTICE = "justice-bureau-bj"
ISSUED = "cn.judicial.hub.lawyers.LawyerCredentialIssued"
REVOKED = "cn.judicial.hub.lawyers.LawyerCredentialRevoked"


@pytest.fixture(scope="module")
def world(hub: Hub):
    hub.sequencer(0)
    ports = {m: hub.connector(m)[1] for m in (COURT, JUSTICE)}
    return {m: stub(p) for m, p in ports.items()}


def test_publish_stream_answers_every_request_and_refuses_bad_ones_without_ending(hub: Hub, world):
    court = world[COURT]
    good = pb.PublishRequest(type=ORDER, recipients=[BANK], payload_json=json.dumps(ORDER_JSON))
    bad_type = pb.PublishRequest(type="cn.judicial.hub.Nope", recipients=[BANK], payload_json="{}")
    bad_field = pb.PublishRequest(type=ORDER, recipients=[BANK], payload_json=json.dumps(dict(ORDER_JSON, amount=1.5)))
    requests = [good] * 200 + [bad_type, bad_field] + [good] * 50
    results = list(court.PublishStream(iter(requests), timeout=120))
    assert sorted(r.sequence for r in results) == list(range(len(requests)))
    by_seq = {r.sequence: r for r in results}
    assert by_seq[200].error.code == "INVALID_ARGUMENT"
    assert "payload.amount" in by_seq[201].error.detail
    ids = {r.response.message_id for r in results if r.WhichOneof("outcome") == "response"}
    assert len(ids) == 250
    ledger_topic = Topics(hub.namespace).ledger
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        keys = {str(uuid.UUID(bytes=r.key)) for r in read_partition(hub.bootstrap, ledger_topic, 0)}
        if ids <= keys:
            break
        time.sleep(0.5)
    assert ids <= keys


def test_lookup_credential_before_and_after_revocation(hub: Hub, world):
    court, justice = world[COURT], world[JUSTICE]
    issued = fixture_json(ISSUED)
    licence = issued["license_number"]
    assert court.LookupCredential(pb.LookupCredentialRequest(license_number=licence)).status == \
        pb.LookupCredentialResponse.NEVER_LICENSED
    r1 = justice.Publish(pb.PublishRequest(type=ISSUED, recipients=[COURT], payload_json=json.dumps(issued),
                                           wait_for_receipt=True), timeout=30)
    assert r1.receipt.status == pb.Receipt.ACCEPTED, r1.receipt
    revoked = dict(fixture_json(REVOKED), license_number=licence)
    r2 = justice.Publish(pb.PublishRequest(type=REVOKED, recipients=[COURT], payload_json=json.dumps(revoked),
                                           wait_for_receipt=True), timeout=30)
    assert r2.receipt.status == pb.Receipt.ACCEPTED, r2.receipt

    def lookup(at: str = "") -> pb.LookupCredentialResponse:
        return court.LookupCredential(pb.LookupCredentialRequest(license_number=licence, at=at))

    deadline = time.monotonic() + 30
    while lookup().status != pb.LookupCredentialResponse.REVOKED and time.monotonic() < deadline:
        time.sleep(0.2)
    now = lookup()
    assert now.status == pb.LookupCredentialResponse.REVOKED
    assert now.ledger_index == r2.receipt.ledger_index
    # just before the revocation was notarised, the lawyer was licensed
    revoked_at = r2.receipt.notarised_at
    before = lookup(_minus_one_us(revoked_at))
    assert before.status == pb.LookupCredentialResponse.ACTIVE
    assert before.ledger_index == r1.receipt.ledger_index
    assert lookup(revoked_at).status == pb.LookupCredentialResponse.REVOKED
    with pytest.raises(grpc.RpcError) as exc:
        lookup("yesterday")
    assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def _minus_one_us(rfc3339: str) -> str:
    from datetime import datetime, timedelta

    t = datetime.fromisoformat(rfc3339) - timedelta(microseconds=1)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_get_receipt_returns_a_proof_that_verifies_offline(hub: Hub, world):
    _, url = hub.verifier(hub.workdir / "tiles")
    _, port = hub.connector(COURT, "--verifier", url, name="court-v")
    court = stub(port)
    r = court.Publish(pb.PublishRequest(type=ORDER, recipients=[BANK], payload_json=json.dumps(ORDER_JSON),
                                        wait_for_receipt=True), timeout=30)
    deadline = time.monotonic() + 60
    while True:
        try:
            got = court.GetReceipt(pb.GetReceiptRequest(message_id=r.message_id), timeout=10)
            break
        except grpc.RpcError as exc:  # notarised, not yet covered by a published checkpoint: ask again
            why = refused(exc)
            assert (why.code, why.reason) == (grpc.StatusCode.UNAVAILABLE, "NOT_YET_COVERED"), exc.details()
            assert why.retry_after_s and time.monotonic() < deadline
            time.sleep(why.retry_after_s)
    assert got.ledger_index == r.receipt.ledger_index
    assert got.leaf_hash == r.receipt.leaf_hash
    assert got.tlog_proof.startswith("c2sp.org/tlog-proof@v1")
    receipt = hub.workdir / "receipt.tlog-proof"
    receipt.write_text(got.tlog_proof)
    ok = hub.run("proof", "verify", str(receipt))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # a message id the hub never saw is not found, for good (no RetryInfo: asking again changes nothing)
    with pytest.raises(grpc.RpcError) as exc:
        court.GetReceipt(pb.GetReceiptRequest(message_id=str(uuid.uuid4())), timeout=10)
    never = refused(exc.value)
    assert (never.code, never.reason, never.retry_after_s) == (grpc.StatusCode.NOT_FOUND, "NOT_ON_LEDGER", None)
    # an id minted a moment ago may be a Publish on its way: not yet, ask again
    with pytest.raises(grpc.RpcError) as exc:
        court.GetReceipt(pb.GetReceiptRequest(message_id=str(uuid7(time.time_ns() // 1_000_000))), timeout=10)
    fresh = refused(exc.value)
    assert (fresh.code, fresh.reason) == (grpc.StatusCode.UNAVAILABLE, "NOT_YET_NOTARISED") and fresh.retry_after_s
    entries = [LedgerEntry.from_bytes(x.value) for x in read_partition(hub.bootstrap, Topics(hub.namespace).ledger, 0)]
    assert any(e.index == got.ledger_index for e in entries)
    # the order is on the ledger and covered by a checkpoint (the court just got its proof): its recipient
    # may have the receipt too, an agency that neither sent nor received it may not
    _, bank_port = hub.connector(BANK, "--verifier", url, name="bank-v")
    for_bank = stub(bank_port).GetReceipt(pb.GetReceiptRequest(message_id=r.message_id), timeout=10)
    assert (for_bank.ledger_index, for_bank.leaf_hash) == (got.ledger_index, got.leaf_hash)
    _, justice_port = hub.connector(JUSTICE, "--verifier", url, name="justice-v")
    with pytest.raises(grpc.RpcError) as exc:
        stub(justice_port).GetReceipt(pb.GetReceiptRequest(message_id=r.message_id), timeout=10)
    assert exc.value.code() == grpc.StatusCode.PERMISSION_DENIED, (exc.value.code(), exc.value.details())
    assert f"{JUSTICE} neither sent nor received {r.message_id}" in exc.value.details()


def test_a_retry_after_the_connector_was_killed_gets_the_original_answer(hub: Hub):
    import signal

    from hub.standard.envelope import Envelope

    proc, port = hub.connector(COURT, name="court-idem")
    request = pb.PublishRequest(type=ORDER, recipients=[BANK], payload_json=json.dumps(ORDER_JSON),
                                idempotency_key="bank-retry-after-restart")
    first = stub(port).Publish(request, timeout=30)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    _, port = hub.connector(COURT, name="court-idem-2")
    court = stub(port)
    assert court.Publish(request, timeout=30).message_id == first.message_id
    other = pb.PublishRequest(type=ORDER, recipients=[BANK], payload_json=json.dumps({**ORDER_JSON, "judge": "李明"}),
                              idempotency_key="bank-retry-after-restart")
    with pytest.raises(grpc.RpcError) as e:
        court.Publish(other, timeout=30)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    inbound = [Envelope.from_bytes(r.value) for r in read_partition(hub.bootstrap, Topics(hub.namespace).inbound, 0)
               if r.key == COURT.encode()]
    assert sum(str(e.message_id) == first.message_id for e in inbound) == 1


def test_a_stream_request_that_waits_for_its_receipt_follows_the_requests_before_it(hub: Hub, world):
    court = world[COURT]
    good = pb.PublishRequest(type=ORDER, recipients=[BANK], payload_json=json.dumps(ORDER_JSON))
    waiting = pb.PublishRequest(type=ORDER, recipients=[BANK], payload_json=json.dumps(ORDER_JSON),
                                wait_for_receipt=True)
    results = list(court.PublishStream(iter([good] * 300 + [waiting] + [good] * 5), timeout=120))
    assert [r.sequence for r in results] == list(range(306))
    receipt = results[300].response.receipt
    assert receipt.status == pb.Receipt.ACCEPTED and receipt.message_id == results[300].response.message_id
    inbound = [str(Envelope.from_bytes(r.value).message_id)
               for r in read_partition(hub.bootstrap, Topics(hub.namespace).inbound, 0)]
    at = {mid: i for i, mid in enumerate(inbound)}
    before = [at[r.response.message_id] for r in results[:300]]
    assert max(before) < at[receipt.message_id]  # produced after every request before it
