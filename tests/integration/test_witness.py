"""`hub witness run` as a real process: C2SP tlog-witness over real HTTP, state surviving SIGKILL.

No Kafka: the log is built here with hub.ledger.merkle and signed with a note key, as
the sequencer signs a ledger partition's checkpoints.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.ledger.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from hub.ledger.cosignature import CosignatureVerifier, verify_cosignature
from hub.ledger.merkle import consistency_proof_from_leaves, leaf_hash, root_from_leaf_hashes
from hub.ledger.note import NoteSigner
from hub.witness import BadProof, Conflict, Forbidden, UnknownLog, add_checkpoint

ORIGIN = "judicial-hub.localhost/test/hub.ledger/0"
NAME = "witness.procuratorate.localhost/w1"
LOG = NoteSigner(ORIGIN, Ed25519PrivateKey.generate())
LEAVES = [leaf_hash(b"ledger entry %d" % i) for i in range(100)]


def checkpoint(size: int) -> Checkpoint:
    return Checkpoint(ORIGIN, size, root_from_leaf_hashes(LEAVES[:size]))


def hub(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


class WitnessProcess:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.key = workdir / "witness.pem"
        self.state = workdir / "witness-state.json"
        init = hub("witness", "init", "--name", NAME, "--key", str(self.key))
        assert init.returncode == 0, init.stderr
        self.vkey = init.stdout.strip()
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self) -> None:
        port_file = self.workdir / "witness.port"
        port_file.unlink(missing_ok=True)
        with open(self.workdir / "witness.log", "ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "hub.cli",
                    "witness",
                    "run",
                    "--name",
                    NAME,
                    "--key",
                    str(self.key),
                    "--state",
                    str(self.state),
                    "--log",
                    f"{ORIGIN} {LOG.verifier().to_vkey()}",
                    "--listen",
                    "127.0.0.1:0",
                    "--port-file",
                    str(port_file),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            assert self.proc.poll() is None, (self.workdir / "witness.log").read_text()
            assert time.monotonic() < deadline, "witness did not write its port file"
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{int(port_file.read_text())}"
        with urllib.request.urlopen(f"{self.url}/healthz", timeout=5) as r:
            assert r.status == 200

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def witness(tmp_path: Path) -> Iterator[WitnessProcess]:
    w = WitnessProcess(tmp_path)
    w.start()
    yield w
    w.stop()


def cosign_at(w: WitnessProcess, old: int, size: int) -> str:
    proof = consistency_proof_from_leaves(old, LEAVES[:size]) if 0 < old < size else []
    lines = add_checkpoint(w.url, old, proof, sign_checkpoint(checkpoint(size), LOG))
    assert len(lines) == 1
    return lines[0]


def test_witness_cosigns_over_http_and_keeps_its_state_across_sigkill(witness: WitnessProcess) -> None:
    verifier = CosignatureVerifier.from_vkey(witness.vkey)
    assert verifier.name == NAME

    # first checkpoint, then consistent growth; every cosignature verifies with the printed vkey
    before = int(time.time())
    for old, size in ((0, 3), (3, 17), (17, 40)):
        line = cosign_at(witness, old, size)
        cosig = verify_cosignature(checkpoint(size).to_text(), line, verifier)
        assert before - 1 <= cosig.timestamp <= time.time() + 1
    # the log appends the line to its note: standard note verification sees both signatures
    note = sign_checkpoint(checkpoint(40), LOG) + line.encode()
    _, cosigs = open_checkpoint(note, LOG.verifier(), [verifier], origin=ORIGIN)
    assert [c.name for c in cosigs] == [NAME]

    # refusals with the spec's status codes
    with pytest.raises(Conflict) as conflict:
        cosign_at(witness, 0, 50)
    assert conflict.value.latest_size == 40
    with pytest.raises(BadProof):
        add_checkpoint(witness.url, 40, [bytes(32)] * 3, sign_checkpoint(checkpoint(50), LOG))
    forked = [*LEAVES[:39], leaf_hash(b"rewritten")]
    split = sign_checkpoint(Checkpoint(ORIGIN, 40, root_from_leaf_hashes(forked)), LOG)
    with pytest.raises(Conflict):
        add_checkpoint(witness.url, 40, [], split)
    impostor = NoteSigner(ORIGIN, Ed25519PrivateKey.generate())
    with pytest.raises(Forbidden):
        add_checkpoint(witness.url, 40, [], sign_checkpoint(checkpoint(40), impostor))
    stranger = NoteSigner("judicial-hub.localhost/test/hub.ledger/7", Ed25519PrivateKey.generate())
    with pytest.raises(UnknownLog):
        add_checkpoint(witness.url, 0, [], sign_checkpoint(Checkpoint(stranger.name, 1, LEAVES[0]), stranger))

    state = json.loads(witness.state.read_text())
    assert state["version"] == 1 and state["logs"][ORIGIN]["size"] == 40

    # SIGKILL, restart on the same state file: no going back to size 0
    witness.kill()
    witness.start()
    with pytest.raises(Conflict) as conflict:
        cosign_at(witness, 0, 41)
    assert conflict.value.latest_size == 40
    line = cosign_at(witness, 40, 64)
    verify_cosignature(checkpoint(64).to_text(), line, verifier)
    assert json.loads(witness.state.read_text())["logs"][ORIGIN]["size"] == 64


def test_witness_409_body_is_the_size_as_text_x_tlog_size(witness: WitnessProcess) -> None:
    cosign_at(witness, 0, 5)
    body = b"old 0\n\n" + sign_checkpoint(checkpoint(6), LOG)
    req = urllib.request.Request(f"{witness.url}/add-checkpoint", data=body, method="POST")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=5)
    assert err.value.code == 409
    assert err.value.headers["Content-Type"] == "text/x.tlog.size"
    assert err.value.read() == b"5\n"


def test_witness_init_refuses_to_overwrite_a_key(tmp_path: Path) -> None:
    w = WitnessProcess(tmp_path)
    again = hub("witness", "init", "--name", NAME, "--key", str(w.key))
    assert again.returncode != 0 and "exists" in again.stderr
    vkey = hub("witness", "vkey", "--name", NAME, "--key", str(w.key))
    assert vkey.stdout.strip() == w.vkey
