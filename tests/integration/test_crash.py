"""SIGKILL the sequencer at random moments under load; then nothing is lost, duplicated or reordered.

`make test` runs a shorter version; `make chaos` runs the full one (20 kills, 20,000 messages):
HUB_CHAOS_KILLS and HUB_CHAOS_MESSAGES set the size.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time

from hub.consortium.files import load_signing_key
from hub.dev.loadgen import freeze_orders, produce
from hub.kafka.topics import Topics
from hub.standard.schemas import default_registry
from tests.integration.conftest import Hub
from tests.integration.invariants import caught_up, check_partition

KILLS = int(os.environ.get("HUB_CHAOS_KILLS", "5"))
MESSAGES = int(os.environ.get("HUB_CHAOS_MESSAGES", "4000"))
COURT, BANK = "court-bj-chaoyang", "bank-icbc-bj"


def test_sigkill_at_random_moments_loses_and_duplicates_nothing(hub: Hub):
    items = list(freeze_orders(default_registry(), COURT, load_signing_key(hub.consortium, COURT), [BANK], MESSAGES,
                               forged=0.01, replayed=0.01))
    expect = [i.expect for i in items]  # the loader is the only producer: offset order is item order
    rng = random.Random(20261122)
    # produce at a rate that spreads the load over the kills
    rate = max(500.0, MESSAGES / (KILLS * 1.0 + 2))
    loader = threading.Thread(target=produce, args=(hub.bootstrap, Topics(hub.namespace).inbound, items),
                              kwargs={"rate": rate}, daemon=True)
    loader.start()
    for k in range(KILLS):
        proc = hub.start(f"seq-{k}", "sequencer", "run", "--partition", "0", "--batch-size", "200",
                         "--checkpoint-period", "0.2")
        time.sleep(rng.uniform(0.5, 2.5))  # sometimes still starting, mostly mid-batch
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    loader.join(timeout=300)
    assert not loader.is_alive()
    final = hub.start("seq-final", "sequencer", "run", "--partition", "0", "--checkpoint-period", "0.2")
    hub.wait_for(lambda: caught_up(hub, 0), "the sequencer to consume everything", final, timeout=300)
    final.send_signal(signal.SIGTERM)
    assert final.wait(timeout=60) == 0, hub.log("seq-final")[-2000:]

    summary = check_partition(hub, 0, expect)
    assert summary.entries == sum(1 for i in items if i.expect == "ACCEPTED")
    assert summary.rejected.get("BAD_SIGNATURE", 0) == sum(1 for i in items if i.expect == "BAD_SIGNATURE")
    assert summary.rejected.get("REPLAYED", 0) == sum(1 for i in items if i.expect == "REPLAYED")
    assert summary.checkpoints >= 2
    audit = hub.run("audit", "--quiet", "--reconcile", timeout=600)
    assert audit.returncode == 0, audit.stdout + audit.stderr
