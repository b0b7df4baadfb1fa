"""Stateless validation of many envelopes at once, on threads.

Checking Ed25519 signatures dominates the sequencer's and the auditor's work and needs no
ledger state. ``cryptography`` (50 and later) releases the GIL while it verifies, so threads check a batch
on every core while the calling thread chains, hashes and produces the previous one: no
processes, no copies of the membership, no pickling. The verdicts are exactly
:func:`hub.validation.precheck`'s, each computed by that function.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

from hub.membership import Membership
from hub.schemas import SchemaRegistry
from hub.validation import Limits, Verdict, precheck

#: batches smaller than this are checked in the caller's thread: under light load the threads'
#: hand-offs of the GIL delayed the main thread more than checking a few records itself costs
#: (measured at 500 messages/s: sequencer p99 500 ms with the threads, 240 ms without)
INLINE_BELOW = 100

#: (envelope bytes, membership to check it against, the clock to judge its times by)
Job = tuple[bytes, Membership, int]

T = TypeVar("T")
R = TypeVar("R")


class PrecheckBatch(Generic[R]):
    """The results of one submitted batch, in submission order."""

    def __init__(self, futures: list[Future[list[R]]]):
        self._futures = futures

    def result(self) -> list[R]:
        out: list[R] = []
        for f in self._futures:
            out.extend(f.result())
        return out

    def cancel(self) -> None:
        for f in self._futures:
            f.cancel()


class PrecheckPool:
    """``threads`` threads running :func:`precheck`; ``threads=0`` checks in the caller's thread."""

    def __init__(self, registry: SchemaRegistry, limits: Limits = Limits(), threads: int = 2):
        if threads < 0:
            raise ValueError("threads must be >= 0")
        self.registry = registry
        self.limits = limits
        self.threads = threads
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="precheck") if threads else None

    def _check(self, jobs: Sequence[Job]) -> list[Verdict]:
        registry, limits = self.registry, self.limits
        return [precheck(raw, membership, registry, now, limits) for raw, membership, now in jobs]

    def submit(self, jobs: Sequence[Job]) -> PrecheckBatch[Verdict]:
        """Start checking ``jobs``; the batch's ``result()`` waits for the verdicts."""
        return self.map(self._check, jobs)

    def map(self, check: Callable[[Sequence[T]], list[R]], items: Sequence[T]) -> PrecheckBatch[R]:
        """Start ``check`` on slices of ``items`` (a caller's own stateless work around
        :func:`precheck`); the batch's ``result()`` waits for the results, in order."""
        if self._pool is None or len(items) < INLINE_BELOW:
            done: Future[list[R]] = Future()
            done.set_result(check(items))
            return PrecheckBatch([done])
        # one slice per thread, so every core verifies; never slices too small to be worth a hand-off
        n = max(1, min(self.threads, len(items) // 16))
        size = -(-len(items) // n)
        return PrecheckBatch([self._pool.submit(check, items[i:i + size]) for i in range(0, len(items), size)])

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
