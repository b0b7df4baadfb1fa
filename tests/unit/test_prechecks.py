"""Prechecks on threads give exactly the verdicts of precheck, in submission order."""

import uuid

import pytest

from hub.prechecks import INLINE_BELOW, PrecheckPool
from hub.validation import Accepted, Reason, Rejected, precheck
from tests.unit.factories import DAY, NOW, world


def mixed_jobs():
    w = world()
    good = [w.order().raw for _ in range(INLINE_BELOW + 50)]  # enough to go to the threads
    forged = bytearray(w.order().raw)
    forged[-1] ^= 1
    stale = w.order(created_at=NOW - 3 * DAY).raw
    answer = w.order(correlation_id=uuid.UUID(int=1)).raw
    raws = good[:10] + [bytes(forged), b"\x00garbage", stale] + good[10:] + [answer]
    return w, [(raw, w.membership, NOW) for raw in raws]


@pytest.mark.parametrize("threads", [0, 1, 2, 3])
def test_threads_give_the_serial_verdicts_in_order(threads):
    w, jobs = mixed_jobs()
    pool = PrecheckPool(w.registry, threads=threads)
    try:
        got = pool.submit(jobs).result()
    finally:
        pool.close()
    want = [precheck(raw, m, w.registry, now) for raw, m, now in jobs]
    assert got == want
    reasons = [v.reason if isinstance(v, Rejected) else "ok" for v in got]
    assert reasons[10:13] == [Reason.BAD_SIGNATURE, Reason.MALFORMED, Reason.STALE]
    assert sum(isinstance(v, Accepted) for v in got) == len(jobs) - 3
    # the payload the schema check decoded travels with the verdict
    assert all(v.payload["case_number"] for v in got if isinstance(v, Accepted))


def test_an_empty_batch_and_a_closed_pool():
    w, _ = mixed_jobs()
    pool = PrecheckPool(w.registry, threads=2)
    assert pool.submit([]).result() == []
    pool.close()
    with pytest.raises(RuntimeError):
        pool.submit([(b"x", w.membership, NOW)] * INLINE_BELOW)


def test_a_small_batch_is_checked_at_once_in_the_callers_thread():
    w, jobs = mixed_jobs()
    pool = PrecheckPool(w.registry, threads=2)
    pool.close()  # no thread could check it
    small = jobs[: INLINE_BELOW - 1]
    assert pool.submit(small).result() == [precheck(raw, m, w.registry, now) for raw, m, now in small]
