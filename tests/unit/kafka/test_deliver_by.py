"""The ``hub-deliver-by`` header's value, as the sequencer reads it."""

from hub.kafka.topics import deliver_by_value


def test_a_decimal_time_is_read_and_anything_else_is_no_bound():
    assert deliver_by_value(b"1765100000000000") == 1765100000000000
    assert deliver_by_value(None) is None
    for odd in (b"", b"-5", b"1e9", b" 12", b"12 ", b"\xd9\xa1", b"9" * 20):
        assert deliver_by_value(odd) is None, odd
