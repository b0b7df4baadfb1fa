"""``hub audit --reconcile``'s Kafka edge: reads inbound, the ledger, the rejections and every
outbox, and hands them to :mod:`hub.audit.reconcile` (which decides)."""

from __future__ import annotations

from collections.abc import Sequence

from hub.audit.reconcile import (
    Delivery,
    OutboxCopy,
    Placement,
    Reconciled,
    reconcile_inbound,
    reconcile_outboxes,
)
from hub.kafka.reader import read_partition, watermarks
from hub.kafka.topics import KIND_HEADER, Topics
from hub.ledger.entry import LedgerEntry
from hub.standard import avro
from hub.standard.envelope import Envelope
from hub.standard.schemas import hub_record


def reconcile(bootstrap: str, namespace: str, partitions: Sequence[int]) -> list[Reconciled]:
    """Reconcile each ledger partition of ``namespace`` with inbound and its recipients' outboxes."""
    t = Topics(namespace)
    results, ledgers = [], []
    for p in partitions:
        out = Reconciled(p)
        low, _ = watermarks(bootstrap, t.inbound, p)
        inbound = {r.offset: r.value for r in read_partition(bootstrap, t.inbound, p)}
        placements: list[Placement] = []
        deliveries: list[Delivery] = []
        for rec in read_partition(bootstrap, t.ledger, p):
            entry = LedgerEntry.from_bytes(rec.value)
            env = Envelope.from_bytes(entry.envelope)
            placements.append(Placement(entry.source.offset, entry.envelope, entry.index))
            deliveries.append(Delivery(entry.index, env.message_id.bytes, tuple(env.recipients), rec.value,
                                       entry.notarised_at // 1000))
        for rec in read_partition(bootstrap, t.rejected, p):
            rejection = avro.decode(hub_record("Rejection"), rec.value)
            placements.append(Placement(rejection["source"]["offset"], rejection["original"]))
        reconcile_inbound(out, inbound, low, placements)
        results.append(out)
        ledgers.append(deliveries)
    recipients = sorted({r for deliveries in ledgers for d in deliveries for r in d.recipients})
    outboxes = {m: read_outbox(bootstrap, t.outbox(m)) for m in recipients}
    for out, deliveries in zip(results, ledgers, strict=True):
        reconcile_outboxes(out, deliveries, outboxes)
    return results


def read_outbox(bootstrap: str, topic: str) -> OutboxCopy:
    """The entries an outbox holds by message id (receipts left out), and since when it holds
    everything (None: since its first record)."""
    low, _ = watermarks(bootstrap, topic, 0)
    entries: dict[bytes, bytes] = {}
    kept_since = None
    for rec in read_partition(bootstrap, topic, 0):
        if low > 0 and kept_since is None:
            kept_since = rec.timestamp_ms
        if rec.key is not None and rec.headers.get(KIND_HEADER) == b"entry":
            entries[rec.key] = rec.value
    return OutboxCopy(entries, kept_since)
