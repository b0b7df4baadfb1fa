"""What a bank's engineer sees with standard tools: the real `kcat` against the real secure broker.

With no credentials kcat cannot even open a session (the client listener speaks TLS and requires a
certificate of the consortium CA). With the properties `hub kafka client-config --member
bank-icbc-bj` writes, it reads the bank's own outbox, here holding a freeze order a court published
through its connector and the sequencer, byte for byte the ledger entry, and is refused another
bank's outbox and the ledger with authorization errors (a session was opened: the broker answered
and said no). The Java client's properties are checked the same way with the Kafka client jars of
the local broker.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.config import HubConfig
from hub.kafka.local import jars_dir, kafka_version
from hub.kafka.provision import Broker
from hub.kafka.topics import Topics
from hub.ledger.entry import LedgerEntry
from hub.standard.envelope import Envelope
from hub.v1 import connector_pb2 as pb
from tests.integration.conftest import Hub, stub

COURT, BANK, OTHER_BANK = "court-bj-chaoyang", "bank-icbc-bj", "bank-ccb-bj"
ORDER = "cn.judicial.hub.enforcement.FreezeOrder"
ORDER_JSON = {
    "case_number": "（2026）京0105执77号", "document_number": "（2026）京0105执77号之一",
    "court_name": "北京市朝阳区人民法院", "judge": "王建国",
    "subject": {"name": "北京某某贸易有限公司", "id_type": "UNIFIED_SOCIAL_CREDIT_CODE",
                "id_number": "91110105MA01ABCD26"},
    "account_number": "0200001234567890123", "amount": "1286400.50",
    "freeze_from": "2026-11-22T09:00:00+08:00", "freeze_until": "2027-11-22T09:00:00+08:00",
    "legal_basis": "《中华人民共和国民事诉讼法》第二百五十三条", "response_deadline": (datetime.now(UTC) + timedelta(days=7)).isoformat(),
}
#: kcat's refusal when the broker answered: the principal lacks an ACL
AUTHORIZATION = "Broker: Topic authorization failed"
#: kcat's words when no session could be opened at all
TRANSPORT = "Broker transport failure"


def kcat(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    exe = shutil.which("kcat")
    if exe is None:
        pytest.fail("kcat is not installed: `make kcat` (Debian's kcat package)")
    return subprocess.run([exe, *args], input=stdin, capture_output=True, timeout=60, check=False)


def err(r: subprocess.CompletedProcess[bytes]) -> str:
    return r.stderr.decode(errors="replace")


@pytest.fixture(scope="module")
def secure(broker: Broker) -> Broker:
    if broker.pki_dir is None:
        pytest.skip("an external cluster (HUB_KAFKA_BOOTSTRAP): its security is its own, not the local broker's mTLS")
    return broker


@pytest.fixture(scope="module")
def order(hub: Hub, secure: Broker) -> Iterator[str]:
    """A freeze order from the court to the bank, through the real connector and sequencer: its id."""
    hub.sequencer(0)
    court = stub(hub.connector(COURT)[1])
    r = court.Publish(pb.PublishRequest(type=ORDER, recipients=[BANK], payload_json=json.dumps(ORDER_JSON),
                                        wait_for_receipt=True), timeout=60)
    assert r.receipt.status == pb.Receipt.ACCEPTED, r.receipt
    yield r.message_id
    hub.stop_all()


@pytest.fixture(scope="module")
def bank_properties(hub: Hub, secure: Broker, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("kcat") / "icbc.properties"
    r = hub.run("kafka", "client-config", "--member", BANK, "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert str(out) in r.stdout and f"-t {hub.namespace}.outbox.{BANK}" in r.stdout
    return out


@pytest.mark.parametrize("topic", ["ledger", "outbox"])
def test_kcat_without_credentials_cannot_open_a_session(hub: Hub, secure: Broker, order: str, topic: str) -> None:
    t = Topics(hub.namespace)
    name = t.ledger if topic == "ledger" else t.outbox(BANK)
    # plaintext against the TLS listener: the broker drops the connection before any request
    r = kcat("-b", hub.bootstrap, "-m", "3", "-C", "-t", name, "-o", "beginning", "-e")
    assert r.returncode != 0 and r.stdout == b""
    assert TRANSPORT in err(r) and "Disconnected while requesting ApiVersion" in err(r), err(r)
    # TLS trusting the consortium CA, but no client certificate: the broker refuses the handshake
    r = kcat("-b", hub.bootstrap, "-m", "3", "-X", "security.protocol=ssl",
             "-X", f"ssl.ca.location={secure.pki_dir}/ca.pem", "-C", "-t", name, "-o", "beginning", "-e")
    assert r.returncode != 0 and r.stdout == b""
    assert TRANSPORT in err(r), err(r)
    assert "alert bad certificate" in err(r) or "alert certificate required" in err(r), err(r)
    assert AUTHORIZATION not in err(r)


def test_client_config_writes_the_members_pem_files_and_the_bootstrap(hub: Hub, secure: Broker,
                                                                      bank_properties: Path) -> None:
    assert oct(bank_properties.stat().st_mode & 0o777) == "0o600"
    lines = bank_properties.read_text().splitlines()
    assert lines[0].startswith(f"# Kafka client properties of {BANK}")
    props = dict(line.split("=", 1) for line in lines if not line.startswith("#"))
    pki = Path(str(secure.pki_dir)).resolve()
    assert props == {"bootstrap.servers": hub.bootstrap, "security.protocol": "ssl",
                     "ssl.ca.location": f"{pki}/ca.pem", "ssl.certificate.location": f"{pki}/{BANK}/client.pem",
                     "ssl.key.location": f"{pki}/{BANK}/client-key.pem",
                     "ssl.endpoint.identification.algorithm": "https"}


def test_kcat_reads_the_members_own_outbox_byte_for_byte(hub: Hub, bank_properties: Path, order: str) -> None:
    outbox = Topics(hub.namespace).outbox(BANK)
    r = kcat("-F", str(bank_properties), "-C", "-t", outbox, "-o", "beginning", "-e", "-f", "%h\n")
    assert r.returncode == 0, err(r)
    assert r.stdout.decode().split() == ["hub-kind=entry"]  # the one record: the court's order
    assert f"Reached end of topic {outbox} [0]" in err(r)
    r = kcat("-F", str(bank_properties), "-C", "-t", outbox, "-o", "beginning", "-c", "1", "-f", "%s")
    assert r.returncode == 0, err(r)
    entry = LedgerEntry.from_bytes(r.stdout)
    envelope = Envelope.from_bytes(entry.envelope)
    assert str(envelope.message_id) == order
    assert (envelope.sender, list(envelope.recipients), envelope.type) == (COURT, [BANK], ORDER)


@pytest.mark.parametrize("topic", ["ledger", "other-outbox", "rejected", "inbound"])
def test_kcat_as_the_member_is_refused_other_topics_by_authorization(hub: Hub, bank_properties: Path, order: str,
                                                                     topic: str) -> None:
    t = Topics(hub.namespace)
    name = {"ledger": t.ledger, "other-outbox": t.outbox(OTHER_BANK), "rejected": t.rejected,
            "inbound": t.inbound}[topic]
    r = kcat("-F", str(bank_properties), "-C", "-t", name, "-o", "beginning", "-e")
    assert r.returncode != 0 and r.stdout == b""
    if topic == "inbound":  # it may write there, so it may see the topic: the fetch is what is refused
        assert f"ERROR: Topic {name} [0] error: Fetch from broker 1 failed: {AUTHORIZATION}" in err(r), err(r)
    else:  # not even its metadata
        assert f"ERROR: Topic {name} error: {AUTHORIZATION}" in err(r), err(r)
        listed = kcat("-F", str(bank_properties), "-L", "-t", name)
        assert listed.returncode == 0, err(listed)
        assert f'topic "{name}" with 0 partitions: {AUTHORIZATION}' in listed.stdout.decode()
    assert TRANSPORT not in err(r) and "SSL" not in err(r)  # the session was fine: the broker said no


@pytest.mark.parametrize("topic", ["ledger", "own-outbox", "checkpoints"])
def test_kcat_as_the_member_cannot_write_the_hubs_topics(hub: Hub, bank_properties: Path, order: str,
                                                         topic: str) -> None:
    t = Topics(hub.namespace)
    name = {"ledger": t.ledger, "own-outbox": t.outbox(BANK), "checkpoints": t.checkpoints}[topic]
    r = kcat("-F", str(bank_properties), "-P", "-t", name, stdin=b"forged\n")
    assert r.returncode != 0
    assert f"Delivery failed for message: {AUTHORIZATION}" in err(r), err(r)


def test_client_config_refuses_a_non_member_and_a_missing_certificate(hub: Hub, secure: Broker,
                                                                      tmp_path: Path) -> None:
    r = hub.run("kafka", "client-config", "--member", "bank-nowhere-bj")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.strip().splitlines() == [
        "hub: error: bank-nowhere-bj is not a member of the consortium (membership v1; see `hub agency list`)"]
    # a PKI directory with the CA and the operator's certificate, not the bank's
    pki = tmp_path / "pki"
    shutil.copytree(Path(str(secure.pki_dir)) / "hub-operator", pki / "hub-operator")
    shutil.copy(Path(str(secure.pki_dir)) / "ca.pem", pki / "ca.pem")
    r = subprocess.run([*_hub(), "kafka", "client-config", "--member", BANK], env={**hub.env, "HUB_PKI": str(pki)},
                       capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.strip().splitlines() == [
        (f"hub: error: {BANK}'s Kafka client certificate is not at {pki.resolve()}/{BANK}/client.pem: "
         f"create it with `hub pki issue --member {BANK}`")]
    r = hub.run("kafka", "client-config", "--member", BANK, "--operator")
    assert r.returncode == 2
    assert r.stderr.strip() == "hub: error: give one of --member ID, --operator or --principal NAME"


def test_with_hub_kafka_config_the_properties_are_that_files(hub: Hub, secure: Broker, bank_properties: Path,
                                                              tmp_path: Path, order: str) -> None:
    config = tmp_path / "icbc-client.properties"
    config.write_text("".join(line + "\n" for line in bank_properties.read_text().splitlines()
                              if not line.startswith(("#", "bootstrap.servers="))))
    r = subprocess.run([*_hub(), "kafka", "client-config", "--member", BANK],
                       env={**hub.env, "HUB_KAFKA_CONFIG": str(config)}, capture_output=True, text=True,
                       timeout=120, check=False)
    assert r.returncode == 0, r.stderr
    assert f"HUB_KAFKA_CONFIG is set: these properties come from {config}" in r.stderr
    assert f"# from HUB_KAFKA_CONFIG={config}" in r.stdout
    props = dict(line.split("=", 1) for line in r.stdout.splitlines() if not line.startswith("#"))
    assert props["bootstrap.servers"] == hub.bootstrap
    assert props["ssl.certificate.location"].endswith(f"/{BANK}/client.pem")


def test_java_properties_point_at_a_pem_key_store_of_key_then_certificate(hub: Hub, secure: Broker,
                                                                           tmp_path: Path, order: str) -> None:
    out = tmp_path / "icbc-java.properties"
    r = hub.run("kafka", "client-config", "--member", BANK, "--format", "java", "--out", str(out))
    assert r.returncode == 0, r.stderr
    pki = Path(str(secure.pki_dir)).resolve()
    keystore = pki / BANK / "client-keystore.pem"
    props = dict(line.split("=", 1) for line in out.read_text().splitlines() if not line.startswith("#"))
    assert props == {"bootstrap.servers": hub.bootstrap, "security.protocol": "SSL", "ssl.keystore.type": "PEM",
                     "ssl.keystore.location": str(keystore), "ssl.truststore.type": "PEM",
                     "ssl.truststore.location": f"{pki}/ca.pem", "ssl.endpoint.identification.algorithm": "https"}
    assert oct(keystore.stat().st_mode & 0o777) == "0o600"
    data = keystore.read_bytes()
    assert data.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert data == (pki / BANK / "client-key.pem").read_bytes() + (pki / BANK / "client.pem").read_bytes()

    # the real Java client with these properties: its own outbox holds the order, the ledger is refused
    libs, java = jars_dir(HubConfig.from_env().home), shutil.which("java")
    # the local broker runs on the same Java and jars (`make kafka`): their absence is a failure, not a skip
    assert java is not None and (libs / f"kafka-clients-{kafka_version()}.jar").exists(), \
        f"no Java runtime or Kafka client jars in {libs}: run `make kafka`"
    source = tmp_path / "Peek.java"
    source.write_text(PEEK)
    outbox = Topics(hub.namespace).outbox(BANK)
    r2 = subprocess.run([java, "-cp", f"{libs}/*", str(source), str(out), outbox, Topics(hub.namespace).ledger],
                        capture_output=True, text=True, timeout=180, check=False)
    report = [line for line in r2.stdout.splitlines() if line.startswith(("OK", "REFUSED"))]
    assert report == [f"OK {outbox} records=1",
                      f"REFUSED {Topics(hub.namespace).ledger} TopicAuthorizationException"], r2.stdout + r2.stderr


def _hub() -> list[str]:
    return [sys.executable, "-m", "hub.cli"]


#: a Java consumer reading each topic named from the beginning with the properties file given
PEEK = """
import java.io.FileReader;
import java.time.Duration;
import java.util.*;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

public class Peek {
    public static void main(String[] args) throws Exception {
        Properties p = new Properties();
        try (FileReader r = new FileReader(args[0])) { p.load(r); }
        for (int t = 1; t < args.length; t++) {
            try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p, new ByteArrayDeserializer(),
                                                                       new ByteArrayDeserializer())) {
                TopicPartition tp = new TopicPartition(args[t], 0);
                c.assign(List.of(tp));
                c.seekToBeginning(List.of(tp));
                int n = 0;
                for (int i = 0; i < 20 && n == 0; i++) n += c.poll(Duration.ofMillis(500)).count();
                System.out.println("OK " + args[t] + " records=" + n);
            } catch (Exception e) {
                System.out.println("REFUSED " + args[t] + " " + e.getClass().getSimpleName());
            }
        }
    }
}
"""
