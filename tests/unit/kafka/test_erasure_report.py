"""What `hub agency erase` and `hub kafka erasures apply` say they did (no broker)."""

from hub.kafka.erasure import ErasureReport, InboundPartition


def test_a_partition_whose_consumed_records_are_deleted_has_nothing_pending():
    done = InboundPartition(0, consumed_to=7, low=7, high=7, deleted=5)
    assert done.pending == 0
    report = ErasureReport(3, erased=2, tombstones=2, inbound=(done,))
    assert report.complete
    assert report.lines() == [
        "membership v3 erases 2 message(s): 2 tombstone(s) written to the keys topic",
        "inbound partition 0: consumed up to offset 7; records before offset 7 deleted (5 now); no record remains",
    ]


def test_records_the_sequencer_has_not_consumed_are_reported_pending():
    behind = InboundPartition(1, consumed_to=4, low=4, high=9, deleted=0)
    never = InboundPartition(2, consumed_to=None, low=0, high=3, deleted=0)
    assert (behind.pending, never.pending) == (5, 3)
    report = ErasureReport(3, erased=1, tombstones=1, inbound=(behind, never))
    assert not report.complete
    lines = report.lines()
    assert "5 record(s) not consumed yet remain: run `hub kafka erasures apply` again" in lines[1]
    assert lines[2].startswith("inbound partition 2: nothing consumed yet; records before offset 0 deleted (0 now)")


def test_a_membership_without_erasures_changes_nothing():
    assert ErasureReport(1, 0, 0, ()).lines() == ["membership v1 erases no message: nothing to do"]
    assert ErasureReport(1, 0, 0, ()).complete
