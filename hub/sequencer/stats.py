"""What a sequencer counts and times: records appended and refused, transactions, delays."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

#: records whose delays the stats keep
SAMPLES = 10_000


@dataclass
class SequencerStats:
    """Counts and timings of one sequencer run, reported when it stops."""

    appended: int = 0
    refused: int = 0
    batches: int = 0
    aborts: int = 0
    checkpoints: int = 0
    #: times the run resumed from the committed log after Kafka failed under it
    resumes: int = 0
    #: seconds spent in committed transactions: producing (with the wait for the checks) and
    #: committing; the longest transaction
    produce_s: float = 0.0
    commit_s: float = 0.0
    longest_s: float = 0.0
    #: inbound record's timestamp -> its transaction committed, ms (the most recent records)
    delays_ms: deque[float] = field(default_factory=lambda: deque(maxlen=SAMPLES))
    #: ... -> consumed by the sequencer, ms
    pickup_ms: deque[float] = field(default_factory=lambda: deque(maxlen=SAMPLES))

    def timing(self) -> str:
        n = max(self.batches, 1)
        text = (f"per transaction: produce {self.produce_s / n * 1000:.1f} ms, commit {self.commit_s / n * 1000:.1f} ms; "
                f"longest {self.longest_s * 1000:.0f} ms")
        for name, values in (("inbound to consumed", self.pickup_ms), ("inbound to committed", self.delays_ms)):
            if values:
                v = sorted(values)
                text += f"; {name} p50 {v[len(v) // 2]:.0f} ms, p99 {v[int(0.99 * (len(v) - 1))]:.0f} ms"
        return text

    def sample(self, batch_ms: list[int], consumed_ms: float, committed_ms: float) -> None:
        for t in batch_ms:
            self.pickup_ms.append(consumed_ms - t)
            self.delays_ms.append(committed_ms - t)
