"""The local broker's TLS: its certificate, its trust, and the hub's own principals' certificates.

``hub kafka up`` runs the broker with one client listener, SSL with client certificates required,
and the controller listener on SSL too; nothing listens in plaintext. Both trust the consortium CA
of the PKI directory (created if it is missing: a first ``hub kafka up`` on a new machine works),
and the broker presents a certificate of its own (principal :data:`~hub.kafka.security.BROKER`,
serverAuth and clientAuth, as it also dials its own controller) kept in ``<broker>/tls/`` as one
PEM key store (key, then certificate), which Kafka reads directly (``ssl.keystore.type=PEM``).

The operator's and the hub's services' client certificates are issued into the PKI directory if
missing; the agencies' come from ``hub pki issue`` (the demo and the tests issue them).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from hub.consortium.pki import (
    DevCA,
    issue_principal,
    issue_server,
    pki_files,
    read_pem,
    verify_issued_by,
    write_key,
)
from hub.errors import HubError
from hub.kafka.security import BROKER, OPERATOR, PRINCIPAL_MAPPING_RULES, SERVICES

#: the names on the certificates of the hub's own principals
_NAMES = {OPERATOR: "judicial hub operator", "hub-sequencer": "judicial hub sequencer",
          "hub-verifier": "judicial hub verifier", "hub-auditor": "judicial hub auditor"}


@dataclass(frozen=True)
class BrokerTls:
    """The files the local broker's TLS settings name."""

    keystore: Path
    truststore: Path

    def properties(self) -> dict[str, str]:
        """The broker's settings for its SSL listeners, authorizer and principals."""
        return {
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(self.keystore),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(self.truststore),
            "ssl.client.auth": "required",
            "ssl.endpoint.identification.algorithm": "https",
            "ssl.principal.mapping.rules": PRINCIPAL_MAPPING_RULES,
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "allow.everyone.if.no.acl.found": "false",
            "super.users": f"User:{OPERATOR};User:{BROKER}",
        }


def load_or_create_ca(pki_dir: Path) -> DevCA:
    """The consortium CA of ``pki_dir``, created there first if there is none."""
    if pki_files(pki_dir, "ca").ca_cert.exists():
        return DevCA.load(pki_dir)
    return DevCA.create(pki_dir)


def issue_hub_principals(ca: DevCA, pki_dir: Path) -> None:
    """Issue the operator's and each service's client certificate unless a current one is there
    (issued by this CA)."""
    for principal in (OPERATOR, *SERVICES):
        files = pki_files(pki_dir, principal)
        if not _issued_by(files.client_cert, ca) or not files.client_key.exists():
            issue_principal(ca, pki_dir, principal, _NAMES.get(principal, principal))


def prepare(pki_dir: Path, tls_dir: Path, hosts: tuple[str, ...]) -> BrokerTls:
    """The broker's key store and trust store in ``tls_dir`` (a new broker certificate when the CA
    changed or none exists), and the hub's principals' certificates in ``pki_dir``."""
    ca = load_or_create_ca(pki_dir)
    issue_hub_principals(ca, pki_dir)
    keystore, truststore = tls_dir / "broker-keystore.pem", tls_dir / "ca.pem"
    if not _issued_by(keystore, ca):
        cert, key = issue_server(ca, hosts, common_name=BROKER, client_auth=True)
        write_key(keystore, key + cert)
    tls_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(pki_files(pki_dir, "ca").ca_cert, truststore)
    return BrokerTls(keystore, truststore)


def _issued_by(cert_file: Path, ca: DevCA) -> bool:
    """Whether ``cert_file`` holds a certificate issued by ``ca`` (False when missing or not)."""
    if not cert_file.exists():
        return False
    try:
        verify_issued_by(read_pem(cert_file), ca.cert)
    except HubError:
        return False
    return True


__all__ = ["BrokerTls", "issue_hub_principals", "load_or_create_ca", "prepare"]
