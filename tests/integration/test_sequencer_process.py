"""The sequencer process on a real broker: rejections kept, receipts, restart after SIGKILL."""

from __future__ import annotations

import itertools
import json
import os
import signal
import threading
from pathlib import Path

from confluent_kafka import Producer

from hub.consortium.files import load_signing_key
from hub.dev.loadgen import freeze_orders, produce
from hub.kafka.clients import admin_client, producer_config
from hub.kafka.reader import read_partition
from hub.kafka.topics import Topics
from hub.ledger.entry import LedgerEntry
from hub.sequencer.runner import FETCH_KIB
from hub.standard import avro
from hub.standard.schemas import default_registry, hub_record
from hub.v1 import connector_pb2 as pb
from tests.integration.conftest import Hub, make_hub, stub
from tests.integration.test_freeze_loop import BANK, COURT, ORDER, ORDER_JSON


def records(hub: Hub, topic: str):
    return list(read_partition(hub.bootstrap, topic, 0))


def publish(court, n: int):
    ids = []
    for _ in range(n):
        r = court.Publish(pb.PublishRequest(type=ORDER, recipients=[BANK], payload_json=json.dumps(ORDER_JSON),
                                            wait_for_receipt=True), timeout=30)
        assert r.receipt.status == pb.Receipt.ACCEPTED, r.receipt
        ids.append(r.message_id)
    return ids


def test_bad_records_are_kept_in_rejected_with_reason_and_bytes_and_the_sender_is_told(hub: Hub):
    t = Topics(hub.namespace)
    seq = hub.sequencer(0)
    _, port = hub.connector(COURT)
    court = stub(port)
    [_first] = publish(court, 1)
    # replay the court's accepted envelope byte for byte, send garbage, and a record larger than
    # a whole fetch of the sequencer's (the broker still hands it over, alone)
    envelope = LedgerEntry.from_bytes(records(hub, t.ledger)[-1].value).envelope
    huge = os.urandom(FETCH_KIB * 1024 * 2)
    p = Producer(producer_config(hub.bootstrap))
    p.produce(t.inbound, envelope, key=COURT.encode())
    p.produce(t.inbound, b"\x00\xffnot an envelope", key=b"someone")
    p.produce(t.inbound, huge, key=b"someone")
    assert p.flush(30) == 0
    hub.wait_for(lambda: len(records(hub, t.rejected)) >= 3, "three rejections", seq)
    rejections = [avro.decode(hub_record("Rejection"), r.value) for r in records(hub, t.rejected)]
    assert {r["reason"] for r in rejections} == {"REPLAYED", "MALFORMED", "TOO_LARGE"}
    assert {bytes(r["original"]) for r in rejections} == {envelope, b"\x00\xffnot an envelope", huge}
    receipts = [avro.decode(hub_record("Receipt"), r.value) for r in records(hub, t.outbox(COURT))
                if r.headers.get("hub-kind") == b"receipt"]
    assert any(r["status"] == "REJECTED" and r["reason"] == "REPLAYED" for r in receipts)
    # nothing consumed is lost: inbound = ledger + rejected
    assert len(records(hub, t.inbound)) == len(records(hub, t.ledger)) + len(records(hub, t.rejected))
    hub.stop_all()


def test_a_sigkilled_sequencer_restarts_at_the_committed_head(hub: Hub):
    t = Topics(hub.namespace)
    seq = hub.sequencer(0, name="seq-a")
    _, port = hub.connector(COURT)
    court = stub(port)
    publish(court, 3)
    seq.send_signal(signal.SIGKILL)
    seq.wait()
    # published while no sequencer runs: waits in inbound
    pending = court.Publish(pb.PublishRequest(type=ORDER, recipients=[BANK], payload_json=json.dumps(ORDER_JSON)),
                            timeout=30)
    hub.sequencer(0, name="seq-b")
    publish(court, 2)
    entries = [LedgerEntry.from_bytes(r.value) for r in records(hub, t.ledger)]
    assert [e.index for e in entries] == list(range(len(entries)))
    for a, b in itertools.pairwise(entries):
        assert b.prev_leaf_hash == a.leaf_hash
    ids = [str(__import__("uuid").UUID(bytes=r.key)) for r in records(hub, t.ledger)]
    assert pending.message_id in ids
    assert len(ids) == len(set(ids))
    audit = hub.run("audit")
    assert audit.returncode == 0, audit.stdout
    hub.stop_all()


