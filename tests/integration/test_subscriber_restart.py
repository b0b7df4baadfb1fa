"""Kill the bank's subscribing system mid-stream; on reconnect it resumes after its last
acknowledged cursor, and the application ends up with every order exactly once (duplicates on the
wire, after the last acknowledgement, are filtered by message id)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading

from hub.v1 import connector_pb2 as pb
from tests.integration.conftest import Hub, stub
from tests.integration.test_freeze_loop import BANK, COURT, ORDER, ORDER_JSON


def test_a_killed_subscriber_resumes_after_its_last_ack_and_loses_nothing(hub: Hub):
    hub.sequencer(0)
    _, court_port = hub.connector(COURT)
    _, bank_port = hub.connector(BANK)
    court = stub(court_port)
    store = hub.workdir / "bank-store.txt"
    app = [sys.executable, "-m", "tests.integration.subscriber_app", str(bank_port), str(store)]

    published: list[str] = []

    def send(n: int) -> None:
        for _ in range(n):
            r = court.Publish(pb.PublishRequest(type=ORDER, recipients=[BANK], payload_json=json.dumps(ORDER_JSON)),
                              timeout=30)
            published.append(r.message_id)

    first = subprocess.Popen(app, env=hub.env)
    loader = threading.Thread(target=send, args=(60,))
    loader.start()
    hub.wait_for(lambda: store.exists() and len(store.read_text().splitlines()) >= 15, "15 stored orders", first)
    first.send_signal(signal.SIGKILL)
    first.wait()
    loader.join(timeout=120)
    stored_before = store.read_text().splitlines()

    second = subprocess.Popen(app, env=hub.env)
    try:
        hub.wait_for(lambda: len({line.split()[1] for line in store.read_text().splitlines()}) >= len(published),
                     "every order stored", second, timeout=120)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
    lines = [line.split() for line in store.read_text().splitlines()]
    ids = [mid for _, mid in lines]
    assert set(ids) == set(published)
    # redelivered only what came after the last acknowledgement: at most the one in flight
    redelivered = len(ids) - len(set(ids))
    assert redelivered <= 1, f"{redelivered} redelivered"
    cursors = [int(c) for c, _ in lines[len(stored_before):]]
    assert cursors == sorted(cursors), "delivery is in cursor order"
