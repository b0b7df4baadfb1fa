"""Two revisions' sequencer throughput, measured alternately on one broker: what a change costs.

    .venv/bin/python bench/compare.py REV_A REV_B [ROUNDS]

Each revision is checked out in a git worktree of its own (with this checkout's generated gRPC
stubs); each round runs ``verify_core_per_s`` and ``sequencer_per_s`` (30,000 messages) of
``bench/bench.py`` for A, then for B, on the same broker, so both see the same machine. Prints
each round and the medians, and B's median sequencer_per_s over A's.
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
b = bench.Bench(sys.argv[2], Path(sys.argv[3]))
verify = bench.bench_verify(b)
print(json.dumps({"verify": verify, "sequencer": bench.bench_sequencer(b, int(sys.argv[4]))}))
"""


def main() -> None:
    if len(sys.argv) not in (3, 4):
        raise SystemExit(__doc__)
    revs, rounds = sys.argv[1:3], int(sys.argv[3]) if len(sys.argv) == 4 else 3
    work = Path(tempfile.mkdtemp(prefix="hub-compare-"))
    trees = []
    for i, rev in enumerate(revs):
        tree = work / f"tree{i}"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "-q", "--detach", str(tree), rev], check=True)
        shutil.copytree(REPO / "hub" / "v1", tree / "hub" / "v1", dirs_exist_ok=True)
        trees.append(tree)
    broker = provision(default_home(), work / "broker", port=None)
    figures: dict[str, list[dict[str, float]]] = {rev: [] for rev in revs}
    try:
        for r in range(rounds):
            for rev, tree in zip(revs, trees):
                out = subprocess.run([sys.executable, "-c", ROUND, str(tree), broker.bootstrap, str(work / f"{r}-{rev}"),
                                      "30000"], env={**os.environ, "PYTHONPATH": str(tree)}, cwd=tree,
                                     capture_output=True, text=True, check=True)
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
