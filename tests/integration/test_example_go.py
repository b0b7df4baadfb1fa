"""examples/go, the freeze loop a partner writes in Go from the docs, built and run against real connectors.

examples/go/build.sh installs the pinned code generators, generates the Go code from proto/ and builds the
program; the test then runs it against a sequencer (checkpoints every 0.2 s), a verifier, and the court's and
the bank's connectors serving mutual TLS with the certificates of the session's consortium PKI, and reads
what it prints. Without Go the test fails (examples/go must keep building in CI): it never skips.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hub.consortium.pki import DevCA, PkiFiles, issue_member, pki_files
from tests.integration.conftest import Hub
from tests.integration.test_freeze_loop import BANK, COURT

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "go"
BINARY = EXAMPLE / ".bin" / "freeze-loop"


@pytest.fixture(scope="module")
def binary() -> Path:
    if shutil.which("go") is None:
        pytest.fail("go is not installed: examples/go needs Go (https://go.dev/dl) to build; CI must have it")
    build = subprocess.run(["bash", str(EXAMPLE / "build.sh")], env={**os.environ, "PYTHON": sys.executable},
                           capture_output=True, text=True, timeout=900, check=False)
    assert build.returncode == 0, f"examples/go/build.sh failed:\n{build.stdout}\n{build.stderr}"
    return BINARY


@dataclass
class Running:
    pki: Path
    court_port: int
    bank_port: int

    def files(self, member: str) -> PkiFiles:
        return pki_files(self.pki, member)


@pytest.fixture(scope="module")
def running(hub: Hub, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    # the connectors read their certificates from HUB_PKI (the session broker's consortium PKI, where
    # conftest's admit_to_kafka issued every member's), else from HUB_HOME/pki
    pki = hub.pki or hub.workdir / "home" / "pki"
    if not (pki / "ca.pem").exists():
        DevCA.create(pki)
    for member in (COURT, BANK):
        if not pki_files(pki, member).server_cert.exists():
            issue_member(DevCA.load(pki), pki, member, member)
    hub.sequencer(0, None, "--checkpoint-period", "0.2")
    _, verifier = hub.verifier(tmp_path_factory.mktemp("go-tiles"), name="go-verifier")
    # no --plaintext: mutual TLS with the member's server certificate, client certificates from the CA
    ports = {m: hub.serve(m, "connector", "run", "--agency", m, "--verifier", verifier)[1] for m in (COURT, BANK)}
    yield Running(pki, ports[COURT], ports[BANK])
    hub.stop_all()


def run(binary: Path, r: Running, *, ca: Path | None = None, court: PkiFiles | None = None,
        timeout: float = 180) -> subprocess.CompletedProcess[str]:
    court = court or r.files(COURT)
    bank = r.files(BANK)
    return subprocess.run(
        [str(binary), "-court", f"127.0.0.1:{r.court_port}", "-bank", f"localhost:{r.bank_port}",
         "-ca", str(ca or bank.ca_cert), "-court-cert", str(court.client_cert), "-court-key", str(court.client_key),
         "-bank-cert", str(bank.client_cert), "-bank-key", str(bank.client_key), "-timeout", "60s"],
        capture_output=True, text=True, timeout=timeout, check=False)


def test_the_go_example_plays_the_freeze_loop(binary: Path, running: Running) -> None:
    out = run(binary, running)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text
    lines = out.stdout.splitlines()

    published = next(line for line in lines if line.startswith("court: published FreezeOrder "))
    order_id = published.split()[3].rstrip(":")
    assert "receipt ACCEPTED" in published, text
    assert f"bank: received FreezeOrder {order_id} from {COURT}" in text
    payload = next(line for line in lines if line.startswith("bank: payload_json "))
    assert json.loads(payload.split(" ", 2)[2])["amount"] == "1286400.50"  # the order as the bank read it
    assert "bank: acknowledged cursor" in text
    assert any(line.startswith("bank: published FreezeFeedback ") and f"answering {order_id}: receipt ACCEPTED"
               in line for line in lines), text
    assert any(line.startswith("court: received FreezeFeedback ") and line.endswith(f"answering {order_id}")
               for line in lines), text
    assert f"court: receipt for FreezeOrder {order_id}: ACCEPTED" in text
    proof = next(line for line in lines if line.startswith(f"court: tlog-proof for {order_id} "))
    assert proof.endswith("c2sp.org/tlog-proof@v1"), proof

    assert "court: invalid FreezeOrder refused: INVALID_ARGUMENT: " in text
    assert "payload.amount" in text
    # the connector's status details (google.rpc.BadRequest), one field violation per line: fails until
    # the connector sends them (the program prints "no details" meanwhile)
    assert any(line.startswith("violation payload.amount: ") for line in lines), text
    assert lines[-1] == "freeze loop done"


def test_a_certificate_from_another_ca_fails_the_handshake(binary: Path, running: Running,
                                                         tmp_path: Path) -> None:
    DevCA.create(tmp_path / "other-ca")
    out = run(binary, running, ca=tmp_path / "other-ca" / "ca.pem", timeout=60)
    assert out.returncode == 1, out.stdout + out.stderr
    assert out.stderr.count("\n") == 1 and out.stderr.startswith("freeze-loop: error: court: Publish FreezeOrder: ")
    assert "code = Unavailable" in out.stderr and "certificate signed by unknown authority" in out.stderr


def test_another_members_certificate_is_refused(binary: Path, running: Running) -> None:
    out = run(binary, running, court=running.files(BANK), timeout=60)
    assert out.returncode == 1, out.stdout + out.stderr
    assert out.stderr.count("\n") == 1 and out.stderr.startswith("freeze-loop: error: court: Publish FreezeOrder: ")
    assert "code = PermissionDenied" in out.stderr
