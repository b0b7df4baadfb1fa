"""The development PKI: CA, issued certificates, member ids, fingerprints, files and their errors."""

from __future__ import annotations

import datetime as dt
import ipaddress
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.consortium import pki
from hub.errors import ConfigError, DecodeError, HubError, VerificationError

MEMBER = "bank-icbc-bj"
AGENCY = "中国工商银行北京市分行"


@pytest.fixture(scope="module")
def ca() -> pki.DevCA:
    return pki.DevCA.generate()


@pytest.fixture(scope="module")
def client(ca: pki.DevCA) -> tuple[bytes, bytes]:
    return pki.issue_client(ca, MEMBER, AGENCY)


@pytest.fixture(scope="module")
def server(ca: pki.DevCA) -> tuple[bytes, bytes]:
    return pki.issue_server(ca, member_id=MEMBER)


def signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Check the signature with the issuer's public key directly (not through hub.consortium.pki)."""
    public = issuer.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    try:
        public.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def eku(cert: x509.Certificate) -> list[x509.ObjectIdentifier]:
    return list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- the CA ----------------------------------------------------------------------------------

def test_ca_is_a_self_signed_p256_ca_with_the_chinese_name(ca: pki.DevCA) -> None:
    cert = ca.cert
    assert cert.subject == cert.issuer
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == pki.DEFAULT_CA_NAME
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert isinstance(cert.public_key().curve, ec.SECP256R1)  # type: ignore[union-attr]
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca and bc.value.path_length == 0
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.key_cert_sign and ku.crl_sign
    assert signed_by(cert, cert)


def test_ca_validity_follows_valid_days() -> None:
    ca = pki.DevCA.generate(name="Judicial Hub Dev CA", valid_days=30)
    life = ca.cert.not_valid_after_utc - ca.cert.not_valid_before_utc
    assert dt.timedelta(days=30) < life <= dt.timedelta(days=30, hours=1)
    assert ca.name == "O=judicial-hub development,CN=Judicial Hub Dev CA"


def test_create_writes_ca_files_with_private_key_0600(tmp_path: Path) -> None:
    ca = pki.DevCA.create(tmp_path / "pki", valid_days=10)
    files = pki.pki_files(tmp_path / "pki", MEMBER)
    assert files.ca_cert.read_bytes() == ca.cert_pem
    assert files.ca_key.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert mode(files.ca_key) == 0o600
    assert mode(files.ca_cert) == 0o644


def test_create_refuses_to_replace_a_ca_unless_forced(tmp_path: Path) -> None:
    first = pki.DevCA.create(tmp_path)
    with pytest.raises(ConfigError, match="already exists"):
        pki.DevCA.create(tmp_path)
    second = pki.DevCA.create(tmp_path, force=True)
    assert second.fingerprint != first.fingerprint
    assert pki.DevCA.load(tmp_path).fingerprint == second.fingerprint


def test_load_round_trip_and_loaded_ca_still_issues(tmp_path: Path) -> None:
    ca = pki.DevCA.create(tmp_path)
    loaded = pki.DevCA.load(tmp_path)
    assert loaded.cert == ca.cert
    assert loaded.key_pem == ca.key_pem
    cert, _ = pki.issue_client(loaded, MEMBER, AGENCY)
    pki.verify_issued_by(cert, ca.cert_pem)


def test_create_rejects_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        pki.DevCA.create(tmp_path, valid_days=0)
    with pytest.raises(ConfigError):
        pki.DevCA.create(tmp_path, name="  ")
    assert not (tmp_path / "ca.pem").exists()


# --- issued certificates ---------------------------------------------------------------------

def test_client_certificate_chains_to_the_ca(ca: pki.DevCA, client: tuple[bytes, bytes]) -> None:
    cert = x509.load_pem_x509_certificate(client[0])
    assert cert.issuer == ca.cert.subject
    assert signed_by(cert, ca.cert)
    assert not signed_by(cert, pki.DevCA.generate().cert)
    pki.verify_issued_by(client[0], ca.cert)


def test_client_certificate_names_the_member(client: tuple[bytes, bytes]) -> None:
    cert = x509.load_pem_x509_certificate(client[0])
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == MEMBER
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == AGENCY
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [f"urn:judicial-hub:member:{MEMBER}"]
    assert eku(cert) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and not bc.value.ca


def test_client_key_matches_its_certificate(client: tuple[bytes, bytes]) -> None:
    pki.check_key_pair(*client)
    key = serialization.load_pem_private_key(client[1], password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1)


def test_server_certificate_names_localhost_and_loopback(ca: pki.DevCA, server: tuple[bytes, bytes]) -> None:
    cert = x509.load_pem_x509_certificate(server[0])
    assert signed_by(cert, ca.cert)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert eku(cert) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert pki.member_id_from_cert(server[0]) == MEMBER
    pki.check_key_pair(*server)


