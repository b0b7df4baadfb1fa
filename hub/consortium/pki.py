"""A development PKI for mTLS between agency systems and their connectors.

The consortium's development CA issues two kinds of certificate per member:

* a **client** certificate the agency's own systems present to its connector; the member id
  is the subject CN and, authoritatively, a URI SAN ``urn:judicial-hub:member:<id>``;
  extended key usage clientAuth;
* a **server** certificate the connector presents, naming its host names and IP addresses
  (``localhost`` and ``127.0.0.1`` by default); extended key usage serverAuth.

Keys are ECDSA P-256 (what every TLS stack, gRPC's BoringSSL included, accepts), stored
as unencrypted PKCS#8 PEM readable by their owner only. This is the one place the hub
touches ``cryptography.x509``; its exceptions become :class:`DecodeError`,
:class:`ConfigError` or :class:`VerificationError` here. Production consortia use their
own CA; only the layout and the member URI are the hub's.

Layout of a PKI directory (:func:`pki_files`)::

    ca.pem                      the CA certificate (give it to clients and connectors)
    ca-key.pem                  the CA private key (0600)
    <member>/client.pem         the agency's client certificate
    <member>/client-key.pem     its key (0600)
    <member>/server.pem         the member's connector server certificate
    <member>/server-key.pem     its key (0600)
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hub.errors import ConfigError, DecodeError, VerificationError

DEFAULT_CA_NAME = "司法区块链互通枢纽开发CA"
MEMBER_URI_PREFIX = "urn:judicial-hub:member:"
DEFAULT_SERVER_HOSTS: tuple[str, ...] = ("localhost", "127.0.0.1")
CA_VALID_DAYS = 3650
LEAF_VALID_DAYS = 825

#: member ids are URI- and path-safe and fit a CN (ub-common-name is 64)
_MEMBER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
#: certificates start an hour early to tolerate clock skew between machines
_BACKDATE = dt.timedelta(hours=1)


# --- layout --------------------------------------------------------------------------------

@dataclass(frozen=True)
class PkiFiles:
    """Where a PKI directory keeps the CA and one member's certificates."""

    ca_cert: Path
    ca_key: Path
    client_cert: Path
    client_key: Path
    server_cert: Path
    server_key: Path


def pki_files(directory: Path, member_id: str) -> PkiFiles:
    """The paths of ``member_id``'s files under ``directory`` (nothing is read or created)."""
    check_member_id(member_id)
    member = directory / member_id
    return PkiFiles(
        ca_cert=directory / "ca.pem",
        ca_key=directory / "ca-key.pem",
        client_cert=member / "client.pem",
        client_key=member / "client-key.pem",
        server_cert=member / "server.pem",
        server_key=member / "server-key.pem",
    )


def check_member_id(member_id: str) -> str:
    """``member_id`` if it can name a certificate and a directory, else :class:`ConfigError`."""
    if not _MEMBER_ID.fullmatch(member_id):
        raise ConfigError(f"member id {member_id!r} must be 1-64 of A-Z a-z 0-9 . _ - (not starting with . _ -)")
    return member_id


# --- parsing -------------------------------------------------------------------------------

def load_certificate(data: bytes | x509.Certificate) -> x509.Certificate:
    """A certificate from PEM or DER bytes (or one already parsed)."""
    if isinstance(data, x509.Certificate):
        return data
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except (ValueError, TypeError, UnsupportedAlgorithm, x509.InvalidVersion) as exc:
        raise DecodeError(f"not an X.509 certificate in PEM or DER: {_first_line(exc)}") from exc


def load_private_key(pem: bytes) -> ec.EllipticCurvePrivateKey:
    """An unencrypted PEM P-256 private key."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise DecodeError(f"not an unencrypted PEM private key: {_first_line(exc)}") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise DecodeError("the PEM private key is not an ECDSA P-256 key")
    return key


def check_key_pair(cert_pem: bytes, key_pem: bytes) -> None:
    """Raise :class:`ConfigError` unless ``key_pem`` is the private key of ``cert_pem``."""
    cert = load_certificate(cert_pem)
    key = load_private_key(key_pem)
    if cert.public_key() != key.public_key():
        raise ConfigError(f"the private key does not belong to the certificate {_subject(cert)}")


def member_id_from_cert(cert: bytes | x509.Certificate) -> str:
    """The member id a certificate names in its ``urn:judicial-hub:member:`` URI SAN."""
    c = load_certificate(cert)
    try:
        san = c.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        raise DecodeError(f"certificate {_subject(c)} has no subject alternative names") from None
    except ValueError as exc:
        raise DecodeError(f"certificate {_subject(c)} has malformed extensions: {_first_line(exc)}") from exc
    ids = {u[len(MEMBER_URI_PREFIX):] for u in san.get_values_for_type(x509.UniformResourceIdentifier)
           if u.startswith(MEMBER_URI_PREFIX)}
    if not ids:
        raise DecodeError(f"certificate {_subject(c)} names no hub member (no URI SAN {MEMBER_URI_PREFIX}<id>)")
    if len(ids) > 1:
        raise DecodeError(f"certificate {_subject(c)} names several hub members: {', '.join(sorted(ids))}")
    member_id = ids.pop()
    if not _MEMBER_ID.fullmatch(member_id):
        raise DecodeError(f"certificate {_subject(c)} names an invalid member id {member_id!r}")
    return member_id


def fingerprint_sha256(cert: bytes | x509.Certificate) -> str:
    """Lowercase hex SHA-256 of the certificate's DER encoding (what ``openssl x509 -fingerprint`` shows)."""
    return load_certificate(cert).fingerprint(hashes.SHA256()).hex()


