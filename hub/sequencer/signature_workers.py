"""Ed25519 verification in worker processes: the only work the hub ships out of its process.

The sequencer and the auditor spend most of their time verifying signatures. ``cryptography``
releases the GIL while it verifies, but each verification is short (~120 µs here) and every
thread must take the GIL back between two of them, while the decoding and chaining around them
hold it: measured on the auditor, two checking threads reached 1.0-1.1 of one verifying core,
not two. A worker process has a GIL of its own. It receives only what the check needs, as
``(public key, signature, signed bytes)`` triples, and answers one byte per triple (1: verifies).
No membership, no records and no verdicts cross the process boundary. The caller decides which
key a message must verify with and what a failed check means (:mod:`hub.sequencer.prechecks`).

Workers are started with ``spawn`` (the caller may already run Kafka clients' threads, which a
``fork`` would copy half-alive), ignore SIGINT (the caller owns Ctrl-C) and exit by themselves
when the process that started them dies, even by SIGKILL. A worker that dies (the OOM killer,
an operator's signal) breaks the pool; :class:`SignatureWorkers` starts a new one and checks that
batch again, since verification has no state to lose.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from hub.errors import HubError

log = logging.getLogger(__name__)

#: (raw Ed25519 public key, signature, signed bytes)
Check = tuple[bytes, bytes, bytes]

#: batches smaller than this are verified in the caller: a round trip to the workers costs more
#: than checking a few signatures
INLINE_BELOW = 16
#: keys a worker keeps parsed; a membership holds a few per member
_KEY_CACHE = 4096
_keys: dict[bytes, Ed25519PublicKey | None] = {}


def verify_all(checks: Sequence[Check]) -> bytes:
    """One byte per check: 1 if the signature verifies with the key, else 0 (a malformed key or
    signature does not verify). Runs in a worker, or in the caller when there are none."""
    out = bytearray(len(checks))
    for i, (raw_key, signature, message) in enumerate(checks):
        key = _key(raw_key)
        if key is None or len(signature) != 64:
            continue
        try:
            key.verify(signature, message)
        except InvalidSignature:
            continue
        out[i] = 1
    return bytes(out)


def _key(raw: bytes) -> Ed25519PublicKey | None:
    """The parsed key (None: not an Ed25519 public key), parsed once per worker."""
    if raw in _keys:
        return _keys[raw]
    if len(_keys) >= _KEY_CACHE:
        _keys.clear()
    try:
        key: Ed25519PublicKey | None = Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        key = None
    _keys[raw] = key
    return key


def _worker_started(parent: int) -> None:
    """In each worker: leave Ctrl-C to the caller, and end with it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while True:
            if os.getppid() != parent:  # the caller died: nobody will read our answers
                os._exit(0)
            threading.Event().wait(0.5)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _done(answer: bytes) -> Future[bytes]:
    f: Future[bytes] = Future()
    f.set_result(answer)
    return f


def _ready(_: int) -> int:
    threading.Event().wait(0.02)  # long enough that every worker takes one
    return os.getpid()


class SignatureBatch:
    """The answers for one submitted list of checks, in order."""

    def __init__(self, owner: SignatureWorkers | None, pool: ProcessPoolExecutor | None, checks: Sequence[Check],
                 futures: list[Future[bytes]]):
        self._owner = owner
        self._pool = pool
        self._checks = checks
        self._futures = futures

    def result(self) -> bytes:
        try:
            return b"".join(f.result() for f in self._futures)
        except BrokenProcessPool:
            assert self._owner is not None
            return self._owner.recheck(self._checks, self._pool)

    def cancel(self) -> None:
        for f in self._futures:
            f.cancel()


class SignatureWorkers:
    """``processes`` worker processes verifying Ed25519 signatures; 0 verifies in the caller, and
    so does a batch of fewer than INLINE_BELOW checks.

    Started at the first :meth:`submit` of a batch for them (or :meth:`start`), so a caller that
    never has one never pays for their start."""

    def __init__(self, processes: int = 2):
        if processes < 0:
            raise ValueError("processes must be >= 0")
        self.processes = processes
        self._pool: ProcessPoolExecutor | None = None
        self._closed = False

    def start(self) -> list[int]:
        """Start the workers now and wait until each answers; their process ids."""
        pool = self._executor()
        if pool is None:
            return []
        return sorted(set(pool.map(_ready, range(self.processes * 4))))

    def _executor(self) -> ProcessPoolExecutor | None:
        if self._closed:
            raise RuntimeError("the signature workers are closed")
        if self.processes == 0:
            return None
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.processes, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_worker_started, initargs=(os.getpid(),))
        return self._pool

    def submit(self, checks: Sequence[Check]) -> SignatureBatch:
        """Start verifying ``checks``, split evenly over the workers."""
        pool = self._executor() if len(checks) >= INLINE_BELOW else None
        if pool is None:
            return SignatureBatch(None, None, checks, [_done(verify_all(checks))])
        n = max(1, min(self.processes, len(checks) // INLINE_BELOW))  # no slice too small to ship
        size = -(-len(checks) // n)
        try:
            futures = [pool.submit(verify_all, checks[i:i + size]) for i in range(0, len(checks), size)]
        except BrokenProcessPool:
            return SignatureBatch(None, None, checks, [_done(self.recheck(checks, pool))])
        return SignatureBatch(self, pool, checks, futures)

    def recheck(self, checks: Sequence[Check], broken: ProcessPoolExecutor | None) -> bytes:
        """After a worker of ``broken`` died: new workers (unless another batch started them
        already), and the batch checked again, once."""
        if broken is not None and self._pool is broken:
            log.warning("a signature worker process died: starting new ones and checking %d signatures again",
                        len(checks))
            broken.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        pool = self._executor()
        assert pool is not None
        try:
            return pool.submit(verify_all, checks).result()
        except BrokenProcessPool as exc:
            raise HubError("the signature worker processes keep dying: is the machine out of memory?") from exc

    def close(self) -> None:
        self._closed = True
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
