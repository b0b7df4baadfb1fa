"""The membership log as a running sequencer follows it: the updates it has read and not applied yet."""

from __future__ import annotations

import time

from hub.errors import KafkaOperationError
from hub.kafka.consumer import Consumer


class MembershipFeed:
    """Reads the membership log beyond the updates the sequencer applied (from ``next_offset``).

    :meth:`poll` takes what has arrived without waiting; :meth:`catch_up` reads to the log's end
    as the broker knows it now. :meth:`take` hands the records read over, to be applied in order.
    """

    def __init__(self, consumer: Consumer, topic: str, next_offset: int) -> None:
        self._consumer = consumer
        self.topic = topic
        #: the log's offset of the next update to apply
        self.next = next_offset
        #: records read and not applied yet
        self.held: list[bytes] = []

    def poll(self) -> None:
        """Take the records already fetched (the log is written without transactions: a waiting
        fetch returns as soon as an update lands)."""
        self.held += [m.value() or b"" for m in self._consumer.consume(10, 0)]

    def catch_up(self, timeout: float = 30.0) -> None:
        """Read the log to its end (one watermark query when nothing is new)."""
        _, high = self._consumer.watermarks(self.topic, 0, timeout=10)
        deadline = time.monotonic() + timeout
        while self.next + len(self.held) < high:
            if time.monotonic() > deadline:
                raise KafkaOperationError(f"the membership log's records up to offset {high} did not arrive "
                                          f"in {timeout:.0f} s")
            wanted = high - self.next - len(self.held)
            self.held += [m.value() or b"" for m in self._consumer.consume(wanted, 1)]

    def take(self) -> list[bytes]:
        """The records read and not applied yet, in log order; the feed counts them as applied."""
        held, self.held = self.held, []
        self.next += len(held)
        return held

    def close(self) -> None:
        self._consumer.close()