def test_server_certificate_for_other_hosts(ca: pki.DevCA) -> None:
    cert_pem, _ = pki.issue_server(ca, ["connector.bank.example", "10.0.0.7", "::1"])
    cert = x509.load_pem_x509_certificate(cert_pem)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["connector.bank.example"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.0.0.7"), ipaddress.ip_address("::1")]
    with pytest.raises(DecodeError, match="names no hub member"):
        pki.member_id_from_cert(cert_pem)


def test_leaf_validity_never_outlives_the_ca() -> None:
    short = pki.DevCA.generate(valid_days=5)
    cert = x509.load_pem_x509_certificate(pki.issue_client(short, MEMBER, AGENCY, valid_days=800)[0])
    assert cert.not_valid_after_utc <= short.cert.not_valid_after_utc
    assert cert.not_valid_before_utc >= short.cert.not_valid_before_utc


def test_issue_rejects_bad_member_ids_and_hosts(ca: pki.DevCA) -> None:
    for bad in ["", "../etc", "bank a", "银行", "-bank", "x" * 65, "bank/a"]:
        with pytest.raises(ConfigError):
            pki.issue_client(ca, bad, AGENCY)
    with pytest.raises(ConfigError):
        pki.issue_client(ca, MEMBER, "")
    with pytest.raises(ConfigError):
        pki.issue_server(ca, [])
    with pytest.raises(ConfigError):
        pki.issue_server(ca, ["not a host"])


def test_verify_issued_by_rejects_another_ca(client: tuple[bytes, bytes]) -> None:
    other = pki.DevCA.generate()  # same name, different key
    with pytest.raises(VerificationError, match="was not issued by") as info:
        pki.verify_issued_by(client[0], other.cert)
    assert other.fingerprint in info.value.diagnostics()


def test_verify_issued_by_checks_the_time(ca: pki.DevCA, client: tuple[bytes, bytes]) -> None:
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=pki.LEAF_VALID_DAYS + 1)
    with pytest.raises(VerificationError, match="is not valid at"):
        pki.verify_issued_by(client[0], ca.cert, at=later)


# --- member ids and fingerprints ---------------------------------------------------------------

def test_member_id_from_pem_der_and_parsed(client: tuple[bytes, bytes]) -> None:
    cert = x509.load_pem_x509_certificate(client[0])
    der = cert.public_bytes(serialization.Encoding.DER)
    assert pki.member_id_from_cert(client[0]) == MEMBER
    assert pki.member_id_from_cert(der) == MEMBER
    assert pki.member_id_from_cert(cert) == MEMBER


def test_member_id_needs_the_member_uri(ca: pki.DevCA) -> None:
    with pytest.raises(DecodeError, match="no subject alternative names"):
        pki.member_id_from_cert(ca.cert_pem)


def test_member_id_refuses_a_certificate_naming_two_members(ca: pki.DevCA) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "a")]))
        .add_extension(x509.SubjectAlternativeName([
            x509.UniformResourceIdentifier("urn:judicial-hub:member:bank-a"),
            x509.UniformResourceIdentifier("urn:judicial-hub:member:bank-b"),
        ]), critical=False)
    )
    cert = ca.issue(builder, key.public_key(), 1)
    with pytest.raises(DecodeError, match="several hub members"):
        pki.member_id_from_cert(cert)


def test_fingerprint_is_stable_and_matches_der_sha256(ca: pki.DevCA, client: tuple[bytes, bytes]) -> None:
    cert = x509.load_pem_x509_certificate(client[0])
    der = cert.public_bytes(serialization.Encoding.DER)
    fp = pki.fingerprint_sha256(client[0])
    assert len(fp) == 64 and fp == fp.lower()
    assert fp == pki.fingerprint_sha256(der) == pki.fingerprint_sha256(cert)
    h = hashes.Hash(hashes.SHA256())
    h.update(der)
    assert fp == h.finalize().hex()
    assert fp != pki.fingerprint_sha256(pki.issue_client(ca, MEMBER, AGENCY)[0])  # a new key, a new cert


# --- files, layout, errors ---------------------------------------------------------------------

def test_pki_files_layout(tmp_path: Path) -> None:
    files = pki.pki_files(tmp_path, MEMBER)
    assert files.ca_cert == tmp_path / "ca.pem"
    assert files.ca_key == tmp_path / "ca-key.pem"
    assert files.client_cert == tmp_path / MEMBER / "client.pem"
    assert files.client_key == tmp_path / MEMBER / "client-key.pem"
    assert files.server_cert == tmp_path / MEMBER / "server.pem"
    assert files.server_key == tmp_path / MEMBER / "server-key.pem"
    with pytest.raises(ConfigError):
        pki.pki_files(tmp_path, "..")


