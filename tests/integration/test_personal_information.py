"""Personal information on a real broker, through real connectors (issue 21): payloads travel and rest
encrypted; only their readers (recipients, sender, auditors) open them; a recipient proves what the
sender signed by opening the commitment."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from hub.connector.followers import private_group
from hub.connector.keyring import KeyRing, KeyringBehindError, Unreadable
from hub.consortium.files import load_decryption_key
from hub.kafka.consumer import OFFSET_BEGINNING, open_consumer
from hub.kafka.reader import read_partition
from hub.kafka.topics import Topics
from hub.ledger.entry import LedgerEntry
from hub.standard.envelope import Envelope
from hub.standard.sealing import CannotOpenError, KeyCapsule, open_envelope_payload, opens
from hub.v1 import connector_pb2 as pb
from tests.integration.conftest import Hub, stub
from tests.integration.test_freeze_loop import BANK, COURT, ORDER, ORDER_JSON, OTHER_BANK, next_message
from tests.integration.test_verifier import get, wait_published

AUDITOR = "audit-office"
#: the order's personal data: the company's name and code, the account, the judge
SECRETS = [ORDER_JSON["subject"]["name"], ORDER_JSON["subject"]["id_number"], ORDER_JSON["account_number"],
           ORDER_JSON["judge"]]


@pytest.fixture(scope="module")
def sent(hub: Hub, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    hub.sequencer(0, None, "--checkpoint-period", "0.2")
    court, bank = (stub(hub.connector(m)[1]) for m in (COURT, BANK))
    r = court.Publish(pb.PublishRequest(type=ORDER, recipients=[BANK], payload_json=json.dumps(ORDER_JSON),
                                        wait_for_receipt=True), timeout=30)
    assert r.receipt.status == pb.Receipt.ACCEPTED, r.receipt
    delivery = next_message(bank.Subscribe(pb.SubscribeRequest()), ORDER)
    return {"id": r.message_id, "index": r.receipt.ledger_index, "delivery": delivery.message}


def topic_bytes(hub: Hub, topic: str, partitions: int = 1) -> bytes:
    out = []
    for p in range(partitions):
        for rec in read_partition(hub.bootstrap, topic, p):
            out += [rec.value or b"", rec.key or b""]
            out += [v or b"" for v in (rec.headers or {}).values()]
    return b"".join(out)


def capsule_of(hub: Hub, message_id: str) -> KeyCapsule:
    for rec in read_partition(hub.bootstrap, Topics(hub.namespace).keys, 0):
        if rec.key == uuid.UUID(message_id).bytes and rec.value:
            return KeyCapsule.from_bytes(rec.value)
    raise AssertionError(f"no capsule for {message_id}")


def test_the_bank_reads_the_order_and_gets_its_opening(sent: dict[str, Any]) -> None:
    m = sent["delivery"]
    assert m.message_id == sent["id"] and not m.payload_unavailable
    got = json.loads(m.payload_json)
    assert got["account_number"] == ORDER_JSON["account_number"] and got["subject"] == ORDER_JSON["subject"]
    env = Envelope.from_bytes(m.envelope)
    assert env.version == 2 and env.encrypted
    assert len(m.commitment_salt) == 32 and opens(env.commitment, m.commitment_salt, m.payload_avro)


def test_no_personal_data_on_any_hub_topic(hub: Hub, sent: dict[str, Any]) -> None:
    t = Topics(hub.namespace)
    raw = {name: topic_bytes(hub, name) for name in (t.inbound, t.ledger, t.outbox(BANK), t.outbox(COURT), t.keys,
                                                      t.rejected)}
    assert sent["id"] and any(uuid.UUID(sent["id"]).bytes in b for b in raw.values())  # the records are there
    for name, data in raw.items():
        for secret in SECRETS:
            assert secret.encode() not in data, f"{secret} in clear in {name}"


def test_a_third_agency_cannot_open_the_payload_and_every_reader_can(hub: Hub, sent: dict[str, Any]) -> None:
    env = Envelope.from_bytes(sent["delivery"].envelope)
    capsule = capsule_of(hub, sent["id"])
    assert capsule.readers() == sorted({AUDITOR, BANK, COURT})
    for member in (BANK, COURT, AUDITOR):
        key = load_decryption_key(hub.consortium, member)
        opened = open_envelope_payload(env, capsule, member, {key.key_id: key.private_key})
        assert ORDER_JSON["account_number"].encode() in opened.payload
    other = load_decryption_key(hub.consortium, OTHER_BANK)
    with pytest.raises(CannotOpenError):
        open_envelope_payload(env, capsule, OTHER_BANK, {other.key_id: other.private_key})
    # nor by claiming to be the bank with its own key
    with pytest.raises(CannotOpenError):
        open_envelope_payload(env, capsule, BANK, {w.key_id: other.private_key for w in capsule.wraps})


def test_the_verifier_serves_and_stores_no_personal_data(hub: Hub, sent: dict[str, Any],
                                                         tmp_path_factory: pytest.TempPathFactory) -> None:
    tiles: Path = tmp_path_factory.mktemp("pi-tiles")
    proc, base = hub.verifier(tiles, name="pi-verifier")
    wait_published(hub, base, sent["index"] + 1, proc, "a checkpoint covering the order")
    status, body, _ = get(base, f"/lookup/message/{sent['id']}")
    assert status == 200, body
    served = [body]
    assert sent["index"] == 0  # the module's hub holds this one message: its entry is in tile 000
    status, tile, _ = get(base, "/tile/entries/000.p/1")
    assert status == 200 and tile
    served.append(tile)
    stored = b"".join(p.read_bytes() for p in tiles.rglob("*") if p.is_file())
    entry_bytes = LedgerEntry.from_bytes(next(
        r.value for r in read_partition(hub.bootstrap, Topics(hub.namespace).ledger, 0)
        if r.key == uuid.UUID(sent["id"]).bytes)).envelope
    assert entry_bytes in stored  # the verifier holds the entry (positive control) ...
    for secret in SECRETS:  # ... and no byte of its personal data
        assert secret.encode() not in stored and all(secret.encode() not in s for s in served)


def test_a_judge_checks_the_opening_and_a_forged_one_fails(hub: Hub, sent: dict[str, Any], tmp_path: Path) -> None:
    m = sent["delivery"]
    env = Envelope.from_bytes(m.envelope)
    assert opens(env.commitment, m.commitment_salt, m.payload_avro)
    forged = m.payload_avro.replace(ORDER_JSON["account_number"].encode(), b"0200009999999999999")
    assert forged != m.payload_avro and not opens(env.commitment, m.commitment_salt, forged)


def test_hub_proof_open_shows_a_judge_what_the_court_signed(hub: Hub, sent: dict[str, Any], tmp_path: Path) -> None:
    m = sent["delivery"]
    receipt, payload, forged = tmp_path / "order.tlog-proof", tmp_path / "order.avro", tmp_path / "forged.avro"
    hub.wait_for(lambda: hub.run("proof", "export", sent["id"], "--partition", "0", "--out",
                                 str(receipt)).returncode == 0, "a checkpoint covering the order")
    payload.write_bytes(m.payload_avro)
    opened = hub.run("proof", "open", str(receipt), "--payload", str(payload), "--salt", m.commitment_salt.hex(),
                     "--consortium", str(hub.consortium))
    assert opened.returncode == 0, opened.stdout + opened.stderr
    assert "OPENED" in opened.stdout and sent["id"] in opened.stdout
    assert ORDER_JSON["account_number"] in opened.stdout  # the payload, shown to the judge
    forged.write_bytes(m.payload_avro.replace(ORDER_JSON["account_number"].encode(), b"0200009999999999999"))
    refused = hub.run("proof", "open", str(receipt), "--payload", str(forged), "--salt", m.commitment_salt.hex(),
                      "--consortium", str(hub.consortium))
    assert refused.returncode == 1, refused.stdout + refused.stderr


def keyring_of(hub: Hub, member: str) -> KeyRing:
    """The member's keyring on the module's keys topic, as a connector builds it, not started."""
    topic = Topics(hub.namespace).keys
    consumer = open_consumer(hub.bootstrap, private_group(f"test-{member}", "keys"), partition_eof=True)
    parts = [(topic, p) for p in consumer.partitions(topic)]
    consumer.assign([(t, p, OFFSET_BEGINNING) for t, p in parts])
    key = load_decryption_key(hub.consortium, member)
    return KeyRing(consumer, member, [(key.key_id, key.private_key)], parts)


def test_a_lagging_keyring_says_so_and_never_calls_a_payload_keyless(hub: Hub, sent: dict[str, Any]) -> None:
    """After a broker outage the keyring may read the keys topic later than the outbox: the delivery
    waits for it (or the stream ends UNAVAILABLE), never NO_KEY for a capsule that is on the topic."""
    env = Envelope.from_bytes(sent["delivery"].envelope)
    keyring = keyring_of(hub, BANK)
    try:
        with pytest.raises(KeyringBehindError):  # not reading at all: behind, not "no key"
            keyring.open(env, wait_s=0.05, catch_up_s=1.0)
        got: list[Any] = []
        opener = threading.Thread(target=lambda: got.append(keyring.open(env, wait_s=0.05, catch_up_s=30)))
        opener.start()
        time.sleep(1.5)  # the keyring starts reading well after the delivery began waiting for it
        keyring.start()
        opener.join(30)
        assert got and ORDER_JSON["account_number"].encode() in got[0].payload
        # a message whose capsule is not on the topic: NO_KEY once the keyring has read it to its end
        unknown = dataclasses.replace(env, message_id=uuid.uuid4())
        began = time.monotonic()
        with pytest.raises(Unreadable) as no_key:
            keyring.open(unknown, wait_s=0.05, catch_up_s=30)
        assert no_key.value.reason == "NO_KEY" and time.monotonic() - began < 10
    finally:
        keyring.close()
