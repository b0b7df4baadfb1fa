"""Two revisions' sequencer throughput, measured alternately on one broker: what a change costs.

    .venv/bin/python bench/compare.py [--plaintext] REV_A REV_B [ROUNDS]

Each revision is checked out in a git worktree of its own (with this checkout's generated gRPC
stubs); each round runs ``verify_core_per_s`` and ``sequencer_per_s`` (30,000 messages) of
``bench/bench.py`` for A, then for B, on the same broker, so both see the same machine. Prints
each round and the medians, and B's median sequencer_per_s over A's.

The broker is the local one, secure as ``make bench`` runs it (mutual TLS from a consortium PKI
made for the run, ACLs per namespace), which only revisions whose bench.py has ``Cluster`` can
speak to. ``--plaintext`` runs a plaintext local broker instead, the one every revision can use
(those before the secure broker speak nothing else; cd8dc16's `hub` processes find
``security.protocol=plaintext`` in HUB_KAFKA_CONFIG).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from hub.config import default_home
from hub.kafka.provision import provision

REPO = Path(__file__).resolve().parents[1]

ROUND = """
import json, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1] + "/bench")
import bench
bootstrap, workdir, n, pki, properties = sys.argv[2], Path(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
if hasattr(bench, "Cluster"):
    cluster = bench.Cluster(bootstrap, None, pki=Path(pki) if pki else None,
                            properties=Path(properties) if properties else None)
    with cluster.spoken_to():
        b = bench.Bench(cluster, workdir)
        verify = bench.bench_verify(b)
        sequencer = bench.bench_sequencer(b, n)
elif pki:
    raise SystemExit(sys.argv[1] + ": its bench.py predates the secure broker; compare it with --plaintext")
else:
    b = bench.Bench(bootstrap, workdir)
    verify = bench.bench_verify(b)
    sequencer = bench.bench_sequencer(b, n)
print(json.dumps({"verify": verify, "sequencer": sequencer}))
"""


def main() -> None:
    args = sys.argv[1:]
    plaintext = "--plaintext" in args
    args = [a for a in args if a != "--plaintext"]
    if len(args) not in (2, 3):
        raise SystemExit(__doc__)
    revs, rounds = args[:2], int(args[2]) if len(args) == 3 else 3
    work = Path(tempfile.mkdtemp(prefix="hub-compare-"))
    env = {k: v for k, v in os.environ.items() if k not in ("HUB_PKI", "HUB_KAFKA_CONFIG")}
    pki, properties = work / "pki", work / "plaintext.properties"
    if plaintext:
        properties.write_text("security.protocol=plaintext\n")
        env["HUB_KAFKA_CONFIG"] = str(properties)
    trees = []
    for i, rev in enumerate(revs):
        tree = work / f"tree{i}"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "-q", "--detach", str(tree), rev], check=True)
        shutil.copytree(REPO / "hub" / "v1", tree / "hub" / "v1", dirs_exist_ok=True)
        trees.append(tree)
    # the local broker, as `make bench` runs it (not a testcontainer, even where Docker answers)
    broker = provision(default_home(), work / "broker", pki_dir=None if plaintext else pki, port=None,
                       use_docker=False)
    print(f"Kafka at {broker.bootstrap}: {broker.detail}", flush=True)
    figures: dict[str, list[dict[str, float]]] = {rev: [] for rev in revs}
    try:
        for r in range(rounds):
            for rev, tree in zip(revs, trees):
                out = subprocess.run([sys.executable, "-c", ROUND, str(tree), broker.bootstrap, str(work / f"{r}-{rev}"),
                                      "30000", "" if plaintext else str(pki), str(properties) if plaintext else ""],
                                     env={**env, "PYTHONPATH": str(tree)}, cwd=tree,
                                     capture_output=True, text=True, check=False)
                if out.returncode != 0:
                    raise SystemExit(f"round {r + 1} {rev} failed:\n{out.stderr[-3000:]}")
                figures[rev].append(json.loads(out.stdout.strip().splitlines()[-1]))
                print(f"round {r + 1} {rev}: {figures[rev][-1]}", flush=True)
    finally:
        broker.stop()
        for tree in trees:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)], check=False)
    medians = {rev: statistics.median(f["sequencer"] for f in figures[rev]) for rev in revs}
    for rev in revs:
        print(f"{rev}: sequencer_per_s median {medians[rev]:.0f}, verify_core_per_s median "
              f"{statistics.median(f['verify'] for f in figures[rev]):.0f}")
    print(f"{revs[1]} / {revs[0]}: {medians[revs[1]] / medians[revs[0]]:.3f}")


if __name__ == "__main__":
    main()
