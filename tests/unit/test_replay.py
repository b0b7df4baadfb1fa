"""The replay window on disk: seen ids, the orders answers name, eviction by time, rollback."""

import uuid

from hub.sequencer.replay import EVICT_EVERY_US, ReplayMemory

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


def test_ids_older_than_the_window_are_forgotten():
    m = ReplayMemory(DAY)
    old, young = ids(2)
    m.add(old, NOW - DAY, NOW - DAY)
    m.add(young, NOW - DAY + 10 * EVICT_EVERY_US, NOW - DAY + 10 * EVICT_EVERY_US)
    assert len(m) == 2
    m.add(uuid.uuid4(), NOW + EVICT_EVERY_US, NOW + EVICT_EVERY_US)
    assert not m.seen(old)
    assert m.seen(young)
    assert len(m) == 2


def test_rollback_undoes_adds_and_evictions_since_the_mark():
    m = ReplayMemory(DAY)
    kept, evicted, added = ids(3)
    m.add(kept, NOW, NOW)
    m.add(evicted, NOW - DAY + 1, NOW)
    m.mark()
    m.add(added, NOW + 2 * DAY, NOW + 2 * DAY)  # evicts the other two
    assert not m.seen(kept) and not m.seen(evicted) and m.seen(added)
    m.rollback()
    assert m.seen(kept) and m.seen(evicted) and not m.seen(added)
    assert len(m) == 2
    # the mark stays: a second batch rolls back to the same point, and marks move forward
    m.add(added, NOW, NOW)
    m.rollback()
    assert not m.seen(added)
    m.add(added, NOW, NOW)
    m.mark()
    m.rollback()
    assert m.seen(added)


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
