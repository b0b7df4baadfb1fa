"""Every way of tampering with a ledger that the auditor must catch, each named with its index."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hub.audit.replay import Finding, PartitionAudit
from hub.consortium.identity import SigningKey
from hub.ledger.checkpoint import Checkpoint, sign_checkpoint
from hub.ledger.entry import ChainHead, LedgerEntry
from hub.ledger.merkle import CompactRange
from hub.sequencer.checkpoints import log_signer
from hub.sequencer.core import Appended, InboundRecord, Notary
from hub.standard.envelope import Envelope, seal
from tests.unit.factories import NOW, world

ORIGIN = "judicial-hub.localhost/test/hub.ledger/0"
LOG_KEY = SigningKey.from_seed(b"L" * 32)


def ledger(w, n=6):
    notary = Notary(0, ChainHead(), w.membership, w.registry)
    outs = [notary.sequence(InboundRecord("hub.inbound", 0, i, b"court-bj-chaoyang", w.order(created_at=NOW + i).raw),
                            NOW + i)
            for i in range(n)]
    assert all(isinstance(o, Appended) for o in outs)
    return [o.entry_bytes for o in outs]


def checkpoint(raws, key=LOG_KEY):
    tree = CompactRange.from_leaf_hashes([LedgerEntry.from_bytes(r).leaf_hash for r in raws])
    return sign_checkpoint(Checkpoint(ORIGIN, tree.size, tree.root()), log_signer(key, ORIGIN))


def audit(w, raws, checkpoints=()):
    pa = PartitionAudit(0, {1: w.membership}, w.registry)
    pa.expect_checkpoints(list(enumerate(checkpoints)), [log_signer(LOG_KEY, ORIGIN).verifier()])
    for i, raw in enumerate(raws):
        pa.add(i, raw)
    return {(v.index, v.finding) for v in pa.finish().violations}


def reentry(raw: bytes, **changes) -> bytes:
    e = LedgerEntry.from_bytes(raw)
    return replace(e, raw=b"", **changes).to_bytes()


def test_a_clean_ledger_with_its_checkpoints_verifies():
    w = world()
    raws = ledger(w)
    assert audit(w, raws, [checkpoint(raws[:3]), checkpoint(raws)]) == set()


def test_a_payload_byte_flipped():
    w = world()
    raws = ledger(w)
    env = bytearray(LedgerEntry.from_bytes(raws[2]).envelope)
    env[len(env) // 2] ^= 1
    raws[2] = reentry(raws[2], envelope=bytes(env))
    found = audit(w, raws, [checkpoint(ledger(w))])
    assert (2, Finding.ENVELOPE_INVALID) in found and (3, Finding.HASH_LINK_BROKEN) in found


def test_two_signatures_swapped():
    w = world()
    raws = ledger(w)
    a, b = (Envelope.from_bytes(LedgerEntry.from_bytes(raws[i]).envelope) for i in (1, 2))
    swap_a = replace(a, signature=b.signature, raw=b"")
    swap_b = replace(b, signature=a.signature, raw=b"")
    raws[1] = reentry(raws[1], envelope=_encode(swap_a))
    raws[2] = reentry(raws[2], envelope=_encode(swap_b))
    found = audit(w, raws)
    assert {(1, Finding.ENVELOPE_INVALID), (2, Finding.ENVELOPE_INVALID)} <= found


def _encode(env: Envelope) -> bytes:
    from hub.standard import avro
    from hub.standard.schemas import hub_record

    return avro.encode(hub_record("Envelope"), env._record(env.signature))


def test_an_entry_dropped():
    w = world()
    raws = ledger(w)
    del raws[3]
    assert (4, Finding.INDEX_GAP) in audit(w, raws)


def test_an_entry_duplicated():
    w = world()
    raws = ledger(w)
    raws.insert(3, raws[2])
    found = audit(w, raws)
    assert (2, Finding.INDEX_GAP) in found  # index 2 again where 3 was expected
    assert any(f == Finding.ENVELOPE_INVALID for _, f in found)  # and its message is a replay


def test_two_entries_swapped():
    w = world()
    raws = ledger(w)
    raws[2], raws[3] = raws[3], raws[2]
    found = audit(w, raws)
    assert (3, Finding.INDEX_GAP) in found


def test_a_forged_entry_inserted_with_every_hash_recomputed_is_caught_by_the_checkpoint():
    w = world()
    honest = ledger(w)
    cp = checkpoint(honest)
    # the operator inserts a message of its own at index 2 and rebuilds every link after it
    forged_env = seal(type=Envelope.from_bytes(LedgerEntry.from_bytes(honest[0]).envelope).type,
                      schema_fingerprint=Envelope.from_bytes(LedgerEntry.from_bytes(honest[0]).envelope).schema_fingerprint,
                      sender="court-bj-chaoyang", key=w.keys["court-bj-chaoyang"], recipients=["bank-icbc-bj"],
                      payload=Envelope.from_bytes(LedgerEntry.from_bytes(honest[0]).envelope).payload,
                      created_at=NOW + 2)
    rows = [LedgerEntry.from_bytes(r) for r in honest]
    rows.insert(2, replace(rows[2], envelope=forged_env.raw, raw=b""))
    rebuilt, head = [], ChainHead()
    for i, e in enumerate(rows):
        e = replace(e, index=i, prev_leaf_hash=head.prev_leaf_hash, raw=b"")
        raw = e.to_bytes()
        rebuilt.append(raw)
        head = ChainHead.after(LedgerEntry.from_bytes(raw))
    found = audit(w, rebuilt, [cp])
    assert found == {(len(honest) - 1, Finding.CHECKPOINT_ROOT_MISMATCH)}


def test_history_rewritten_after_a_checkpoint():
    w = world()
    raws = ledger(w)
    cp = checkpoint(raws[:4])
    rewritten = raws[:1] + [reentry(r, notarised_at=NOW + 999) for r in raws[1:]]
    found = audit(w, rewritten, [cp])
    assert (3, Finding.CHECKPOINT_ROOT_MISMATCH) in found


def test_a_truncated_ledger_is_caught_by_a_later_checkpoint():
    w = world()
    raws = ledger(w)
    assert (5, Finding.CHECKPOINT_BEYOND_LEDGER) in audit(w, raws[:4], [checkpoint(raws)])


def test_a_message_signed_with_a_revoked_key():
    w = world()
    raws = ledger(w)
    m = w.membership.members["court-bj-chaoyang"]
    w.membership.members["court-bj-chaoyang"] = replace(m, keys=(replace(m.keys[0], revoked_at=NOW + 3),))
    found = audit(w, raws)
    assert found == {(3, Finding.ENVELOPE_INVALID), (4, Finding.ENVELOPE_INVALID), (5, Finding.ENVELOPE_INVALID)}


@pytest.mark.parametrize("bad_key", [SigningKey.from_seed(b"X" * 32)])
def test_a_checkpoint_signed_with_the_wrong_key(bad_key):
    w = world()
    raws = ledger(w)
    found = audit(w, raws, [checkpoint(raws, key=bad_key)])
    assert any(f == Finding.CHECKPOINT_INVALID for _, f in found)


@pytest.mark.parametrize("batch_size", [32, 256])
def test_undecodable_and_unheld_membership_entries_keep_every_other_verdict_at_its_index(batch_size):
    # entries without a check (bytes that do not decode, a membership the auditor does not hold)
    # sit among checked ones, in batches large enough for the signature workers
    w = world()
    raws = ledger(w, 80)
    raws[5] = b"\x00garbage"
    raws[10] = reentry(raws[10], membership_version=7)
    env = bytearray(LedgerEntry.from_bytes(raws[40]).envelope)
    env[-1] ^= 1  # the signature's last byte
    raws[40] = reentry(raws[40], envelope=bytes(env))
    pa = PartitionAudit(0, {1: w.membership}, w.registry, batch_size=batch_size)
    for i, raw in enumerate(raws):
        pa.add(i, raw)
    result = pa.finish()
    assert {(v.index, v.finding) for v in result.violations} == {
        (5, Finding.ENTRY_MALFORMED),
        (10, Finding.UNKNOWN_MEMBERSHIP), (11, Finding.HASH_LINK_BROKEN),
        (40, Finding.ENVELOPE_INVALID), (41, Finding.HASH_LINK_BROKEN),
    }
    assert "BAD_SIGNATURE" in next(v.detail for v in result.violations if v.index == 40)
    assert result.entries == 80


def test_an_entry_that_breaks_the_domain_rules_of_its_schema_version_is_reported():
    # a sequencer that did not apply the rules (older, or altered) notarised a freeze order for a
    # negative amount from an unlisted company: the auditor, replaying with the rules, names it
    from decimal import Decimal

    from hub.standard.rules import RuleSet
    from hub.standard.schemas import SchemaRegistry
    from tests.unit.factories import ORDER, freeze_order

    w = world()
    lax = SchemaRegistry([replace(v, rules=RuleSet(())) for t in w.registry.types() for v in w.registry.versions(t)])
    notary = Notary(0, ChainHead(), w.membership, lax)
    bad = freeze_order() | {"amount": Decimal("-1.00"), "subject": {
        "name": "北京某某贸易有限公司", "id_type": "UNIFIED_SOCIAL_CREDIT_CODE", "id_number": "91110105MA01ABCD2X"}}
    envs = [w.order(created_at=NOW), w.seal("court-bj-chaoyang", ORDER, bad, ["bank-icbc-bj"], created_at=NOW + 1),
            w.order(created_at=NOW + 2)]
    outs = [notary.sequence(InboundRecord("hub.inbound", 0, i, b"court-bj-chaoyang", e.raw), NOW + i)
            for i, e in enumerate(envs)]
    assert all(isinstance(o, Appended) for o in outs)
    pa = PartitionAudit(0, {1: w.membership}, w.registry)
    for i, o in enumerate(outs):
        pa.add(i, o.entry_bytes)
    [violation] = pa.finish().violations
    assert (violation.index, violation.finding) == (1, Finding.ENVELOPE_INVALID)
    assert violation.detail.startswith("RULE_VIOLATED: ")
    assert "payload.amount: AMOUNT_NOT_POSITIVE" in violation.detail
    assert "payload.subject.id_number: USCC_INVALID" in violation.detail
