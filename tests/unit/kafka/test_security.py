"""Who a process is to Kafka: the properties file of HUB_KAFKA_CONFIG, else mutual TLS from the PKI."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.errors import ConfigError
from hub.kafka import security
from hub.kafka.clients import consumer_config, producer_config


def test_a_properties_file_is_used_as_written_comments_and_both_separators(tmp_path: Path):
    f = tmp_path / "client.properties"
    f.write_text("# SASL/SCRAM at the provincial cluster\n! a Java-style comment\n\n"
                 "security.protocol=SASL_SSL\nsasl.mechanisms : SCRAM-SHA-512\n"
                 "sasl.username=bank-icbc-bj\nsasl.password=s3cr=t\n")
    sec = security.resolve(f, tmp_path / "no-pki", "bank-icbc-bj")
    assert dict(sec.settings) == {"security.protocol": "SASL_SSL", "sasl.mechanisms": "SCRAM-SHA-512",
                                  "sasl.username": "bank-icbc-bj", "sasl.password": "s3cr=t"}
    assert sec.protocol == "sasl_ssl" and sec.principal == "bank-icbc-bj"


@pytest.mark.parametrize("text, says", [
    ("security.protocol\n", "not a `key=value` line"),
    ("bootstrap.servers=k1:9093\n", "HUB_KAFKA_BOOTSTRAP"),
    ("séc=1\n", "not a `key=value` line"),
])
def test_a_bad_properties_file_is_one_clear_line_naming_it(tmp_path: Path, text: str, says: str):
    f = tmp_path / "bad.properties"
    f.write_text(text)
    with pytest.raises(ConfigError, match=says) as e:
        security.from_file(f, "x")
    assert str(f) in e.value.diagnostics()


def test_a_missing_properties_file_is_a_config_error(tmp_path: Path):
    with pytest.raises(ConfigError, match="cannot read"):
        security.from_file(tmp_path / "absent.properties", "x")


def test_mutual_tls_names_the_principals_certificate_and_says_how_to_issue_a_missing_one(tmp_path: Path):
    (tmp_path / "ca.pem").write_text("ca")
    with pytest.raises(ConfigError, match=r"hub pki issue --principal hub-verifier"):
        security.mtls(tmp_path, "hub-verifier")
    (tmp_path / "hub-verifier").mkdir()
    (tmp_path / "hub-verifier" / "client.pem").write_text("cert")
    (tmp_path / "hub-verifier" / "client-key.pem").write_text("key")
    sec = security.mtls(tmp_path, "hub-verifier")
    assert sec.protocol == "ssl"
    assert sec.settings["ssl.certificate.location"] == str(tmp_path / "hub-verifier" / "client.pem")
    assert sec.settings["ssl.ca.location"] == str(tmp_path / "ca.pem")
    with pytest.raises(ConfigError, match="hub pki init"):
        security.mtls(tmp_path / "elsewhere", "hub-verifier")


def test_every_client_carries_the_installed_settings(tmp_path: Path):
    f = tmp_path / "c.properties"
    f.write_text("security.protocol=ssl\nssl.ca.location=/etc/hub/ca.pem\n")
    security.use(security.from_file(f, "hub-auditor"))
    try:
        for cfg in (producer_config("k:9093"), consumer_config("k:9093", "g")):
            assert cfg["security.protocol"] == "ssl" and cfg["ssl.ca.location"] == "/etc/hub/ca.pem"
    finally:
        security.use(security.ClientSecurity(""))
    assert "security.protocol" not in producer_config("k:9093")


def test_a_members_missing_certificate_names_the_member_option(tmp_path: Path):
    (tmp_path / "ca.pem").write_text("ca")
    with pytest.raises(ConfigError, match=r"hub pki issue --member bank-icbc-bj"):
        security.mtls(tmp_path, "bank-icbc-bj")
