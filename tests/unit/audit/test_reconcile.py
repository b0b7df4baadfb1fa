"""Reconciliation (hub.audit.reconcile): inbound = ledger + rejected, and every entry in its recipients' outboxes."""

from __future__ import annotations

from hub.audit.reconcile import (
    Delivery,
    OutboxCopy,
    Placement,
    Reconciled,
    reconcile_inbound,
    reconcile_outboxes,
)

INBOUND = {10: b"a", 11: b"b", 12: b"c", 13: b"d"}
CLEAN = [Placement(10, b"a", 0), Placement(11, b"b"), Placement(12, b"c", 1)]


def kinds(out: Reconciled) -> list[str]:
    return [d.kind for d in out.discrepancies]


def test_every_record_placed_once_as_received_reconciles_and_later_ones_are_pending():
    out = Reconciled(0)
    reconcile_inbound(out, INBOUND, 10, CLEAN)
    assert kinds(out) == [] and (out.inbound, out.entries, out.rejections, out.pending) == (4, 2, 1, 1)


def test_a_record_skipped_placed_twice_altered_or_unseen_is_named():
    out = Reconciled(3)
    reconcile_inbound(out, INBOUND, 10, [Placement(10, b"a", 0), Placement(12, b"c", 1), Placement(12, b"c")])
    assert kinds(out) == ["PLACED_TWICE", "UNPLACED"] and "offset 11" in out.discrepancies[1].detail
    out = Reconciled(0)
    reconcile_inbound(out, INBOUND, 10, [*CLEAN[:2], Placement(12, b"forged", 1), Placement(99, b"z", 2)])
    assert kinds(out) == ["NOT_AS_RECEIVED", "PLACED_UNSEEN", "UNPLACED"]  # 13 lies before 99, placed
    assert out.discrepancies[0].line().startswith("partition 0: NOT_AS_RECEIVED: ledger entry 1")


def test_what_inbound_no_longer_holds_is_out_of_reach_not_missing():
    out = Reconciled(0)
    reconcile_inbound(out, {12: b"c", 13: b"d"}, 12, CLEAN)
    assert kinds(out) == [] and out.out_of_reach == 2


def test_every_entry_is_in_each_recipients_outbox_with_its_bytes():
    d = Delivery(5, b"m" * 16, ("bank", "registry"), b"entry", notarised_at_ms=1_000)
    out = Reconciled(0)
    reconcile_outboxes(out, [d], {"bank": OutboxCopy({b"m" * 16: b"entry"}), "registry": OutboxCopy({b"m" * 16: b"entry"})})
    assert kinds(out) == [] and out.deliveries == 2
    out = Reconciled(0)
    reconcile_outboxes(out, [d], {"bank": OutboxCopy({}), "registry": OutboxCopy({b"m" * 16: b"other"})})
    assert kinds(out) == ["UNDELIVERED", "DELIVERED_ALTERED"]
    assert "bank" in out.discrepancies[0].detail and "registry" in out.discrepancies[1].detail


def test_an_entry_older_than_what_the_outbox_keeps_is_out_of_reach():
    d = Delivery(5, b"m" * 16, ("bank",), b"entry", notarised_at_ms=1_000)
    out = Reconciled(0)
    reconcile_outboxes(out, [d], {"bank": OutboxCopy({}, kept_since_ms=2_000)})
    assert kinds(out) == [] and (out.deliveries, out.deliveries_out_of_reach) == (0, 1)
