"""Every flow of the standard policy, end to end: real connectors for every agency kind, the real
sequencer and broker. For each rule the sender's connector publishes a realistic payload, the
recipient's subscription receives it, and answers (feedback, receipts) are joined to the message
they answer by correlation id. Agencies never see what is addressed to others."""

from __future__ import annotations

import json
import queue
import threading
from pathlib import Path

import grpc
import pytest

from hub.consortium.files import load_membership
from hub.consortium.membership import Membership, PolicyRule
from hub.kafka.reader import read_partition
from hub.kafka.topics import Topics
from hub.ledger.entry import LedgerEntry
from hub.standard.evolution import fixtures_dir
from hub.standard.routing import standard_policy
from hub.standard.schemas import default_registry
from hub.v1 import connector_pb2 as pb
from tests.integration.conftest import Hub, stub


def fixture_json(type_: str) -> dict:
    schema = default_registry().latest(type_)
    assert schema is not None
    path = fixtures_dir() / schema.family / f"{schema.full_name.rsplit('.', 1)[1]}.v{schema.version}.json"
    return json.loads(Path(path).read_text(encoding="utf-8"))


def parties(m: Membership, rule: PolicyRule) -> tuple[str, str]:
    for sender in m.members.values():
        if sender.roles & rule.sender_roles:
            for recipient in m.members.values():
                if recipient.id != sender.id and recipient.roles & rule.recipient_roles:
                    return sender.id, recipient.id
    raise AssertionError(f"no dev members for {rule.type}")


@pytest.fixture(scope="module")
def agencies(hub: Hub):
    membership = load_membership(hub.consortium.files)
    hub.sequencer(0)
    members = sorted({p for r in standard_policy() for p in parties(membership, r)})
    return membership, {m: stub(hub.connector(m)[1]) for m in members}


def receive(connector, type_: str, message_id: str, timeout: float = 30.0) -> pb.Message:
    out: queue.Queue = queue.Queue()
    stream = connector.Subscribe(pb.SubscribeRequest())

    def pump() -> None:
        try:
            for d in stream:
                if d.WhichOneof("item") == "message" and d.message.message_id == message_id:
                    out.put(d.message)
                    return
        except grpc.RpcError as exc:
            out.put(exc)

    threading.Thread(target=pump, daemon=True).start()
    try:
        got = out.get(timeout=timeout)
    finally:
        stream.cancel()
    if isinstance(got, Exception):
        raise got
    return got


RULES = sorted(standard_policy(), key=lambda r: (r.answers is not None, r.type))


@pytest.mark.parametrize("rule", RULES, ids=[r.type.rsplit(".", 1)[1] for r in RULES])
def test_every_policy_flow_is_delivered_to_its_recipient_only(hub: Hub, agencies, rule: PolicyRule):
    membership, connectors = agencies
    sender, recipient = parties(membership, rule)
    correlation = ""
    if rule.answers:
        answered = next(r for r in standard_policy() if r.type == rule.answers)
        # the message this one answers, sent by the recipient to the sender when the policy allows
        asker, _ = (recipient, sender) if membership.members[recipient].roles & answered.sender_roles \
            else parties(membership, answered)
        first = connectors[asker].Publish(pb.PublishRequest(
            type=answered.type, recipients=[sender], payload_json=json.dumps(fixture_json(answered.type)),
            wait_for_receipt=True), timeout=30)
        assert first.receipt.status == pb.Receipt.ACCEPTED, first.receipt
        correlation = first.message_id
    payload = fixture_json(rule.type)
    r = connectors[sender].Publish(pb.PublishRequest(type=rule.type, recipients=[recipient],
                                                     correlation_id=correlation, payload_json=json.dumps(payload),
                                                     wait_for_receipt=True), timeout=30)
    assert r.receipt.status == pb.Receipt.ACCEPTED, (rule.type, r.receipt)
    got = receive(connectors[recipient], rule.type, r.message_id)
    assert got.sender == sender
    assert got.correlation_id == correlation
    assert got.ledger_index == r.receipt.ledger_index
    assert json.loads(got.payload_json).keys() >= payload.keys()
    # confidentiality: the entry is in the recipient's outbox and in no other agency's
    for member in membership.members:
        if member in (recipient,):
            continue
        outbox = [LedgerEntry.from_bytes(rec.value) for rec in
                  read_partition(hub.bootstrap, Topics(hub.namespace).outbox(member), 0)
                  if rec.headers.get("hub-kind") == b"entry"]
        assert all(e.index != r.receipt.ledger_index for e in outbox), f"{member} saw {rule.type}"