def test_issue_member_writes_the_layout(tmp_path: Path) -> None:
    ca = pki.DevCA.create(tmp_path)
    files = pki.issue_member(ca, tmp_path, MEMBER, AGENCY)
    for cert, key in [(files.client_cert, files.client_key), (files.server_cert, files.server_key)]:
        pki.check_key_pair(cert.read_bytes(), key.read_bytes())
        pki.verify_issued_by(cert.read_bytes(), files.ca_cert.read_bytes())
        assert pki.member_id_from_cert(cert.read_bytes()) == MEMBER
        assert mode(key) == 0o600
        assert mode(cert) == 0o644


def test_write_key_tightens_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    path.write_bytes(b"old")
    path.chmod(0o644)
    pki.write_key(path, b"new")
    assert mode(path) == 0o600 and path.read_bytes() == b"new"


def test_load_without_a_ca_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="hub pki init"):
        pki.DevCA.load(tmp_path)


def test_load_with_a_missing_key_names_the_file(tmp_path: Path) -> None:
    pki.DevCA.create(tmp_path)
    (tmp_path / "ca-key.pem").unlink()
    with pytest.raises(ConfigError, match="ca-key.pem"):
        pki.DevCA.load(tmp_path)


@pytest.mark.parametrize("which, content", [
    ("ca.pem", b"not a certificate"),
    ("ca.pem", b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
    ("ca.pem", b""),
    ("ca-key.pem", b"-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----\n"),
    ("ca-key.pem", b"\x00\x01\x02"),
])
def test_corrupt_ca_files_are_decode_errors(tmp_path: Path, which: str, content: bytes) -> None:
    pki.DevCA.create(tmp_path)
    (tmp_path / which).write_bytes(content)
    with pytest.raises(DecodeError) as info:
        pki.DevCA.load(tmp_path)
    assert "\n" not in info.value.diagnostics()


def test_truncated_certificate_is_a_decode_error(client: tuple[bytes, bytes]) -> None:
    der = x509.load_pem_x509_certificate(client[0]).public_bytes(serialization.Encoding.DER)
    for data in [der[: len(der) // 2], der[:-1], b"", b"\x30\x00"]:
        with pytest.raises(DecodeError):
            pki.member_id_from_cert(data)
        with pytest.raises(DecodeError):
            pki.fingerprint_sha256(data)


_SAMPLE_DER = pki.DevCA.generate().cert.public_bytes(serialization.Encoding.DER)


@settings(max_examples=300, deadline=None)
@given(st.one_of(
    st.binary(max_size=600),
    st.builds(lambda i, b: _SAMPLE_DER[:i] + bytes([b]) + _SAMPLE_DER[i + 1:],
              st.integers(0, len(_SAMPLE_DER) - 1), st.integers(0, 255)),
    st.builds(lambda i: _SAMPLE_DER[:i], st.integers(0, len(_SAMPLE_DER))),
))
def test_parsing_arbitrary_bytes_raises_only_hub_errors(data: bytes) -> None:
    for parse in (pki.member_id_from_cert, pki.fingerprint_sha256):
        try:
            parse(data)
        except HubError:
            pass
    try:
        pki.load_private_key(data)
    except HubError:
        pass


def test_mismatched_ca_key_is_a_config_error(tmp_path: Path) -> None:
    pki.DevCA.create(tmp_path)
    (tmp_path / "ca-key.pem").write_bytes(pki.DevCA.generate().key_pem)
    with pytest.raises(ConfigError, match="does not belong"):
        pki.DevCA.load(tmp_path)


def test_a_leaf_is_not_a_ca(tmp_path: Path, client: tuple[bytes, bytes]) -> None:
    pki.write_cert(tmp_path / "ca.pem", client[0])
    pki.write_key(tmp_path / "ca-key.pem", client[1])
    with pytest.raises(ConfigError, match="not a CA certificate"):
        pki.DevCA.load(tmp_path)


def test_non_p256_keys_are_refused(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    pem = Ed25519PrivateKey.generate().private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                     serialization.NoEncryption())
    with pytest.raises(DecodeError, match="P-256"):
        pki.load_private_key(pem)


def test_check_key_pair_refuses_a_foreign_key(client: tuple[bytes, bytes], server: tuple[bytes, bytes]) -> None:
    with pytest.raises(ConfigError, match="does not belong"):
        pki.check_key_pair(client[0], server[1])


def test_every_failure_is_a_hub_error_with_one_line(tmp_path: Path) -> None:
    attempts = [
        lambda: pki.DevCA.load(tmp_path / "nowhere"),
        lambda: pki.load_certificate(b"junk"),
        lambda: pki.load_private_key(b"junk"),
        lambda: pki.pki_files(tmp_path, "a b"),
    ]
    for attempt in attempts:
        with pytest.raises(HubError) as info:
            attempt()
        assert info.value.diagnostics() and "\n" not in info.value.diagnostics()
