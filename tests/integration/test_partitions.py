"""Scale-out: two ledger partitions, each an independent log with its own sequencer process."""

from __future__ import annotations

import signal
import threading

import pytest

from hub.consortium.files import load_signing_key
from hub.dev.loadgen import freeze_orders, produce
from hub.kafka.topics import Topics
from hub.standard.schemas import default_registry
from tests.integration.conftest import Hub, make_hub
from tests.integration.invariants import caught_up, check_partition

COURT, BANK = "court-bj-chaoyang", "bank-icbc-bj"


@pytest.fixture(scope="module")
def hub2(broker, tmp_path_factory):
    h = make_hub(broker, tmp_path_factory.mktemp("hub2"), partitions=2)
    yield h
    h.stop_all()


def test_two_sequencers_on_two_partitions_run_concurrently(hub2: Hub):
    key = load_signing_key(hub2.consortium, COURT)
    inbound = Topics(hub2.namespace).inbound
    # partition 1's sequencer checks signatures in its main thread, partition 0's on two threads: same verdicts
    seqs = [hub2.sequencer(0), hub2.sequencer(1, None, "--workers", "0")]
    loads, loaders = [], []
    for p, seed in ((0, 1), (1, 2)):
        items = list(freeze_orders(default_registry(), COURT, key, [BANK], 600, forged=0.02, seed=seed))
        loads.append(items)
        loaders.append(threading.Thread(target=produce, args=(hub2.bootstrap, inbound, items),
                                        kwargs={"partition": p, "rate": 300.0}))
        loaders[-1].start()
    for t in loaders:
        t.join(timeout=120)
    for p, proc in enumerate(seqs):
        hub2.wait_for(lambda p=p: caught_up(hub2, p), f"partition {p} sequenced", proc, timeout=120)
    for proc in seqs:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    for p, items in enumerate(loads):
        summary = check_partition(hub2, p, [i.expect for i in items])
        assert summary.entries == sum(1 for i in items if i.expect == "ACCEPTED")
    # each partition has its own origin in its checkpoints, and the audit verifies both
    audit = hub2.run("audit")
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert "ledger[0]" in audit.stdout and "ledger[1]" in audit.stdout


def test_get_receipt_asks_the_verifier_of_the_partition_that_holds_the_message(hub2: Hub, tmp_path):
    """One verifier per partition; a connector given both finds a message on either and names its partition."""
    import time

    import grpc

    from hub.kafka.reader import read_partition
    from hub.ledger.entry import LedgerEntry
    from hub.standard.envelope import Envelope
    from hub.v1 import connector_pb2 as pb
    from tests.integration.conftest import stub

    ledger = Topics(hub2.namespace).ledger
    urls = [hub2.verifier(tmp_path / f"tiles-{p}", "--partition", str(p), name=f"verifier-{p}")[1] for p in (0, 1)]
    _, port = hub2.connector(COURT, "--verifier", urls[0], "--verifier", urls[1], name="court-2v")
    court = stub(port)
    for p in (1, 0):
        last = LedgerEntry.from_bytes(list(read_partition(hub2.bootstrap, ledger, p))[-1].value)
        mid = str(Envelope.from_bytes(last.envelope).message_id)
        deadline = time.monotonic() + 60
        while True:
            try:
                got = court.GetReceipt(pb.GetReceiptRequest(message_id=mid), timeout=10)
                break
            except grpc.RpcError as exc:  # not yet covered by a published checkpoint
                assert exc.code() == grpc.StatusCode.UNAVAILABLE, exc.details()
                assert time.monotonic() < deadline, f"no receipt for {mid} on partition {p}"
                time.sleep(0.3)
        assert (got.ledger_partition, got.ledger_index) == (p, last.index)
        assert f".ledger/{p}\n" in got.tlog_proof
