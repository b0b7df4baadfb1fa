"""examples/java, built with Maven and run against real connectors with mutual TLS.

The Java program is what a partner writes from docs/partners.md alone: grpc-java code generated
from proto/hub/v1 at build time, TlsChannelCredentials with the consortium CA and the agency's
client certificate. This test builds it (`mvn -B -q -f examples/java/pom.xml package`), starts a
sequencer, a verifier and the court's and the bank's connectors (mTLS, not --plaintext) and runs
the jar through the whole freeze loop, so CI keeps the example working.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from hub.consortium.pki import DevCA, PkiFiles, issue_member, pki_files
from tests.integration.conftest import Hub
from tests.integration.test_freeze_loop import BANK, COURT

ROOT = Path(__file__).resolve().parents[2]
POM = ROOT / "examples" / "java" / "pom.xml"
JAR = ROOT / "examples" / "java" / "target" / "hub-example-java.jar"
BUILD_TIMEOUT = 900  # a cold ~/.m2 downloads protoc, the grpc-java plugin and the dependencies


@pytest.fixture(scope="module")
def jar() -> Path:
    mvn = shutil.which("mvn")
    java = shutil.which("java")
    if mvn is None or java is None:
        pytest.fail("examples/java needs Maven (`mvn`) and Java 17 on PATH to build and run; "
                    f"found mvn={mvn}, java={java}. Install them (e.g. apt-get install maven openjdk-17-jdk-headless)")
    built = subprocess.run([mvn, "-B", "-q", "-f", str(POM), "package"], capture_output=True, text=True,
                           timeout=BUILD_TIMEOUT, check=False)
    assert built.returncode == 0, f"mvn package failed:\n{built.stdout[-4000:]}\n{built.stderr[-4000:]}"
    assert JAR.is_file(), f"mvn package made no {JAR}"
    return JAR


def member_pki(hub: Hub, member: str) -> PkiFiles:
    """The CA and ``member``'s certificates: the session broker's PKI, or (an external cluster) the
    development PKI under the hub's HUB_HOME, which the connectors then use too."""
    directory = hub.pki or hub.workdir / "home" / "pki"
    files = pki_files(directory, member)
    if not files.client_cert.exists():
        ca = DevCA.load(directory) if files.ca_cert.exists() else DevCA.create(directory)
        issue_member(ca, directory, member, member)
    return files


@pytest.fixture(scope="module")
def connectors(hub: Hub, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[int, PkiFiles]]:
    """The court's and the bank's connectors, serving mTLS with their member certificates, each
    able to answer GetReceipt from the verifier of ledger partition 0."""
    files = {m: member_pki(hub, m) for m in (COURT, BANK)}
    hub.sequencer(0, None, "--checkpoint-period", "0.2")
    _, verifier = hub.verifier(tmp_path_factory.mktemp("java-tiles"))
    ports = {m: hub.serve(m, "connector", "run", "--agency", m, "--verifier", verifier)[1] for m in (COURT, BANK)}
    return {m: (ports[m], files[m]) for m in (COURT, BANK)}


def run_jar(jar: Path, court: tuple[int, PkiFiles], bank: tuple[int, PkiFiles], *,
            court_as: PkiFiles | None = None) -> subprocess.CompletedProcess[str]:
    (court_port, court_files), (bank_port, bank_files) = court, bank
    court_as = court_as or court_files
    return subprocess.run(
        ["java", "-jar", str(jar),
         "--court", f"localhost:{court_port}", "--bank", f"localhost:{bank_port}",
         "--ca", str(court_files.ca_cert),
         "--court-cert", str(court_as.client_cert), "--court-key", str(court_as.client_key),
         "--bank-cert", str(bank_files.client_cert), "--bank-key", str(bank_files.client_key),
         "--court-id", COURT, "--bank-id", BANK, "--timeout", "30"],
        capture_output=True, text=True, timeout=180, check=False)


@pytest.fixture(scope="module")
def loop(jar: Path, connectors: dict[str, tuple[int, PkiFiles]]) -> subprocess.CompletedProcess[str]:
    return run_jar(jar, connectors[COURT], connectors[BANK])


def lines(out: str, prefix: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith(prefix)]


def test_the_java_client_plays_the_freeze_loop_over_mtls(loop: subprocess.CompletedProcess[str]) -> None:
    out = loop.stdout
    assert loop.returncode == 0, f"exit {loop.returncode}\n{out}\n{loop.stderr}"
    published = lines(out, "court published order ")
    assert len(published) == 1 and ": receipt ACCEPTED partition 0 index " in published[0], out
    order_id = published[0].split()[3].rstrip(":")
    received = lines(out, f"bank received order {order_id} from {COURT}")
    assert received, out
    assert lines(out, "bank payload_json: ") and "1286400.50" in lines(out, "bank payload_json: ")[0], out
    assert lines(out, "bank acked cursor "), out
    feedback = lines(out, "bank published feedback ")
    assert feedback and f"for order {order_id}: receipt ACCEPTED" in feedback[0], out
    assert lines(out, f"court received receipt for order {order_id}: ACCEPTED"), out
    got = lines(out, "court received feedback ")
    assert got and f"from {BANK} for order {order_id}: status FROZEN" in got[0], out
    proof = lines(out, f"court got tlog-proof for order {order_id}: partition 0 index ")
    assert proof, out
    refused = lines(out, "invalid order refused: INVALID_ARGUMENT: ")
    assert refused and "payload.amount" in refused[0], out
    assert out.rstrip().endswith("freeze loop OK"), out


def test_the_java_client_reads_the_field_violations_of_a_refused_order(
        loop: subprocess.CompletedProcess[str]) -> None:
    """The typed details (google.rpc.Status: BadRequest) name the bad field; grpc-java reads them
    with StatusProto.fromThrowable. The program prints `no details` when the server sends none."""
    out = loop.stdout
    assert loop.returncode == 0, f"exit {loop.returncode}\n{out}\n{loop.stderr}"
    assert not lines(out, "no details"), \
        "the connector sent no google.rpc.Status details with INVALID_ARGUMENT:\n" + out
    assert lines(out, "violation payload.amount: "), out


def test_another_members_certificate_is_refused_by_the_connector(
        jar: Path, connectors: dict[str, tuple[int, PkiFiles]]) -> None:
    """The bank's own (valid) certificate cannot speak for the court: PERMISSION_DENIED, one error line."""
    bank_files = connectors[BANK][1]
    r = run_jar(jar, connectors[COURT], connectors[BANK], court_as=bank_files)
    assert r.returncode == 1, r.stdout + r.stderr
    assert r.stderr.startswith("error: court Publish FreezeOrder: PERMISSION_DENIED: "), r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
