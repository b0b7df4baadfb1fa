"""`hub audit` against a copy of a real ledger with one byte flipped names the index."""

from __future__ import annotations

import json

from confluent_kafka import Producer

from hub.kafka.clients import producer_config
from hub.kafka.reader import read_partition
from hub.kafka.topics import Topics, TopicSpec, ensure_topics
from hub.v1 import connector_pb2 as pb
from tests.integration.conftest import Hub, stub
from tests.integration.test_freeze_loop import BANK, COURT, ORDER, ORDER_JSON


def copy_ledger(hub: Hub, name: str, flip_index: int | None) -> None:
    ensure_topics(hub.bootstrap, hub.cfg, [TopicSpec(name, 1, {})])
    p = Producer(producer_config(hub.bootstrap))
    for i, rec in enumerate(read_partition(hub.bootstrap, Topics(hub.namespace).ledger, 0)):
        value = bytearray(rec.value)
        if i == flip_index:
            value[len(value) // 2] ^= 0x20
        p.produce(name, bytes(value), key=rec.key, partition=0)
    assert p.flush(30) == 0


def test_one_flipped_byte_in_a_ledger_copy_is_found_and_named(hub: Hub):
    hub.sequencer(0)
    _, port = hub.connector(COURT)
    court = stub(port)
    for _ in range(5):
        r = court.Publish(pb.PublishRequest(type=ORDER, recipients=[BANK], payload_json=json.dumps(ORDER_JSON),
                                            wait_for_receipt=True), timeout=30)
        assert r.receipt.status == pb.Receipt.ACCEPTED
    clean = f"{hub.namespace}.ledger-copy"
    copy_ledger(hub, clean, None)
    ok = hub.run("audit", "--ledger-topic", clean)
    assert ok.returncode == 0, ok.stdout + ok.stderr

    tampered = f"{hub.namespace}.ledger-tampered"
    copy_ledger(hub, tampered, 2)
    report = hub.workdir / "audit.json"
    page = hub.workdir / "audit.html"
    bad = hub.run("audit", "--ledger-topic", tampered, "--report", str(report), "--html", str(page))
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "index 2" in bad.stdout
    doc = json.loads(report.read_text())
    assert doc["verified"] is False
    assert 2 in {v["index"] for v in doc["partitions"][0]["violations"]}
    text = page.read_text(encoding="utf-8")
    assert "VIOLATIONS FOUND" in text and "<td>2</td>" in text
