"""Reconciliation, on and off the chain (the Opinions' point 31): what the hub received, what it
notarised or refused, and what it delivered agree record for record (pure).

Of one ledger partition:

- **inbound = ledger + rejected.** The sequencer reads an inbound partition in order and places
  every record exactly once: as a ledger entry or as a rejection, each carrying the record's
  offset and its bytes unchanged. So every inbound record below the highest offset placed is
  placed once (``UNPLACED``, ``PLACED_TWICE``), as it was received (``NOT_AS_RECEIVED``), and
  nothing is placed that inbound does not hold (``PLACED_UNSEEN``). Records after the highest
  placed are pending, not missing. Inbound keeps records 7 days (and an approved erasure deletes
  what the sequencer has read): what it no longer holds is out of reach, and counted as such.
- **ledger -> outboxes.** Every entry is in each recipient's outbox (keyed by its message id,
  the entry's exact bytes: ``UNDELIVERED``, ``DELIVERED_ALTERED``), within what the outbox keeps
  (30 days: an entry notarised before the outbox's oldest record is out of reach).

That every checkpoint matches the replayed tree, and so is consistent with the next, is the
audit's own check (:mod:`hub.audit.replay`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Placement:
    """Where the sequencer put one inbound record: the ledger (at ``index``) or the rejections."""

    source_offset: int
    original: bytes
    index: int | None = None  # None: rejected


@dataclass(frozen=True)
class Delivery:
    """One ledger entry as its recipients' outboxes must hold it."""

    index: int
    message_id: bytes
    recipients: tuple[str, ...]
    entry: bytes
    notarised_at_ms: int


@dataclass(frozen=True)
class OutboxCopy:
    """What one recipient's outbox holds: each message id's entry bytes, and the timestamp of its
    oldest record when it no longer holds everything it was ever sent (None: it does)."""

    entries: Mapping[bytes, bytes]
    kept_since_ms: int | None = None


@dataclass(frozen=True)
class Discrepancy:
    partition: int
    kind: str
    detail: str

    def line(self) -> str:
        return f"partition {self.partition}: {self.kind}: {self.detail}"


@dataclass
class Reconciled:
    """The figures and discrepancies of one partition's reconciliation."""

    partition: int
    inbound: int = 0
    out_of_reach: int = 0
    pending: int = 0
    entries: int = 0
    rejections: int = 0
    deliveries: int = 0
    deliveries_out_of_reach: int = 0
    discrepancies: list[Discrepancy] = field(default_factory=list)

    def add(self, kind: str, detail: str) -> None:
        self.discrepancies.append(Discrepancy(self.partition, kind, detail))


def reconcile_inbound(out: Reconciled, inbound: Mapping[int, bytes], inbound_low: int,
                      placements: Sequence[Placement]) -> None:
    """inbound = ledger + rejected, record for record (the module's first part), into ``out``."""
    out.inbound = len(inbound)
    out.entries = sum(1 for p in placements if p.index is not None)
    out.rejections = len(placements) - out.entries
    placed: dict[int, Placement] = {}
    for p in placements:
        if p.source_offset < inbound_low:
            out.out_of_reach += 1
            continue
        if p.source_offset in placed:
            out.add("PLACED_TWICE", f"inbound offset {p.source_offset} is placed twice ({_where(placed[p.source_offset])} "
                                    f"and {_where(p)})")
            continue
        placed[p.source_offset] = p
        received = inbound.get(p.source_offset)
        if received is None:
            out.add("PLACED_UNSEEN", f"{_where(p)} names inbound offset {p.source_offset}, which inbound never held")
        elif received != p.original:
            out.add("NOT_AS_RECEIVED", f"{_where(p)} differs from the inbound record at offset {p.source_offset}")
    last = max((p.source_offset for p in placements), default=-1)
    for offset in sorted(inbound):
        if offset > last:
            out.pending += 1
        elif offset not in placed:
            out.add("UNPLACED", f"the inbound record at offset {offset} is neither on the ledger nor rejected, "
                                f"although later records are (up to offset {last})")


def reconcile_outboxes(out: Reconciled, deliveries: Sequence[Delivery], outboxes: Mapping[str, OutboxCopy]) -> None:
    """Every entry in each of its recipients' outboxes (the module's second part), into ``out``."""
    for d in deliveries:
        for recipient in d.recipients:
            box = outboxes.get(recipient)
            if box is not None and box.kept_since_ms is not None and d.notarised_at_ms < box.kept_since_ms:
                out.deliveries_out_of_reach += 1
                continue
            out.deliveries += 1
            held = box.entries.get(d.message_id) if box is not None else None
            if held is None:
                out.add("UNDELIVERED", f"entry {d.index} is not in the outbox of its recipient {recipient}")
            elif held != d.entry:
                out.add("DELIVERED_ALTERED", f"entry {d.index} is in the outbox of {recipient} with other bytes")


def _where(p: Placement) -> str:
    return f"ledger entry {p.index}" if p.index is not None else f"the rejection of offset {p.source_offset}"
