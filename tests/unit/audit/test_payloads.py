"""The auditor and encrypted payloads: erased or readable, opened with the audit key, and the
messages an erasure of a case or a subject covers (pure; ledgers built in memory)."""

from __future__ import annotations

import dataclasses
import uuid

from hub.audit.payloads import PayloadAudit
from hub.audit.replay import Finding, PartitionAudit
from hub.audit.selection import select
from hub.ledger.entry import ChainHead, LedgerEntry, Source
from hub.standard import avro
from hub.standard.disclosure import disclose
from hub.standard.envelope import Envelope
from hub.standard.sealing import KeyCapsule, prepare_v2
from hub.standard.validation import encryption_readers
from tests.unit.factories import FEEDBACK, NOW, ORDER, freeze_feedback, freeze_order, world

W = world(encryption=True)
COURT, BANK, AUDITOR = "court-bj-chaoyang", "bank-icbc-bj", "audit-office"


def sealed(sender: str, type_: str, datum: dict, recipients: list[str], *, correlation_id: uuid.UUID | None = None,
           disclosed: tuple | None = None) -> tuple[Envelope, bytes]:
    schema = W.registry.latest(type_)
    assert schema is not None
    payload = avro.encode(schema.schema, datum)
    readers = encryption_readers(W.membership, sender, recipients, NOW)
    unsigned, _ = prepare_v2(type=type_, schema_fingerprint=schema.fingerprint, sender=sender,
                             key_id=W.keys[sender].key_id, recipients=recipients, payload=payload,
                             disclosed=disclose(type_, schema.decode(payload)) if disclosed is None else disclosed,
                             readers=readers, created_at=NOW, correlation_id=correlation_id)
    assert unsigned.capsule is not None
    return unsigned.sign(W.keys[sender]), unsigned.capsule


def ledger(envs: list[Envelope]) -> list[bytes]:
    out, head = [], ChainHead()
    for i, env in enumerate(envs):
        raw = LedgerEntry(i, head.prev_leaf_hash, NOW + 1000 + i, Source("t.inbound", 0, i), 1, env.raw).to_bytes()
        head = ChainHead(i + 1, LedgerEntry.from_bytes(raw).leaf_hash)
        out.append(raw)
    return out


def audit(entries: list[bytes], payloads: PayloadAudit) -> list:
    pa = PartitionAudit(0, {1: W.membership}, W.registry, loops=payloads, processes=0)
    for offset, raw in enumerate(entries):
        pa.add(offset, raw)
    return pa.finish().violations + payloads.violations


def auditor_keys() -> tuple[str, dict]:
    k = W.decryption[AUDITOR]
    return AUDITOR, {k.key_id: k.private_key}


def test_readable_erased_and_lost_payloads_are_told_apart():
    (a, ca), (b, _), (c, _) = (sealed(COURT, ORDER, freeze_order(), [BANK]) for _ in range(3))
    capsules = {a.message_id.bytes: ca, b.message_id.bytes: None}  # b tombstoned, c never had one
    erased = {b.message_id: "membership v2 (court order)"}
    payloads = PayloadAudit(capsules, erased.get, W.registry, auditor_keys())
    found = audit(ledger([a, b, c]), payloads)
    assert [(v.index, v.finding) for v in found] == [(2, Finding.KEY_MISSING)]
    counts = payloads.counts[0]
    assert (counts.encrypted, counts.opened, counts.erased) == (3, 1, 1)


def test_an_approved_erasure_whose_capsule_remains_is_incomplete():
    a, ca = sealed(COURT, ORDER, freeze_order(), [BANK])
    payloads = PayloadAudit({a.message_id.bytes: ca}, lambda _: "membership v2 (x)", W.registry)
    assert [v.finding for v in audit(ledger([a]), payloads)] == [Finding.ERASURE_INCOMPLETE]


def test_the_audit_key_catches_a_disclosure_the_payload_does_not_have():
    lying, capsule = sealed(COURT, ORDER, freeze_order(), [BANK], disclosed=(("response_deadline", "1"),))
    payloads = PayloadAudit({lying.message_id.bytes: capsule}, lambda _: None, W.registry, auditor_keys())
    found = audit(ledger([lying]), payloads)
    assert [v.finding for v in found] == [Finding.PAYLOAD_INVALID] and "disclose" in found[0].detail
    # without the audit key only integrity is checked: the same ledger passes
    assert audit(ledger([lying]), PayloadAudit({lying.message_id.bytes: capsule}, lambda _: None, W.registry)) == []


def test_a_capsule_the_audit_key_cannot_open_is_unopenable():
    a, _ = sealed(COURT, ORDER, freeze_order(), [BANK])
    _, other = sealed(COURT, ORDER, freeze_order(), [BANK])  # another message's wraps
    bad = dataclasses.replace(KeyCapsule.from_bytes(other), message_id=a.message_id).to_bytes()
    payloads = PayloadAudit({a.message_id.bytes: bad}, lambda _: None, W.registry, auditor_keys())
    assert [v.finding for v in audit(ledger([a]), payloads)] == [Finding.PAYLOAD_UNOPENABLE]


def test_a_case_selects_its_orders_and_their_answers_and_nothing_else():
    order = freeze_order()
    mine, cm = sealed(COURT, ORDER, order, [BANK])
    other_case = dict(order, case_number="（2026）京0105执9999号")
    theirs, ct = sealed(COURT, ORDER, other_case, [BANK])
    answer, ca = sealed(BANK, FEEDBACK, dict(freeze_feedback(), case_number="（2026）京0105执7777号"), [COURT],
                        correlation_id=mine.message_id)  # names another case number, but answers this order
    capsules = {e.message_id.bytes: c for e, c in ((mine, cm), (theirs, ct), (answer, ca))}
    auditor, keys = auditor_keys()
    got = select(ledger([mine, theirs, answer]), capsules, auditor, keys, W.registry, case_number=order["case_number"])
    assert got.message_ids == [mine.message_id, answer.message_id] and not got.unreadable
    by_subject = select(ledger([mine, theirs, answer]), capsules, auditor, keys, W.registry,
                        subject_id=order["subject"]["id_number"])  # type: ignore[index]
    assert by_subject.message_ids == [mine.message_id, theirs.message_id, answer.message_id]
    # a key that is not the auditor's reads nothing
    bank = W.decryption["bank-ccb-bj"]
    blind = select(ledger([mine]), capsules, auditor, {bank.key_id: bank.private_key}, W.registry,
                   case_number=order["case_number"])
    assert blind.message_ids == [] and len(blind.unreadable) == 1
