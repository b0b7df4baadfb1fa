"""The sequencer's pure core and the auditor's replay, without a broker."""

import itertools
import uuid

from hub.audit.replay import Finding, PartitionAudit
from hub.ledger.entry import ZERO_HASH, ChainHead, LedgerEntry
from hub.ledger.merkle import root_from_leaf_hashes
from hub.sequencer.core import Appended, InboundRecord, Notary, Refused
from hub.standard import avro
from hub.standard.schemas import hub_record
from tests.unit.factories import DAY, FEEDBACK, NOW, fixture, freeze_feedback, world


def rec(offset, value, key=b"court-bj-chaoyang"):
    return InboundRecord("hub.inbound", 0, offset, key, value)


def notarise(w, n=4):
    notary = Notary(0, ChainHead(), w.membership, w.registry)
    outs = [notary.sequence(rec(i, w.order().raw), NOW + i) for i in range(n)]
    return notary, outs


def test_entries_chain_by_index_and_previous_leaf_hash():
    w = world()
    _, outs = notarise(w)
    assert all(isinstance(o, Appended) for o in outs)
    assert [o.entry.index for o in outs] == [0, 1, 2, 3]
    assert outs[0].entry.prev_leaf_hash == ZERO_HASH
    for a, b in itertools.pairwise(outs):
        assert b.entry.prev_leaf_hash == a.leaf_hash
    assert LedgerEntry.from_bytes(outs[2].entry_bytes).source.offset == 2


def test_a_replayed_message_is_refused_with_a_receipt_for_the_sender():
    w = world()
    notary = Notary(0, ChainHead(), w.membership, w.registry)
    env = w.order()
    assert isinstance(notary.sequence(rec(0, env.raw), NOW), Appended)
    out = notary.sequence(rec(1, env.raw), NOW + 1)
    assert isinstance(out, Refused) and out.reason == "REPLAYED"
    assert out.notify == "court-bj-chaoyang"
    receipt = avro.decode(hub_record("Receipt"), out.receipt)
    assert receipt["status"] == "REJECTED" and receipt["reason"] == "REPLAYED"
    rejection = avro.decode(hub_record("Rejection"), out.rejection)
    assert rejection["original"] == env.raw and rejection["source"]["offset"] == 1
    assert notary.head.next_index == 1


def test_garbage_is_kept_as_a_rejection_with_its_bytes_and_notifies_no_one():
    w = world()
    notary = Notary(0, ChainHead(), w.membership, w.registry)
    out = notary.sequence(rec(0, b"\x00\x01garbage", key=b"nobody"), NOW)
    assert isinstance(out, Refused) and out.reason == "MALFORMED" and out.notify is None
    assert avro.decode(hub_record("Rejection"), out.rejection)["original"] == b"\x00\x01garbage"


def test_restore_undoes_an_aborted_batch():
    w = world()
    notary, _ = notarise(w, 2)
    snap = notary.snapshot()
    env = w.order()
    notary.sequence(rec(2, env.raw), NOW)
    notary.restore(snap)
    assert notary.head == snap.head
    assert isinstance(notary.sequence(rec(2, env.raw), NOW), Appended)  # not a replay after the abort


def audit(w, raws):
    pa = PartitionAudit(0, {1: w.membership}, w.registry)
    for i, raw in enumerate(raws):
        pa.add(i, raw)
    return pa.finish()


def test_a_clean_ledger_verifies_and_its_root_is_the_merkle_root():
    w = world()
    _, outs = notarise(w, 5)
    result = audit(w, [o.entry_bytes for o in outs])
    assert result.violations == []
    assert result.root_hash == root_from_leaf_hashes([o.leaf_hash for o in outs]).hex()


def test_a_flipped_payload_byte_is_named_by_index():
    w = world()
    _, outs = notarise(w, 5)
    raws = [o.entry_bytes for o in outs]
    tampered = bytearray(raws[2])
    tampered[-70] ^= 0x01  # inside the envelope's payload, before the signature
    raws[2] = bytes(tampered)
    result = audit(w, raws)
    found = {(v.index, v.finding) for v in result.violations}
    assert (2, Finding.ENVELOPE_INVALID) in found
    assert (3, Finding.HASH_LINK_BROKEN) in found