def verify_issued_by(cert: bytes | x509.Certificate, ca_cert: bytes | x509.Certificate,
                     *, at: dt.datetime | None = None) -> None:
    """Raise :class:`VerificationError` unless ``ca_cert`` signed ``cert`` and it is valid ``at`` (now)."""
    c, ca = load_certificate(cert), load_certificate(ca_cert)
    try:
        c.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature) as exc:
        raise VerificationError(f"certificate {_subject(c)} was not issued by {_subject(ca)}",
                                expected=fingerprint_sha256(ca)) from exc
    when = at or _now()
    if not c.not_valid_before_utc <= when <= c.not_valid_after_utc:
        raise VerificationError(f"certificate {_subject(c)} is not valid at {when.isoformat()}",
                                expected=f"{c.not_valid_before_utc.isoformat()}..{c.not_valid_after_utc.isoformat()}",
                                calculated=when.isoformat())


# --- the CA --------------------------------------------------------------------------------

class DevCA:
    """A development certificate authority: a self-signed P-256 CA certificate and its key."""

    def __init__(self, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey):
        if cert.public_key() != key.public_key():
            raise ConfigError(f"the CA key does not belong to the CA certificate {_subject(cert)}")
        try:
            bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        except x509.ExtensionNotFound:
            bc = None
        if bc is None or not bc.ca:
            raise ConfigError(f"certificate {_subject(cert)} is not a CA certificate (basicConstraints CA:FALSE)")
        self.cert = cert
        self._key = key

    @classmethod
    def generate(cls, *, name: str = DEFAULT_CA_NAME, valid_days: int = CA_VALID_DAYS) -> DevCA:
        """A new CA in memory (nothing is written)."""
        if not name.strip():
            raise ConfigError("the CA needs a name")
        if valid_days < 1:
            raise ConfigError(f"valid_days must be at least 1, not {valid_days}")
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([
            x509.NameAttribute(NameOID.COMMON_NAME, name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "judicial-hub development"),
        ])
        now = _now()
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _BACKDATE)
            .not_valid_after(now + dt.timedelta(days=valid_days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        return cls(cert, key)

    @classmethod
    def create(cls, directory: Path, *, name: str = DEFAULT_CA_NAME, valid_days: int = CA_VALID_DAYS,
               force: bool = False) -> DevCA:
        """A new CA written to ``directory``/ca.pem and ca-key.pem (0600).

        Refuses to replace an existing CA (every certificate it issued would stop
        verifying) unless ``force``.
        """
        files = _ca_files(directory)
        if not force and (files.ca_cert.exists() or files.ca_key.exists()):
            raise ConfigError(f"a CA already exists in {directory}; remove it or pass force to replace it")
        ca = cls.generate(name=name, valid_days=valid_days)
        write_key(files.ca_key, ca.key_pem)
        write_cert(files.ca_cert, ca.cert_pem)
        return ca

    @classmethod
    def load(cls, directory: Path) -> DevCA:
        """The CA kept in ``directory``."""
        files = _ca_files(directory)
        if not files.ca_cert.exists():
            raise ConfigError(f"no CA at {directory}: run `hub pki init` first")
        return cls.from_pem(read_pem(files.ca_cert), read_pem(files.ca_key))

    @classmethod
    def from_pem(cls, cert_pem: bytes, key_pem: bytes) -> DevCA:
        return cls(load_certificate(cert_pem), load_private_key(key_pem))

    @property
    def name(self) -> str:
        return _subject(self.cert)

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return _key_pem(self._key)

    @property
    def fingerprint(self) -> str:
        return fingerprint_sha256(self.cert)

    def issue(self, builder: x509.CertificateBuilder, public_key: ec.EllipticCurvePublicKey,
              valid_days: int) -> x509.Certificate:
        """Sign a leaf certificate whose subject and purpose extensions ``builder`` already holds."""
        if valid_days < 1:
            raise ConfigError(f"valid_days must be at least 1, not {valid_days}")
        now = _now()
        not_after = min(now + dt.timedelta(days=valid_days), self.cert.not_valid_after_utc)
        return (
            builder
            .issuer_name(self.cert.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(max(now - _BACKDATE, self.cert.not_valid_before_utc))
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=False, crl_sign=False,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), critical=False)
            .sign(self._key, hashes.SHA256())
        )


def issue_server(ca: DevCA, hosts: Sequence[str] = DEFAULT_SERVER_HOSTS, *, member_id: str | None = None,
                 valid_days: int = LEAF_VALID_DAYS, common_name: str | None = None,
                 client_auth: bool = False) -> tuple[bytes, bytes]:
    """A server certificate for ``hosts`` (DNS names and IP addresses): (cert PEM, key PEM).

    With ``member_id`` the certificate also carries the member URI, so a client can
    check it reached the connector of the agency it meant. ``common_name`` (default the first
    host) is the subject CN; ``client_auth`` adds the clientAuth usage, for a server that also
    connects to its peers with the same certificate (a Kafka broker).
    """
    if not hosts:
        raise ConfigError("a server certificate needs at least one host name or IP address")
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            if not re.fullmatch(r"(\*\.)?[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?", host):
                raise ConfigError(f"{host!r} is neither a DNS name nor an IP address") from None
            names.append(x509.DNSName(host.lower()))
    if member_id is not None:
        names.append(x509.UniformResourceIdentifier(MEMBER_URI_PREFIX + check_member_id(member_id)))
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, (common_name or hosts[0])[:64])]))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]
                                             + ([ExtendedKeyUsageOID.CLIENT_AUTH] if client_auth else [])),
                       critical=False)
    )
    cert = ca.issue(builder, key.public_key(), valid_days)
    return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)


