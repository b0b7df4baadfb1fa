"""Membership on the ledger: quorum-approved key revocation and rotation, applied by a running
sequencer, and reproduced by the auditor's replay."""

from __future__ import annotations

import json
import re
import signal

import pytest

from hub.kafka.reader import read_partition
from hub.kafka.topics import Topics
from hub.ledger.entry import LedgerEntry
from hub.standard.envelope import Envelope
from hub.v1 import connector_pb2 as pb
from tests.integration.conftest import Hub, stub
from tests.integration.test_freeze_loop import BANK, COURT, ORDER, ORDER_JSON


def publish(port: int) -> pb.PublishResponse:
    return stub(port).Publish(pb.PublishRequest(type=ORDER, recipients=[BANK], payload_json=json.dumps(ORDER_JSON),
                                                wait_for_receipt=True), timeout=30)


def test_revoked_then_rotated_key_and_the_audit_agrees(hub: Hub):
    hub.sequencer(0)
    court_proc, port = hub.connector(COURT)
    before = publish(port)
    assert before.receipt.status == pb.Receipt.ACCEPTED

    # one admin is not a quorum: refused, nothing appended
    one = hub.run("agency", "rotate-key", "--member", COURT, "--admin", "admin-1")
    assert one.returncode != 0 and "needs 2" in one.stderr, one.stderr
    assert list(read_partition(hub.bootstrap, Topics(hub.namespace).membership, 0)) == []

    rotated = hub.run("agency", "rotate-key", "--member", COURT, "--admin", "admin-1", "--admin", "admin-3")
    assert rotated.returncode == 0, rotated.stdout + rotated.stderr
    assert "membership v2 appended" in rotated.stdout

    # the running connector reads the new key file by itself and is accepted under v2, no restart
    new_key = re.search(r"key ([0-9a-f]{16}) installed", rotated.stdout)
    assert new_key is not None, rotated.stdout
    hub.wait_for(lambda: "membership v2" in hub.log("sequencer-0"), "the sequencer to apply v2")
    hub.wait_for(lambda: f"now signing with key {new_key[1]}" in hub.log(COURT), "the connector to take the new key")
    late = publish(port)
    assert late.receipt.status == pb.Receipt.ACCEPTED, late.receipt
    signed = [LedgerEntry.from_bytes(r.value) for r in read_partition(hub.bootstrap, Topics(hub.namespace).ledger, 0)]
    assert Envelope.from_bytes(signed[late.receipt.ledger_index].envelope).sender_key_id == new_key[1]

    # and so is a connector started afresh with the new key file
    court_proc.send_signal(signal.SIGTERM)
    court_proc.wait(timeout=30)
    _, port2 = hub.connector(COURT)
    after = publish(port2)
    assert after.receipt.status == pb.Receipt.ACCEPTED

    entries = [LedgerEntry.from_bytes(r.value) for r in read_partition(hub.bootstrap, Topics(hub.namespace).ledger, 0)]
    versions = {e.index: e.membership_version for e in entries}
    assert versions[before.receipt.ledger_index] == 1
    assert versions[after.receipt.ledger_index] == 2
    listing = hub.run("agency", "list")
    assert "membership v2" in listing.stdout and "(revoked)" in listing.stdout

    audit = hub.run("audit")
    assert audit.returncode == 0, audit.stdout + audit.stderr

    # offline, the receipt of a message signed with the rotated key needs the membership log
    receipt = hub.workdir / "after.tlog-proof"
    hub.wait_for(lambda: hub.run("proof", "export", after.message_id, "--out", str(receipt)).returncode == 0,
                 "a checkpoint covering the message")
    genesis_only = hub.run("proof", "verify", str(receipt))
    assert genesis_only.returncode == 1, genesis_only.stdout
    assert "validated under membership v2" in genesis_only.stdout and "hub agency history" in genesis_only.stdout
    log = hub.workdir / "membership.log"
    saved = hub.run("agency", "history", "--out", str(log))
    assert saved.returncode == 0 and "1 membership update(s)" in saved.stdout, saved.stdout + saved.stderr
    offline = hub.run("proof", "verify", str(receipt), "--membership-log", str(log))
    assert offline.returncode == 0 and "VERIFIED" in offline.stdout, offline.stdout + offline.stderr
    # a log whose update lost its approvals is refused, not trusted
    doc = json.loads(log.read_bytes().splitlines()[0])
    doc["approvals"] = doc["approvals"][:1]
    forged = hub.workdir / "forged.log"
    forged.write_bytes(json.dumps(doc).encode() + b"\n")
    refused = hub.run("proof", "verify", str(receipt), "--membership-log", str(forged))
    assert refused.returncode == 2 and refused.stderr.startswith("hub: error:"), refused.stdout + refused.stderr


