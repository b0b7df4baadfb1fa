"""`hub demo` on the session's broker, twice in a row: both end with the audit verdict and exit 0."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid


def test_demo_runs_twice_in_a_row(broker, tmp_path):
    # an external cluster to the demo: its operator's certificate is in the session's PKI
    env = {**os.environ, "HUB_KAFKA_BOOTSTRAP": broker.bootstrap, "HUB_NAMESPACE": f"demo{uuid.uuid4().hex[:8]}",
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

