"""Prechecks with the signatures verified by worker processes give exactly precheck's verdicts, in order."""

import uuid

import pytest

from hub.sequencer.prechecks import PrecheckPool
from hub.sequencer.signature_workers import INLINE_BELOW, SignatureWorkers
from hub.standard.validation import Accepted, Reason, Rejected, precheck
from tests.unit.factories import DAY, NOW, world


def mixed_jobs():
    w = world()
    good = [w.order().raw for _ in range(INLINE_BELOW + 50)]  # enough to go to the workers
    forged = bytearray(w.order().raw)
    forged[-1] ^= 1
    stale = w.order(created_at=NOW - 3 * DAY).raw
    answer = w.order(correlation_id=uuid.UUID(int=1)).raw
    # a forged signature on a payload that does not decode either: the signature is checked first
    bad_both = bytearray(w.order().raw)
    payload_at = bad_both.index(b"\xef\xbc\x88")  # inside the payload's first string
    bad_both[payload_at] = 0xFF
    unknown_key = w.order(key=w.keys["bank-icbc-bj"]).raw  # names a key the court does not have
    raws = good[:10] + [bytes(forged), b"\x00garbage", stale, bytes(bad_both), unknown_key] + good[10:] + [answer]
    return w, [(raw, w.membership, NOW) for raw in raws]


@pytest.mark.parametrize("processes", [0, 1, 2])
def test_workers_give_the_serial_verdicts_in_order(processes):
    w, jobs = mixed_jobs()
    pool = PrecheckPool(w.registry, processes=processes)
    try:
        got = pool.submit(jobs).result()
    finally:
        pool.close()
    want = [precheck(raw, m, w.registry, now) for raw, m, now in jobs]
    assert got == want
    reasons = [v.reason if isinstance(v, Rejected) else "ok" for v in got]
    assert reasons[10:15] == [Reason.BAD_SIGNATURE, Reason.MALFORMED, Reason.STALE, Reason.BAD_SIGNATURE,
                              Reason.UNKNOWN_KEY]
    assert sum(isinstance(v, Accepted) for v in got) == len(jobs) - 5
    # the payload the schema check decoded travels with the verdict
    assert all(v.payload["case_number"] for v in got if isinstance(v, Accepted))


def test_batches_in_flight_at_once_keep_their_own_verdicts():
    w, jobs = mixed_jobs()
    pool = PrecheckPool(w.registry, processes=2)
    try:
        batches = [pool.submit(jobs[i:]) for i in range(8)]
        results = [b.result() for b in reversed(batches)]
    finally:
        pool.close()
    want = [precheck(raw, m, w.registry, now) for raw, m, now in jobs]
    assert list(reversed(results)) == [want[i:] for i in range(8)]


def test_an_empty_batch_and_a_closed_pool():
    w, _ = mixed_jobs()
    pool = PrecheckPool(w.registry, processes=2)
    assert pool.submit([]).result() == []
    pool.close()
    good = w.order().raw
    with pytest.raises(RuntimeError):
        pool.submit([(good, w.membership, NOW)] * INLINE_BELOW)


def test_a_small_batch_is_checked_in_the_callers_process():
    w, jobs = mixed_jobs()
    pool = PrecheckPool(w.registry, processes=2)
    pool.close()  # no worker could check it
    small = jobs[: INLINE_BELOW - 1]
    assert pool.submit(small).result() == [precheck(raw, m, w.registry, now) for raw, m, now in small]


def test_pools_can_share_one_set_of_workers():
    w, jobs = mixed_jobs()
    shared = SignatureWorkers(1)
    try:
        a, b = PrecheckPool(w.registry, workers=shared), PrecheckPool(w.registry, workers=shared)
        first = a.submit(jobs)
        a.close()  # closing a pool that borrowed the workers leaves them running for the other
        assert b.submit(jobs).result() == first.result()
    finally:
        shared.close()


@pytest.mark.parametrize("processes", [0, 2])
def test_a_payload_breaking_domain_rules_is_rule_violated_with_the_signatures_in_workers(processes):
    from decimal import Decimal

    from tests.unit.factories import ORDER, freeze_order

    w = world()
    bad = w.seal("court-bj-chaoyang", ORDER, freeze_order() | {"amount": Decimal("0.00")}, ["bank-icbc-bj"]).raw
    forged = bytearray(bad)
    forged[-1] ^= 1
    jobs = [(raw, w.membership, NOW) for raw in [w.order().raw] * INLINE_BELOW + [bad, bytes(forged)]]
    pool = PrecheckPool(w.registry, processes=processes)
    try:
        got = pool.submit(jobs).result()
    finally:
        pool.close()
    assert got == [precheck(raw, m, w.registry, now) for raw, m, now in jobs]
    assert [v.reason for v in got[-2:] if isinstance(v, Rejected)] == [Reason.RULE_VIOLATED, Reason.BAD_SIGNATURE]
    assert "payload.amount: AMOUNT_NOT_POSITIVE" in got[-2].detail  # type: ignore[union-attr]
