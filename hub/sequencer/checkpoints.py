"""When and how the sequencer signs checkpoints of a ledger partition (pure).

A checkpoint is a C2SP tlog-checkpoint note over the RFC 9162 root of the partition's
entries, signed by the hub's sequencer key under the partition's origin as key name.
One is due when the tree has grown and either ``period_us`` has passed since the last
one or ``every_entries`` entries were added; never for an unchanged tree.
"""

from __future__ import annotations

from dataclasses import dataclass

from hub.consortium.identity import SigningKey
from hub.ledger.checkpoint import Checkpoint, sign_checkpoint
from hub.ledger.merkle import CompactRange
from hub.ledger.note import NoteSigner


def log_signer(key: SigningKey, origin_: str) -> NoteSigner:
    return NoteSigner(origin_, key.private_key)


@dataclass
class CheckpointPolicy:
    """When to sign the next checkpoint: once the tree has grown, after ``period_us`` or after
    ``every_entries`` entries since the last one, whichever comes first."""

    period_us: int = 1_000_000
    every_entries: int = 10_000
    last_size: int = 0
    last_at: int = 0

    def due(self, tree_size: int, now_us: int) -> bool:
        if tree_size <= self.last_size:
            return False
        return now_us - self.last_at >= self.period_us or tree_size - self.last_size >= self.every_entries

    def record(self, tree_size: int, now_us: int) -> None:
        self.last_size = tree_size
        self.last_at = now_us


def make_checkpoint(tree: CompactRange, signer: NoteSigner) -> tuple[Checkpoint, bytes]:
    cp = Checkpoint(signer.name, tree.size, tree.root())
    return cp, sign_checkpoint(cp, signer)
