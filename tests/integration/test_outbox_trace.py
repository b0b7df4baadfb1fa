"""GetReceipt's look into the agency's outbox (Outbox.trace) on a real topic: it reads the end first, in
widening windows, finds a message wherever it lies within the look-back, and nothing beyond it."""

from __future__ import annotations

import uuid

import pytest

from hub.connector.outbox import TRACE_WINDOWS, Outbox
from hub.kafka.consumer import open_consumer
from hub.kafka.producer import open_producer
from hub.kafka.topics import KIND_HEADER, Topics
from tests.integration.conftest import Hub
from tests.integration.test_freeze_loop import BANK

FILLER = TRACE_WINDOWS[-1] + 2_500  # the message lies beyond every window but the whole look-back


@pytest.fixture(scope="module")
def outbox(hub: Hub):
    topic = Topics(hub.namespace).outbox(BANK)
    early = uuid.uuid4()
    producer = open_producer(hub.bootstrap)
    producer.produce(topic, b"entry bytes", key=early.bytes, headers={KIND_HEADER: b"entry"})
    for _ in range(FILLER):
        producer.produce(topic, b"filler", key=uuid.uuid4().bytes, headers={KIND_HEADER: b"entry"})
    late = uuid.uuid4()
    producer.produce(topic, b"entry bytes", key=late.bytes, headers={KIND_HEADER: b"entry"})
    assert producer.flush(60) == 0
    committer = open_consumer(hub.bootstrap, f"{hub.namespace}.trace-test")
    yield Outbox(topic, None, committer, lambda: committer, None), early, late  # type: ignore[arg-type]
    committer.close()


def test_a_message_near_the_end_is_found_in_the_first_window(outbox):
    box, _, late = outbox
    assert box.trace(str(late)).delivered


def test_a_message_far_back_is_found_in_the_whole_look_back_and_not_beyond(outbox):
    box, early, _ = outbox
    assert box.trace(str(early)).delivered
    assert not box.trace(str(early), look_back=FILLER).notarised  # the look-back ends just after it
    assert box.trace(str(early), look_back=FILLER + 2).delivered


def test_an_unknown_message_is_not_found(outbox):
    box, _, _ = outbox
    found = box.trace(str(uuid.uuid4()))
    assert not found.notarised and found.rejected is None