def test_a_connector_whose_key_is_revoked_refuses_to_sign_rather_than_be_rejected(hub: Hub):
    import grpc

    from hub.consortium.files import key_path
    from hub.consortium.identity import SigningKey

    _, port = hub.connector(BANK, name="bank-revoked")
    old = SigningKey.load(key_path(hub.consortium, BANK))
    revoked = hub.run("agency", "revoke-key", "--member", BANK, "--key-id", old.key_id,
                      "--admin", "admin-1", "--admin", "admin-2")
    assert revoked.returncode == 0, revoked.stdout + revoked.stderr
    hub.wait_for(lambda: f"signing key {old.key_id} is revoked" in hub.log("bank-revoked"),
                 "the connector to see its key revoked")
    with pytest.raises(grpc.RpcError) as refused:
        publish(port)
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert old.key_id in refused.value.details() and "key file" in refused.value.details()


def test_a_member_added_while_a_connector_runs_can_be_sent_to_without_a_restart(hub: Hub):
    import grpc

    new_bank = "bank-boc-bj-follow"
    _, port = hub.connector(COURT, name="court-follows")
    court = stub(port)
    order = pb.PublishRequest(type=ORDER, recipients=[new_bank], payload_json=json.dumps(ORDER_JSON))
    with pytest.raises(grpc.RpcError) as before:
        court.Publish(order, timeout=30)
    assert before.value.code() == grpc.StatusCode.PERMISSION_DENIED and "not a member" in before.value.details()
    added = hub.run("agency", "add", "--id", new_bank, "--name", "中国银行北京分行", "--role", "bank",
                    "--admin", "admin-1", "--admin", "admin-2")
    assert added.returncode == 0, added.stdout + added.stderr
    version = re.search(r"membership v(\d+) appended", added.stdout)
    assert version is not None, added.stdout
    # and the new member got its Kafka rights with it, nothing missing or extra on the cluster
    assert re.search(rf"Kafka ACLs of membership v{version[1]}: [1-9]\d* added, 0 removed", added.stdout), added.stdout
    listed = hub.run("kafka", "acls", "list")
    assert listed.returncode == 0 and f"User:{new_bank}\n" in listed.stdout, listed.stdout + listed.stderr
    hub.wait_for(lambda: f"now checking requests against membership v{version[1]}" in hub.log("court-follows"),
                 "the running connector to apply the update")
    assert court.Publish(order, timeout=30).message_id


@pytest.mark.parametrize("bad", ["not json", '{"format": "judicial-hub/membership-update/v1"}'])
def test_a_bad_proposal_is_refused_with_one_line(hub: Hub, tmp_path, bad):
    f = tmp_path / "proposal.json"
    f.write_text(bad)
    proc = hub.run("agency", "publish", str(f))
    assert proc.returncode != 0
    assert proc.stderr.startswith("hub: error:") and "Traceback" not in proc.stderr


def test_a_message_signed_with_a_key_the_log_added_just_before_it_is_accepted(broker, tmp_path):
    # the race a rotating connector runs: it signs with its new key as soon as the membership log
    # holds the update, possibly before the sequencer has read that update; the sequencer must read
    # the log before it refuses a key (or a sender) it does not know
    from confluent_kafka import Producer

    from hub.consortium.files import load_membership, load_signing_key
    from hub.consortium.governance import (
        add_key_op,
        encode_update,
        sign_update,
        update_document,
        with_approval,
    )
    from hub.consortium.identity import SigningKey
    from hub.dev.loadgen import freeze_orders
    from hub.kafka.clients import producer_config
    from hub.kafka.membership_log import append_update
    from hub.kafka.topics import TopicSpec, ensure_topics
    from hub.standard.schemas import default_registry
    from hub.timeutil import now_us
    from tests.integration.conftest import make_hub

    h = make_hub(broker, tmp_path)
    t = Topics(h.namespace)
    try:
        seq = h.sequencer(0)
        new = SigningKey.generate()
        doc = update_document(load_membership(h.consortium), [add_key_op(COURT, new.public, now_us() - 60_000_000)],
                              "a second key")
        for admin in ("admin-1", "admin-3"):
            doc = with_approval(doc, sign_update(doc, admin, load_signing_key(h.consortium, admin)))
        orders = list(freeze_orders(default_registry(), COURT, new, [BANK], 3, seed=5))
        p = Producer(producer_config(h.bootstrap))
        ensure_topics(h.bootstrap, h.cfg, [TopicSpec(f"{h.namespace}.warm-up", 1, {})])
        p.produce(f"{h.namespace}.warm-up", b"")  # connected before the update: no delay after it
        assert p.flush(30) == 0
        append_update(h.bootstrap, h.namespace, encode_update(doc))
        for item in orders:  # within a millisecond of the update
            p.produce(t.inbound, item.value, key=item.key)
        assert p.flush(30) == 0
        h.wait_for(lambda: sum(1 for _ in read_partition(h.bootstrap, t.ledger, 0))
                   + sum(1 for _ in read_partition(h.bootstrap, t.rejected, 0)) >= 3, "three outcomes", seq)
        assert list(read_partition(h.bootstrap, t.rejected, 0)) == []
        entries = [LedgerEntry.from_bytes(r.value) for r in read_partition(h.bootstrap, t.ledger, 0)]
        assert [e.membership_version for e in entries] == [2, 2, 2]
        assert {Envelope.from_bytes(e.envelope).sender_key_id for e in entries} == {new.key_id}
        assert "membership v2" in h.log("sequencer-0")
    finally:
        h.stop_all()
