"""The replay window on disk: seen ids, the orders answers name, eviction by time, rollback."""

import uuid

import pytest

from hub.sequencer.replay import CHUNK, EVICT_EVERY_US, ReplayMemory, _sized

DAY = 86_400_000_000
NOW = 1_795_000_000_000_000


def ids(n):
    return [uuid.UUID(int=i + 1) for i in range(n)]


def test_an_added_id_is_seen_and_an_order_remembers_its_recipients():
    m = ReplayMemory(DAY)
    a, b, c = ids(3)
    m.add(a, NOW, NOW, ("cn.judicial.hub.enforcement.FreezeOrder", ("bank-icbc-bj", "bank-ccb-bj")))
    m.add(b, NOW, NOW)
    assert m.seen(a) and m.seen(b) and not m.seen(c)
    assert m.asked(a) == ("cn.judicial.hub.enforcement.FreezeOrder", ("bank-icbc-bj", "bank-ccb-bj"))
    assert m.asked(b) is None and m.asked(c) is None
    m.add(a, NOW, NOW)  # the same id again changes nothing
    assert len(m) == 2
    assert m.asked(a) is not None


def test_ids_older_than_the_window_are_forgotten_when_the_batch_is_kept():
    m = ReplayMemory(DAY)
    old, young = ids(2)
    m.add(old, NOW - DAY, NOW - DAY)
    m.add(young, NOW - DAY + 10 * EVICT_EVERY_US, NOW - DAY + 10 * EVICT_EVERY_US)
    m.mark()
    assert len(m) == 2
    m.add(uuid.uuid4(), NOW + EVICT_EVERY_US, NOW + EVICT_EVERY_US)
    m.mark()
    assert not m.seen(old)
    assert m.seen(young)
    assert len(m) == 2


def test_rollback_undoes_what_was_added_since_the_mark_and_the_mark_stays():
    m = ReplayMemory(DAY)
    kept, added, other = ids(3)
    m.add(kept, NOW, NOW)
    m.mark()
    m.add(added, NOW, NOW)
    assert m.seen(added) and len(m) == 2
    m.rollback()
    assert m.seen(kept) and not m.seen(added)
    assert len(m) == 1
    # a second batch rolls back to the same point
    m.add(other, NOW, NOW)
    m.rollback()
    assert not m.seen(other)
    # and a kept batch stays kept
    m.add(added, NOW, NOW)
    m.mark()
    m.rollback()
    assert m.seen(added) and len(m) == 2


def test_prefetched_answers_match_the_database():
    m = ReplayMemory(DAY)
    order, plain, unknown, fresh = ids(4)
    m.add(order, NOW, NOW, ("Order", ("bank-a",)))
    m.add(plain, NOW, NOW)
    m.mark()
    m.prefetch([order, plain, unknown])
    assert m.seen(order) and m.seen(plain) and not m.seen(unknown)
    assert m.asked(order) == ("Order", ("bank-a",)) and m.asked(plain) is None and m.asked(unknown) is None
    m.add(fresh, NOW, NOW, ("Order", ("bank-b",)))  # not prefetched: added in this batch
    assert m.seen(fresh) and m.asked(fresh) == ("Order", ("bank-b",))
    m.add(unknown, NOW, NOW)
    assert m.seen(unknown)
    m.mark()
    assert all(m.seen(u) for u in (order, plain, unknown, fresh)) and len(m) == 4


def test_a_large_window_stays_exact():
    m = ReplayMemory(DAY)
    many = ids(50_000)
    for i, u in enumerate(many):
        m.add(u, NOW + i, NOW + i)
        if i % 500 == 0:
            m.mark()
    assert len(m) == 50_000
    assert all(m.seen(u) for u in many[::97])
    assert not m.seen(uuid.UUID(int=10**9))


@pytest.mark.parametrize("n", [1, 2, 3, 255, 256, 257, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK + 3])
def test_batches_of_any_size_count_and_find_each_id_once(n):
    m = ReplayMemory(DAY)
    kept = ids(n)
    m.prefetch(kept)
    for i, u in enumerate(kept):
        m.add(u, NOW + i, NOW + i, ("Order", (f"bank-{i}",)) if i % 2 else None)
    m.mark()
    assert len(m) == n  # the padding rows were not inserted again
    others = [uuid.UUID(int=10**9 + i) for i in range(n)]
    m.prefetch(kept[::-1] + others)
    assert all(m.seen(u) for u in kept) and not any(m.seen(u) for u in others)
    assert m.asked(kept[-1]) == (("Order", (f"bank-{n - 1}",)) if (n - 1) % 2 else None)


def test_statements_hold_a_power_of_two_of_rows_padded_with_the_last():
    sizes = set()
    for n in range(1, CHUNK + 1):
        items = list(range(n))
        padded = _sized(items)
        assert padded[:n] == items and set(padded[n:]) <= {n - 1}
        assert len(padded) >= n and len(padded) & (len(padded) - 1) == 0
        sizes.add(len(padded))
    assert len(sizes) == CHUNK.bit_length()  # 1, 2, 4 ... CHUNK: a few texts, each compiled once
