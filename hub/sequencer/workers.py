"""Stateless validation of inbound batches in worker processes.

Signature checks dominate the sequencer's work and need no ledger state, so they run in
``workers`` processes (``spawn``ed: never forked from a process with Kafka threads) while
the main process chains, encodes and produces. Each worker holds the membership and the
schemas; the verdicts are exactly :func:`hub.validation.precheck`'s.
"""

from __future__ import annotations

from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from hub.membership import Membership
from hub.schemas import SchemaRegistry
from hub.validation import Limits, Verdict, precheck

_state: tuple[Membership, SchemaRegistry, Limits] | None = None


def _init(membership_json: str, schemas_dir: str, limits: Limits) -> None:
    global _state
    _state = (Membership.from_json(membership_json), SchemaRegistry.load(Path(schemas_dir)), limits)


def _precheck_many(raws: list[bytes], now_us: int) -> list[Verdict]:
    assert _state is not None, "worker not initialised"
    membership, registry, limits = _state
    return [precheck(raw, membership, registry, now_us, limits) for raw in raws]


class PrecheckBatch:
    def __init__(self, futures: list[Future[list[Verdict]]]):
        self._futures = futures

    def result(self) -> list[Verdict]:
        out: list[Verdict] = []
        for f in self._futures:
            out.extend(f.result())
        return out

    def cancel(self) -> None:
        for f in self._futures:
            f.cancel()


class PrecheckPool:
    def __init__(self, workers: int, membership: Membership, schemas_dir: Path, limits: Limits = Limits()):
        self.workers = workers
        self._pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"), initializer=_init,
                                         initargs=(membership.to_json(), str(schemas_dir), limits))
        # start the workers now, not on the first batch
        for f in [self._pool.submit(_precheck_many, [], 0) for _ in range(workers)]:
            f.result()

    def submit(self, raws: list[bytes], now_us: int) -> PrecheckBatch:
        n = max(1, min(self.workers, len(raws) // 32 or 1))
        size = -(-len(raws) // n)
        return PrecheckBatch([self._pool.submit(_precheck_many, raws[i:i + size], now_us)
                              for i in range(0, len(raws), size)])

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