def issue_client(ca: DevCA, member_id: str, agency_name: str, *,
                 valid_days: int = LEAF_VALID_DAYS) -> tuple[bytes, bytes]:
    """A client certificate for an agency's systems: (cert PEM, key PEM).

    Subject CN = ``member_id``, O = ``agency_name``; URI SAN ``urn:judicial-hub:member:<id>``;
    extended key usage clientAuth.
    """
    check_member_id(member_id)
    if not agency_name.strip():
        raise ConfigError(f"member {member_id} needs an agency name for its certificate")
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([
            x509.NameAttribute(NameOID.COMMON_NAME, member_id),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, agency_name[:64]),
        ]))
        .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(MEMBER_URI_PREFIX + member_id)]),
                       critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    )
    cert = ca.issue(builder, key.public_key(), valid_days)
    return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)


def issue_member(ca: DevCA, directory: Path, member_id: str, agency_name: str, *,
                 hosts: Sequence[str] = DEFAULT_SERVER_HOSTS, valid_days: int = LEAF_VALID_DAYS) -> PkiFiles:
    """Issue ``member_id``'s client and server certificates and write them in the layout."""
    files = pki_files(directory, member_id)
    cert, key = issue_client(ca, member_id, agency_name, valid_days=valid_days)
    write_key(files.client_key, key)
    write_cert(files.client_cert, cert)
    cert, key = issue_server(ca, hosts, member_id=member_id, valid_days=valid_days)
    write_key(files.server_key, key)
    write_cert(files.server_cert, cert)
    return files


def issue_principal(ca: DevCA, directory: Path, principal: str, name: str, *,
                    valid_days: int = LEAF_VALID_DAYS) -> PkiFiles:
    """Issue a client certificate only (subject CN ``principal``), in the layout: what one of the
    hub's services or the operator presents to Kafka."""
    files = pki_files(directory, principal)
    cert, key = issue_client(ca, principal, name, valid_days=valid_days)
    write_key(files.client_key, key)
    write_cert(files.client_cert, cert)
    return files


# --- files ---------------------------------------------------------------------------------

def read_pem(path: Path) -> bytes:
    """The bytes of a PEM file, or :class:`ConfigError` naming it."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"missing {path}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc


def write_cert(path: Path, pem: bytes) -> None:
    """Write a certificate (world-readable, 0644)."""
    _write(path, pem, 0o644)


def write_key(path: Path, pem: bytes) -> None:
    """Write a private key readable by its owner only (0600), whatever the umask or an older file."""
    _write(path, pem, 0o600)


def _write(path: Path, data: bytes, mode: int) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)
            f.write(data)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror}") from exc


def _ca_files(directory: Path) -> PkiFiles:
    return pki_files(directory, "ca")  # only the CA paths are used


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _subject(cert: x509.Certificate) -> str:
    try:
        return cert.subject.rfc4514_string()
    except ValueError:
        return "(unreadable subject)"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


__all__ = [
    "CA_VALID_DAYS", "DEFAULT_CA_NAME", "DEFAULT_SERVER_HOSTS", "LEAF_VALID_DAYS", "MEMBER_URI_PREFIX",
    "DevCA", "PkiFiles", "check_key_pair", "check_member_id", "fingerprint_sha256", "issue_client",
    "issue_member", "issue_principal", "issue_server", "load_certificate", "load_private_key", "member_id_from_cert",
    "pki_files", "read_pem", "verify_issued_by", "write_cert", "write_key",
]
