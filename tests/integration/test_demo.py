"""`hub demo` on the session's broker, twice in a row: both end with the audit verdict and exit 0."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

from hub.kafka.clients import admin_client
from hub.kafka.reader import read_partition

#: the demo's personal data: a company's unified social credit code and name, the frozen account, the
#: judge, and a lawyer's name and resident ID number
PERSONAL = ["91110105MA01ABCD26", "北京某某贸易有限公司", "0200001234567890123", "王建国", "陈静", "110102199004204321"]


def test_demo_runs_twice_in_a_row(broker, tmp_path):
    # an external cluster to the demo: its operator's certificate is in the session's PKI
    namespace = f"demo{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "HUB_KAFKA_BOOTSTRAP": broker.bootstrap, "HUB_NAMESPACE": namespace,
           "HUB_HOME": str(tmp_path), "HUB_PKI": str(broker.pki_dir)}
    for run in (1, 2):
        proc = subprocess.run([sys.executable, "-m", "hub.cli", "demo"], env=env, capture_output=True, text=True,
                              timeout=240, check=False)
        assert proc.returncode == 0, f"run {run}:\n{proc.stdout}\n{proc.stderr}"
        assert "received FreezeFeedback" in proc.stdout
        assert "AUDIT VERIFIED" in proc.stdout
        assert "— witness.procuratorate-bj-chaoyang/w1 " in proc.stdout  # the checkpoint's cosignature line
        # the receipt checked offline against the trust policy, and the audit's witnessed checkpoint
        assert "quorum witness.procuratorate-bj-chaoyang/w1 met by witness.procuratorate-bj-chaoyang/w1" in proc.stdout
        assert "the witnessed checkpoints meet the trust policy and match the ledger" in proc.stdout
        assert "credit platform feedback" in proc.stdout and ": APPLIED" in proc.stdout
        assert ": ACTIVE; now: REVOKED" in proc.stdout  # the court's credential lookups around the revocation
        assert "VERIFIED: court-bj-chaoyang sent cn.judicial.hub.enforcement.FreezeOrder" in proc.stdout
    assert "using consortium" in proc.stdout  # the second run reuses the first's members and keys
    # none of the demo's personal data in any topic of its namespace, the receipt it exported, or the
    # verifier's tiles; while the bank's and the court's systems saw it (the demo prints their view)
    assert "北京某某贸易有限公司" in proc.stdout and "陈静" in proc.stdout
    logdir = Path(re.findall(r"logs in (\S+)", proc.stdout)[-1])
    kept = [(p.name, p.read_bytes()) for p in [logdir / "freeze-order.tlog-proof",
                                                *(logdir / "verifier" / "tiles").rglob("*")] if p.is_file()]
    assert len(kept) > 3
    topics = admin_client(broker.bootstrap).list_topics(timeout=30).topics
    for name, meta in topics.items():
        if name.startswith(namespace + "."):
            for part in meta.partitions:
                records = list(read_partition(broker.bootstrap, name, part))
                kept += [(name, b"".join([r.value, r.key or b"", *r.headers.values()])) for r in records]
    assert any(name.endswith(".keys") for name, _ in kept)
    for where, data in kept:
        for text in PERSONAL:
            assert text.encode() not in data, f"{text} in clear in {where}"