def test_a_dropped_entry_is_a_gap():
    w = world()
    _, outs = notarise(w, 4)
    result = audit(w, [outs[0].entry_bytes, outs[1].entry_bytes, outs[3].entry_bytes])
    assert [(v.index, v.finding) for v in result.violations] == [(3, Finding.INDEX_GAP)]


def test_feedback_is_accepted_with_a_correlation_id():
    w = world()
    notary = Notary(0, ChainHead(), w.membership, w.registry)
    env = w.seal("bank-icbc-bj", FEEDBACK, freeze_feedback(), ["court-bj-chaoyang"], correlation_id=uuid.uuid4())
    assert isinstance(notary.sequence(rec(0, env.raw, b"bank-icbc-bj"), NOW), Appended)


def test_hand_assembled_entry_and_receipt_bytes_equal_fastavros():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from hub.ledger.entry import Source
    from hub.sequencer.core import _receipt

    longs = st.integers(-(2**63), 2**63 - 1)

    @settings(max_examples=300)
    @given(longs, st.binary(min_size=32, max_size=32), longs, st.text(max_size=30), st.integers(-(2**31), 2**31 - 1),
           longs, longs, st.binary(max_size=300))
    def entries(index, prev, at, topic, part, off, mv, env):
        e = LedgerEntry(index, prev, at, Source(topic, part, off), mv, env)
        assert e.to_bytes() == avro.encode(hub_record("LedgerEntry"), {
            "index": index, "prev_leaf_hash": prev, "notarised_at": at,
            "source": {"topic": topic, "partition": part, "offset": off}, "membership_version": mv,
            "envelope": env})

    @settings(max_examples=300)
    @given(st.uuids(), st.sampled_from(["ACCEPTED", "REJECTED"]), st.integers(0, 2**31 - 1),
           st.one_of(st.none(), longs), st.one_of(st.none(), st.binary(min_size=32, max_size=32)),
           st.one_of(st.none(), st.text(max_size=20)), st.text(max_size=40), longs)
    def receipts(mid, status, part, index, leaf, reason, detail, at):
        assert _receipt(mid, status, part, index, leaf, reason, detail, at) == avro.encode(hub_record("Receipt"), {
            "message_id": mid.bytes, "status": status, "ledger_partition": part, "ledger_index": index,
            "leaf_hash": leaf, "reason": reason, "detail": detail, "notarised_at": at})

    entries()
    receipts()


def test_only_a_recipient_of_the_order_may_answer_it_and_the_audit_agrees():
    w = world()
    notary = Notary(0, ChainHead(), w.membership, w.registry)
    order = w.order()  # to bank-icbc-bj
    first = notary.sequence(rec(0, order.raw), NOW)
    assert isinstance(first, Appended)
    wrong = w.seal("bank-ccb-bj", FEEDBACK, freeze_feedback(), ["court-bj-chaoyang"], correlation_id=order.message_id)
    refused = notary.sequence(rec(1, wrong.raw, b"bank-ccb-bj"), NOW + 1)
    assert isinstance(refused, Refused) and refused.reason == "POLICY_DENIED"
    assert "not addressed to bank-ccb-bj" in refused.detail
    not_an_order = w.seal("bank-icbc-bj", FEEDBACK, freeze_feedback(), ["court-bj-chaoyang"],
                          correlation_id=wrong.message_id)
    middle = notary.sequence(rec(2, not_an_order.raw, b"bank-icbc-bj"), NOW + 2)
    assert isinstance(middle, Appended)  # names a message this window holds no order for: not checkable here
    right = w.seal("bank-icbc-bj", FEEDBACK, freeze_feedback(), ["court-bj-chaoyang"], correlation_id=order.message_id)
    ok = notary.sequence(rec(3, right.raw, b"bank-icbc-bj"), NOW + 3)
    assert isinstance(ok, Appended)
    # the auditor, replaying the entries with the same window, reaches the same verdicts
    result = audit(w, [o.entry_bytes for o in (first, middle, ok)])
    assert result.violations == []
    forged = Notary(0, ChainHead(), w.membership, w.registry)
    a = forged.sequence(rec(0, order.raw), NOW)
    sneaky = LedgerEntry(1, a.leaf_hash, NOW + 1, a.entry.source, 1, wrong.raw).to_bytes()
    bad = audit(w, [a.entry_bytes, sneaky])
    assert [(v.index, v.finding) for v in bad.violations] == [(1, Finding.ENVELOPE_INVALID)]


