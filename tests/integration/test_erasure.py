"""An administrator-approved erasure on a real broker (issue 21): `hub agency erase` destroys one
freeze order's key capsule and the inbound records that carried it, while the connectors keep
running. The bank then receives the order as ERASED, the other order still opens, and the ledger
still audits and proves."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from hub.kafka.erasure import sequencer_positions
from hub.kafka.reader import read_partition, watermarks
from hub.kafka.topics import KEYS_HEADER, Topics
from hub.standard.sealing import KeyCapsule
from hub.v1 import connector_pb2 as pb
from hub.v1 import connector_pb2_grpc as pb_grpc
from tests.integration.conftest import Hub, stub
from tests.integration.test_freeze_loop import BANK, COURT, FEEDBACK, ORDER, ORDER_JSON, feedback_json

ADMINS = ("--admin", "admin-1", "--admin", "admin-2")
REASON = "当事人依《个人信息保护法》第四十七条申请删除，经审批"


def orders_from_the_start(bank: pb_grpc.ConnectorStub, n: int = 2) -> dict[str, pb.Message]:
    """The first ``n`` freeze orders a new Subscribe from the oldest outbox record delivers, by id."""
    stream = bank.Subscribe(pb.SubscribeRequest(after_cursor=-1), timeout=30)
    got: dict[str, pb.Message] = {}
    try:
        for d in stream:
            if d.WhichOneof("item") == "message" and d.message.type == ORDER:
                got[d.message.message_id] = d.message
                if len(got) == n:
                    break
    finally:
        stream.cancel()
    return got


def latest_by_key(hub: Hub, topic: str) -> dict[bytes, bytes]:
    """The latest value of each key of a one-partition topic (b"" for a tombstone)."""
    return {r.key: r.value for r in read_partition(hub.bootstrap, topic, 0) if r.key is not None}


@pytest.fixture(scope="module")
def world(hub: Hub) -> dict[str, Any]:
    hub.sequencer(0, None, "--checkpoint-period", "0.2")
    court, bank = stub(hub.connector(COURT)[1]), stub(hub.connector(BANK)[1])
    ids = []
    for i in range(2):
        order = dict(ORDER_JSON, account_number=f"020000123456789{i:04d}")
        r = court.Publish(pb.PublishRequest(type=ORDER, recipients=[BANK], payload_json=json.dumps(order),
                                            wait_for_receipt=True), timeout=30)
        assert r.receipt.status == pb.Receipt.ACCEPTED, r.receipt
        ids.append(r.message_id)
    before = orders_from_the_start(bank)
    assert all(before[m].payload_json and not before[m].payload_unavailable for m in ids)  # both open

    inbound = Topics(hub.namespace).inbound
    end = watermarks(hub.bootstrap, inbound, 0)[1]
    assert end >= 2
    # the sequencer's group commits its position within a second of sequencing
    hub.wait_for(lambda: sequencer_positions(hub.bootstrap, hub.namespace, 1)[0] == end,
                 "the sequencer to commit its inbound position")
    erase = hub.run("agency", "erase", "--message", ids[0], "--reason", REASON, *ADMINS)
    assert erase.returncode == 0, erase.stdout + erase.stderr
    return {"erased": ids[0], "kept": ids[1], "bank": bank, "inbound_end": end, "out": erase.stdout}


def test_the_erase_is_published_and_executed(world: dict[str, Any]) -> None:
    out = world["out"]
    assert "membership v2 appended" in out
    assert "membership v2 erases 1 message(s): 1 tombstone(s) written to the keys topic" in out
    assert (f"inbound partition 0: consumed up to offset {world['inbound_end']}; records before offset "
            f"{world['inbound_end']} deleted") in out and "no record remains" in out


def test_the_erased_capsule_is_a_tombstone_and_the_other_is_intact(hub: Hub, world: dict[str, Any]) -> None:
    latest = latest_by_key(hub, Topics(hub.namespace).keys)
    erased, kept = uuid.UUID(world["erased"]), uuid.UUID(world["kept"])
    assert latest[erased.bytes] == b""  # the latest record is a tombstone
    capsule = KeyCapsule.from_bytes(latest[kept.bytes])
    assert capsule.message_id == kept and BANK in capsule.readers()


def test_the_consumed_inbound_records_and_their_capsules_are_gone(hub: Hub, world: dict[str, Any]) -> None:
    inbound = Topics(hub.namespace).inbound
    low, high = watermarks(hub.bootstrap, inbound, 0)
    assert low == high == world["inbound_end"]  # the low watermark moved past both records
    left = [KeyCapsule.from_bytes(r.headers[KEYS_HEADER]).message_id
            for r in read_partition(hub.bootstrap, inbound, 0) if KEYS_HEADER in r.headers]
    assert uuid.UUID(world["erased"]) not in left


def test_a_new_subscription_delivers_the_erased_order_as_erased_and_the_other_opens(world: dict[str, Any]) -> None:
    erased, kept = world["erased"], world["kept"]

    def delivered() -> dict[str, pb.Message]:
        return orders_from_the_start(world["bank"])

    got = delivered()
    for _ in range(100):  # the running connector reads the tombstone from the keys topic by itself
        if got[erased].payload_unavailable:
            break
        got = delivered()
    assert got[erased].payload_unavailable == "ERASED"
    assert got[erased].payload_json == "" and got[erased].payload_avro == b"" and got[erased].envelope
    assert not got[kept].payload_unavailable
    assert json.loads(got[kept].payload_json)["account_number"] == "0200001234567890001"


def test_erasing_again_is_refused_and_apply_runs_again_harmlessly(hub: Hub, world: dict[str, Any]) -> None:
    again = hub.run("agency", "erase", "--message", world["erased"], "--reason", "again", *ADMINS)
    assert again.returncode == 2 and again.stderr.startswith("hub: error: "), again.stdout + again.stderr
    assert f"message {world['erased']} is already erased (membership v2: {REASON})" in again.stderr
    unknown = str(uuid.uuid4())
    never = hub.run("agency", "erase", "--message", unknown, "--reason", "r", *ADMINS)
    assert never.returncode == 2 and f"message {unknown} is unknown" in never.stderr, never.stderr
    bad = hub.run("agency", "erase", "--message", "12345", "--reason", "r", *ADMINS)
    assert bad.returncode == 2 and "'12345' is not a message id" in bad.stderr, bad.stderr
    applied = hub.run("kafka", "erasures", "apply")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "1 tombstone(s) written" in applied.stdout and "(0 now); no record remains" in applied.stdout
    assert latest_by_key(hub, Topics(hub.namespace).keys)[uuid.UUID(world["erased"]).bytes] == b""


def test_the_audit_still_passes(hub: Hub, world: dict[str, Any]) -> None:
    audit = hub.run("audit")
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert "1 erased by approved updates" in audit.stdout, audit.stdout
    # and reading every payload with the auditor's key: the erased one is erased, not lost
    reading = hub.run("audit", "--read-payloads")
    assert reading.returncode == 0, reading.stdout + reading.stderr
    assert "1 erased by approved updates, 1 opened with the audit key" in reading.stdout, reading.stdout


def test_the_erased_message_still_has_a_receipt_that_verifies(hub: Hub, world: dict[str, Any]) -> None:
    receipt = hub.workdir / "erased.tlog-proof"
    hub.wait_for(lambda: hub.run("proof", "export", world["erased"], "--partition", "0",
                                 "--out", str(receipt)).returncode == 0, "a checkpoint covering the erased order")
    verified = hub.run("proof", "verify", str(receipt), "--consortium", str(hub.consortium))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "VERIFIED" in verified.stdout and world["erased"] in verified.stdout


def test_the_connectors_ran_throughout(hub: Hub, world: dict[str, Any]) -> None:
    started = [(name, p) for name, p in hub.procs if name in (COURT, BANK)]
    assert len(started) == 2 and all(p.poll() is None for _, p in started)  # never restarted


def test_erasing_a_case_takes_its_order_and_the_feedback_answering_it(hub: Hub, world: dict[str, Any]) -> None:
    court, bank = stub(hub.connector(COURT, name="court-2")[1]), world["bank"]
    case = "（2026）京0105执5555号"
    order = dict(ORDER_JSON, case_number=case, document_number=case + "之一")
    r = court.Publish(pb.PublishRequest(type=ORDER, recipients=[BANK], payload_json=json.dumps(order),
                                        wait_for_receipt=True), timeout=30)
    assert r.receipt.status == pb.Receipt.ACCEPTED, r.receipt
    answer = dict(feedback_json(order), case_number="（2026）京0105执5556号")  # answers it, names no case of it
    fb = bank.Publish(pb.PublishRequest(type=FEEDBACK, recipients=[COURT], correlation_id=r.message_id,
                                        payload_json=json.dumps(answer), wait_for_receipt=True), timeout=30)
    assert fb.receipt.status == pb.Receipt.ACCEPTED, fb.receipt
    erase = hub.run("agency", "erase", "--case", case, "--reason", REASON, *ADMINS)
    assert erase.returncode == 0, erase.stdout + erase.stderr
    assert f"case {case}: 2 encrypted message(s) found with audit-office's key" in erase.stdout, erase.stdout
    keys = latest_by_key(hub, Topics(hub.namespace).keys)
    assert keys[uuid.UUID(r.message_id).bytes] == b"" and keys[uuid.UUID(fb.message_id).bytes] == b""
    assert keys[uuid.UUID(world["kept"]).bytes] != b""  # another case's order is untouched
    reading = hub.run("audit", "--read-payloads")
    assert reading.returncode == 0, reading.stdout + reading.stderr
    # every reader that could read them before now reads neither: the bank the order, the court the feedback
    assert orders_from_the_start(bank, 3)[r.message_id].payload_unavailable == "ERASED"
    stream = court.Subscribe(pb.SubscribeRequest(after_cursor=-1), timeout=30)
    try:
        feedback = next(d.message for d in stream if d.WhichOneof("item") == "message"
                        and d.message.message_id == fb.message_id)
    finally:
        stream.cancel()
    assert feedback.payload_unavailable == "ERASED" and not feedback.payload_json
    none = hub.run("agency", "erase", "--case", "（2026）京0105执0000号", "--reason", REASON, *ADMINS)
    assert none.returncode == 2 and "nothing to erase" in none.stderr, none.stdout + none.stderr
