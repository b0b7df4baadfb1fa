"""The properties `hub kafka client-config` writes: librdkafka's and the Java client's, from the PKI's
layout or from a HUB_KAFKA_CONFIG file, and the Java PEM key store (key, then certificate)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from hub.consortium.pki import DevCA, issue_member, issue_principal, load_certificate
from hub.errors import ConfigError
from hub.kafka import client_properties as cp
from hub.kafka.security import OPERATOR, VERIFIER

BANK, BOOTSTRAP = "bank-icbc-bj", "kafka-1.example:9093,kafka-2.example:9093"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("pki")
    ca = DevCA.create(directory)
    issue_member(ca, directory, BANK, "中国工商银行北京市分行")
    issue_principal(ca, directory, VERIFIER, "judicial hub verifier")
    return directory


def parse(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))


def test_librdkafka_names_the_principals_pem_files_by_absolute_path_and_the_bootstrap(pki: Path) -> None:
    files = cp.pki_client_files(pki, BANK)
    assert cp.librdkafka(files, BOOTSTRAP) == {
        "bootstrap.servers": BOOTSTRAP,
        "security.protocol": "ssl",
        "ssl.ca.location": str(pki / "ca.pem"),
        "ssl.certificate.location": str(pki / BANK / "client.pem"),
        "ssl.key.location": str(pki / BANK / "client-key.pem"),
        "ssl.endpoint.identification.algorithm": "https",
    }


def test_java_uses_pem_stores_with_the_key_store_beside_the_certificate(pki: Path) -> None:
    files = cp.pki_client_files(pki, BANK)
    props = cp.java(files, BOOTSTRAP)
    assert props == {
        "bootstrap.servers": BOOTSTRAP,
        "security.protocol": "SSL",
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(pki / BANK / "client-keystore.pem"),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(pki / "ca.pem"),
        "ssl.endpoint.identification.algorithm": "https",
    }
    assert cp.for_pki(cp.Format.JAVA, files, BOOTSTRAP) == props
    assert cp.for_pki(cp.Format.LIBRDKAFKA, files, BOOTSTRAP) == cp.librdkafka(files, BOOTSTRAP)


def test_a_relative_pki_directory_becomes_absolute(pki: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(pki.parent)
    files = cp.pki_client_files(Path(pki.name), BANK)
    assert files.ca.is_absolute() and files.cert.is_absolute() and files.key.is_absolute()
    assert files.cert == pki / BANK / "client.pem"


def test_a_missing_certificate_names_the_command_that_issues_it(pki: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"bank-ccb-bj's Kafka client certificate is not at .*"
                                          r"`hub pki issue --member bank-ccb-bj`"):
        cp.pki_client_files(pki, "bank-ccb-bj")
    with pytest.raises(ConfigError, match=r"`hub pki issue --principal hub-operator`"):
        cp.pki_client_files(pki, OPERATOR)
    with pytest.raises(ConfigError, match=r"the consortium CA certificate is not at .*`hub pki init`"):
        cp.pki_client_files(tmp_path, BANK)
    with pytest.raises(ConfigError, match="member id"):
        cp.pki_client_files(pki, "../etc")
    assert cp.has_certificate(pki, BANK) and cp.has_certificate(pki, VERIFIER)
    assert not cp.has_certificate(pki, OPERATOR)


def test_the_key_store_holds_the_key_then_the_certificate_readable_by_its_owner_only(pki: Path) -> None:
    files = cp.pki_client_files(pki, BANK)
    path = cp.write_keystore(files.cert, files.key)
    assert path == files.keystore == pki / BANK / "client-keystore.pem"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    data = path.read_bytes()
    assert data.index(b"-----BEGIN PRIVATE KEY-----") < data.index(b"-----BEGIN CERTIFICATE-----")
    assert data == files.key.read_bytes().rstrip(b"\n") + b"\n" + files.cert.read_bytes().rstrip(b"\n") + b"\n"
    cert = load_certificate(data[data.index(b"-----BEGIN CERTIFICATE-----"):])
    assert cert.subject.rfc4514_string().endswith(f",CN={BANK}")


def test_the_key_store_refuses_files_that_are_not_a_key_and_a_certificate(pki: Path) -> None:
    files = cp.pki_client_files(pki, BANK)
    key, cert = files.key.read_bytes(), files.cert.read_bytes()
    with pytest.raises(ConfigError, match="no PEM private key"):
        cp.keystore_pem(cert, cert)
    with pytest.raises(ConfigError, match="no PEM certificate"):
        cp.keystore_pem(key, key)


def test_a_hub_kafka_config_file_is_passed_to_librdkafka_as_written() -> None:
    settings = {"security.protocol": "sasl_ssl", "sasl.mechanisms": "SCRAM-SHA-512", "sasl.username": "icbc",
                "sasl.password": "s3cret", "ssl.ca.location": "/etc/kafka/ca.pem"}
    assert cp.from_settings(cp.Format.LIBRDKAFKA, settings, BOOTSTRAP, "x.properties") == {
        "bootstrap.servers": BOOTSTRAP, **settings}


def test_scram_over_tls_is_translated_for_the_java_client() -> None:
    settings = {"security.protocol": "sasl_ssl", "sasl.mechanisms": "SCRAM-SHA-512", "sasl.username": "icbc",
                "sasl.password": 'pa"ss\\word', "ssl.ca.location": "/etc/kafka/ca.pem",
                "ssl.endpoint.identification.algorithm": "none"}
    assert cp.from_settings(cp.Format.JAVA, settings, BOOTSTRAP, "x.properties") == {
        "bootstrap.servers": BOOTSTRAP,
        "security.protocol": "SASL_SSL",
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": "/etc/kafka/ca.pem",
        "ssl.endpoint.identification.algorithm": "",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.jaas.config": 'org.apache.kafka.common.security.scram.ScramLoginModule required '
                            'username="icbc" password="pa\\"ss\\\\word";',
    }


def test_client_certificates_of_a_hub_kafka_config_file_become_a_java_key_store() -> None:
    settings = {"security.protocol": "ssl", "ssl.certificate.location": "/etc/kafka/icbc/client.pem",
                "ssl.key.location": "/etc/kafka/icbc/client-key.pem", "ssl.key.password": "k"}
    props = cp.from_settings(cp.Format.JAVA, settings, BOOTSTRAP, "x.properties")
    assert props["ssl.keystore.type"] == "PEM"
    assert props["ssl.keystore.location"] == "/etc/kafka/icbc/client-keystore.pem"
    assert props["ssl.key.password"] == "k"
    assert "ssl.key.location" not in props and "ssl.certificate.location" not in props


def test_a_key_with_no_java_translation_is_named() -> None:
    settings = {"security.protocol": "sasl_ssl", "sasl.mechanisms": "OAUTHBEARER", "sasl.oauthbearer.method": "oidc",
                "sasl.oauthbearer.client.id": "icbc"}
    with pytest.raises(ConfigError, match=r"x.properties: no Java client translation for "
                                          r"sasl.oauthbearer.client.id, sasl.oauthbearer.method"):
        cp.from_settings(cp.Format.JAVA, settings, BOOTSTRAP, "x.properties")


def test_render_writes_comments_then_key_value_lines_escaping_backslashes_for_java_only() -> None:
    props = {"bootstrap.servers": BOOTSTRAP, "ssl.ca.location": r"C:\pki\ca.pem"}
    text = cp.render(cp.Format.LIBRDKAFKA, props, ("of bank-icbc-bj", "from the PKI"))
    assert text == f"# of bank-icbc-bj\n# from the PKI\nbootstrap.servers={BOOTSTRAP}\nssl.ca.location=C:\\pki\\ca.pem\n"
    assert parse(text) == props
    assert parse(cp.render(cp.Format.JAVA, props))["ssl.ca.location"] == r"C:\\pki\\ca.pem"


def test_written_properties_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    out = tmp_path / "sub" / "icbc.properties"
    cp.write_properties(out, "security.protocol=ssl\n")
    assert out.read_text() == "security.protocol=ssl\n"
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