def test_a_restart_resumes_after_the_last_source_its_output_names_not_the_group_offset(broker, tmp_path):
    """The inbound position commits with the output: with the group's offsets gone, a new
    sequencer still starts one past the last inbound record a ledger entry or rejection names."""

    hub = make_hub(broker, tmp_path)  # a namespace of its own: the offsets below are counted from 0
    t = Topics(hub.namespace)
    seq = hub.sequencer(0, name="seq-a")
    _, port = hub.connector(COURT)
    court = stub(port)
    publish(court, 3)
    p = Producer(producer_config(hub.bootstrap))
    p.produce(t.inbound, b"\x00\xffnot an envelope", key=b"someone")  # the last output: a rejection
    assert p.flush(30) == 0
    hub.wait_for(lambda: len(records(hub, t.rejected)) == 1, "the rejection", seq)
    seq.send_signal(signal.SIGTERM)
    assert seq.wait(60) == 0
    admin = admin_client(hub.bootstrap)  # as the operator, the test process's principal
    for f in admin.delete_consumer_groups([f"{hub.namespace}.sequencer"], request_timeout=30).values():
        f.result()
    hub.sequencer(0, name="seq-b")
    publish(court, 2)
    ledger = [LedgerEntry.from_bytes(r.value) for r in records(hub, t.ledger)]
    assert len(ledger) == 5
    assert [e.source.offset for e in ledger] == [0, 1, 2, 4, 5]
    # nothing was read twice: no REPLAYED, and the garbage was refused once
    assert [avro.decode(hub_record("Rejection"), r.value)["reason"] for r in records(hub, t.rejected)] == ["MALFORMED"]
    hub.stop_all()


def signature_workers(pid: int) -> list[int]:
    """The sequencer's signature worker processes (its spawned children, not the resource tracker)."""
    children = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children += [int(c) for c in (task / "children").read_text().split()]
    return [c for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]


def test_a_signature_worker_killed_mid_load_loses_nothing_and_its_parent_outlives_it(tmp_path, broker):
    h = make_hub(broker, tmp_path)
    t = Topics(h.namespace)
    try:
        seq = h.sequencer(0)
        workers = signature_workers(seq.pid)
        assert len(workers) == 2, workers
        n = 6_000
        items = list(freeze_orders(default_registry(), COURT, load_signing_key(h.consortium, COURT), [BANK], n,
                                   seed=11))
        loader = threading.Thread(target=produce, args=(h.bootstrap, t.inbound, items[:n // 2]),
                                  kwargs={"rate": 3_000.0})
        loader.start()
        h.wait_for(lambda: len(records(h, t.ledger)) > 500, "the load under way", seq)
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
        loader.join()
        # the second half after the kill: on a fast host the first half may all be sequenced by now,
        # and batches must still reach the dead workers
        produce(h.bootstrap, t.inbound, items[n // 2:], rate=3_000.0)
        h.wait_for(lambda: sum(1 for _ in read_partition(h.bootstrap, t.ledger, 0)) >= n, "every message sequenced",
                   seq, timeout=120)
        assert seq.poll() is None, "the sequencer died with its worker"
        assert "a signature worker process died" in h.log("sequencer-0")
        replaced = signature_workers(seq.pid)
        assert len(replaced) == 2 and not set(replaced) & set(workers)
        entries = [LedgerEntry.from_bytes(r.value) for r in records(h, t.ledger)]
        assert [e.index for e in entries] == list(range(n))
        assert records(h, t.rejected) == []
        assert len({e.envelope for e in entries}) == n
        seq.send_signal(signal.SIGTERM)
        assert seq.wait(timeout=30) == 0
        for pid in replaced:  # a clean stop takes its workers with it
            assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split(")")[-1][:3]
    finally:
        h.stop_all()