def test_credit_feedback_to_each_decision_is_sequenced_and_the_audit_closes_every_loop():
    """The sequencer accepts the credit platform's feedback to a listing, a delisting, a restriction
    and its lifting; the auditor's replay (with its closed-loop check) finds nothing to report."""
    from hub.audit.loops import ClosedLoops

    decisions = [f"cn.judicial.hub.credit.{t}" for t in ("DefaulterListing", "DefaulterDelisting",
                                                         "ConsumptionRestrictionImposed", "ConsumptionRestrictionLifted")]
    w = world()
    notary = Notary(0, ChainHead(), w.membership, w.registry)
    court, platform = "court-bj-chaoyang", "credit-platform-national"
    feedback = "cn.judicial.hub.credit.CreditActionFeedback"
    outs = []
    for decision in decisions:
        order = w.seal(court, decision, fixture(decision), [platform])
        outs.append(notary.sequence(rec(len(outs), order.raw, court.encode()), NOW + len(outs)))
        fb = w.seal(platform, feedback, fixture(feedback), [court], correlation_id=order.message_id)
        outs.append(notary.sequence(rec(len(outs), fb.raw, platform.encode()), NOW + len(outs)))
    assert all(isinstance(o, Appended) for o in outs), outs
    loops = ClosedLoops()
    pa = PartitionAudit(0, {1: w.membership}, w.registry, loops=loops)
    for i, o in enumerate(outs):
        pa.add(i, o.entry_bytes)
    assert pa.finish().violations == []
    assert loops.finish(NOW + 365 * DAY) == []
    assert len(loops.orders) == 4


def test_a_record_notarised_after_its_deliver_by_time_is_expired_with_a_receipt_for_the_sender():
    w = world()
    notary = Notary(0, ChainHead(), w.membership, w.registry)
    late, on_time, unbounded = w.order(), w.order(), w.order()
    out = notary.sequence(InboundRecord("hub.inbound", 0, 0, b"court-bj-chaoyang", late.raw, NOW - 1), NOW)
    assert isinstance(out, Refused) and out.reason == "EXPIRED"
    assert out.notify == "court-bj-chaoyang"
    receipt = avro.decode(hub_record("Receipt"), out.receipt)
    assert receipt["status"] == "REJECTED" and receipt["reason"] == "EXPIRED"
    assert uuid.UUID(bytes=receipt["message_id"]) == late.message_id
    assert notary.head.next_index == 0  # nothing moved
    # exactly at its deliver-by time is still in time; no bound is no bound
    assert isinstance(notary.sequence(InboundRecord("hub.inbound", 0, 1, b"court-bj-chaoyang", on_time.raw, NOW), NOW),
                      Appended)
    assert isinstance(notary.sequence(rec(2, unbounded.raw), NOW + 10**12), Refused)  # STALE by created_at, not EXPIRED
    assert isinstance(notary.sequence(rec(3, w.order().raw), NOW), Appended)


def test_an_expired_copy_of_a_message_already_on_the_ledger_is_replayed_not_expired():
    # the connector's retry of a message whose first copy was notarised: REPLAYED lets it answer
    # with the first copy's receipt
    w = world()
    notary = Notary(0, ChainHead(), w.membership, w.registry)
    env = w.order()
    assert isinstance(notary.sequence(rec(0, env.raw), NOW), Appended)
    again = notary.sequence(InboundRecord("hub.inbound", 0, 1, b"court-bj-chaoyang", env.raw, NOW - 1), NOW)
    assert isinstance(again, Refused) and again.reason == "REPLAYED"
