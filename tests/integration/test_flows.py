"""Every flow of the standard policy, end to end: real connectors for every agency kind, the real
sequencer and broker. For each rule the sender's connector publishes a realistic payload, the
recipient's subscription receives it, and answers (feedback, receipts) are joined to the message
they answer by correlation id, for each type a rule answers. Agencies never see what is addressed
to others. Then the auditor replays the ledger and closes every loop."""

from __future__ import annotations

import json
import queue
import threading
from datetime import UTC, datetime, timedelta
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


#: orders' response deadlines in the flows: a week from now, so only the audit "--at" a month
#: later finds the orders no one answered (the fixtures' own deadlines are fixed dates)
DEADLINE = (datetime.now(UTC) + timedelta(days=7)).isoformat()


#: one lawyer's licence through its legal lifecycle, in this order (the auditor checks transitions)
LIFECYCLE = ("LawyerCredentialIssued", "LawyerCredentialSuspended", "LawyerCredentialReinstated",
             "LawyerCredentialRevoked")


def payload_json(type_: str) -> dict:
    payload = fixture_json(type_)
    if "response_deadline" in payload:
        payload["response_deadline"] = DEADLINE
    if type_.rsplit(".", 1)[1] in LIFECYCLE:
        payload["license_number"] = fixture_json(f"cn.judicial.hub.lawyers.{LIFECYCLE[0]}")["license_number"]
    return payload


def parties(m: Membership, rule: PolicyRule) -> tuple[str, str]:
    for sender in m.members.values():
        if sender.roles & rule.sender_roles:
            for recipient in m.members.values():
                if recipient.id != sender.id and recipient.roles & rule.recipient_roles:
                    return sender.id, recipient.id
    raise AssertionError(f"no dev members for {rule.type}")


@pytest.fixture(scope="module")
def agencies(hub: Hub):
    membership = load_membership(hub.consortium)
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


def _family_and_order(type_: str) -> tuple[str, int, str]:
    family, name = type_.rsplit(".", 1)
    return family, LIFECYCLE.index(name) if name in LIFECYCLE else 0, name


#: (rule, the type it answers in this case or None): an answering rule once for each type it answers
CASES = [(r, t) for r in sorted(standard_policy(), key=lambda r: (bool(r.answers), *_family_and_order(r.type)))
         for t in (sorted(r.answers) or [None])]
#: case id -> (message id of the answered order or "", message id of the case's message)
SENT: dict[str, tuple[str, str]] = {}


def case_id(case: tuple[PolicyRule, str | None]) -> str:
    rule, answered = case
    name = rule.type.rsplit(".", 1)[1]
    return name if answered is None or len(rule.answers) == 1 else f"{name}-{answered.rsplit('.', 1)[1]}"


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_every_policy_flow_is_delivered_to_its_recipient_only(hub: Hub, agencies,
                                                              case: tuple[PolicyRule, str | None]):
    membership, connectors = agencies
    rule, answered_type = case
    sender, recipient = parties(membership, rule)
    correlation = ""
    if answered_type is not None:
        answered = next(r for r in standard_policy() if r.type == answered_type)
        # the message this one answers, sent by the recipient to the sender when the policy allows
        asker, _ = (recipient, sender) if membership.members[recipient].roles & answered.sender_roles \
            else parties(membership, answered)
        first = connectors[asker].Publish(pb.PublishRequest(
            type=answered.type, recipients=[sender], payload_json=json.dumps(payload_json(answered.type)),
            wait_for_receipt=True), timeout=30)
        assert first.receipt.status == pb.Receipt.ACCEPTED, first.receipt
        correlation = first.message_id
    payload = payload_json(rule.type)
    r = connectors[sender].Publish(pb.PublishRequest(type=rule.type, recipients=[recipient],
                                                     correlation_id=correlation, payload_json=json.dumps(payload),
                                                     wait_for_receipt=True), timeout=30)
    assert r.receipt.status == pb.Receipt.ACCEPTED, (rule.type, r.receipt)
    got = receive(connectors[recipient], rule.type, r.message_id)
    assert got.sender == sender
    assert got.correlation_id == correlation
    SENT[case_id(case)] = (correlation, r.message_id)
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


def test_the_flows_answer_each_credit_decision_and_the_case_funds_distribution():
    ids = {case_id(c) for c in CASES}
    assert {f"CreditActionFeedback-{t}" for t in ("DefaulterListing", "DefaulterDelisting",
                                                  "ConsumptionRestrictionImposed", "ConsumptionRestrictionLifted")} <= ids
    assert {"CaseFundsDistribution", "CaseFundsDistributionFeedback"} <= ids


def test_the_audit_closes_the_loop_of_every_flow(hub: Hub, agencies):
    """Every answer of the flows matches its order (no ANSWER_UNMATCHED); a month later, when the
    deadlines have passed, the orders sent on their own (never answered) are reported missing,
    the distribution among them, and the answered ones are not."""
    audit = hub.run("audit")
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert "AUDIT VERIFIED" in audit.stdout
    later = hub.run("audit", "--at", (datetime.now(UTC) + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%S%z"))
    assert later.returncode == 1, later.stdout + later.stderr
    assert "ANSWER_UNMATCHED" not in later.stdout
    missing = [line for line in later.stdout.splitlines() if "FEEDBACK_MISSING" in line]
    # the flows above ran first (pytest keeps a module's order): the unanswered distribution of its own flow
    assert "CaseFundsDistribution" in SENT, sorted(SENT)
    assert any(SENT["CaseFundsDistribution"][1] in line for line in missing), later.stdout
    answered = [order for order, _ in SENT.values() if order]
    assert not [line for line in later.stdout.splitlines() for order in answered if order in line], later.stdout
