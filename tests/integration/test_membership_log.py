"""Membership on the ledger: quorum-approved key revocation and rotation, applied by a running
sequencer, and reproduced by the auditor's replay."""

from __future__ import annotations

import json
import signal

import pytest

from hub.kafka.reader import read_partition
from hub.kafka.topics import Topics
from hub.ledger.entry import LedgerEntry
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

    # the running connector still signs with the old key: now refused as KEY_REVOKED, not lost
    hub.wait_for(lambda: "membership v2" in hub.log("sequencer-0"), "the sequencer to apply v2")
    late = publish(port)
    assert late.receipt.status == pb.Receipt.REJECTED
    assert late.receipt.reason == "KEY_REVOKED"

    # restarted with the new key file, the court is accepted again
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


def test_a_member_added_while_a_connector_runs_can_be_sent_to_without_a_restart(hub: Hub):
    import re

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
