"""Who a hub process is to Kafka, and how it proves it.

Every Kafka client of a process speaks as one **principal**: an agency's connector as its member
id, the hub's services as their service identities (:data:`SEQUENCER`, :data:`VERIFIER`,
:data:`AUDITOR`) and the operator's commands (``hub kafka``, ``hub topics``, governance, the demo)
as :data:`OPERATOR`, the one super user. The broker learns the principal from the client's
certificate: the consortium CA (``hub pki``) issues each principal a certificate whose subject CN
is its name, and the broker maps the subject DN to that name (:data:`PRINCIPAL_MAPPING_RULES`).

One configuration path (:func:`resolve`):

* ``HUB_KAFKA_CONFIG`` names a librdkafka properties file (``security.protocol``, ``ssl.*``,
  ``sasl.*``), used as written for every client of the process: an external cluster with SASL/SCRAM,
  OAUTHBEARER or its own certificates needs no code;
* otherwise the client speaks mutual TLS with the principal's certificate from the PKI directory
  (``HUB_PKI``, default ``$HUB_HOME/pki``): what the local broker of ``hub kafka up`` expects.

The composition root (the ``hub`` command) calls :func:`use` once per process with the principal of
the command it runs; :mod:`hub.kafka.clients` adds :func:`current` to every client's settings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from hub.errors import ConfigError

#: the operator: the local broker's one super user (topics, ACLs, governance, the demo)
OPERATOR = "hub-operator"
#: the sequencers of every ledger partition (the same name as the sequencer's member id)
SEQUENCER = "hub-sequencer"
#: the verifiers (proofs and lookups for anyone)
VERIFIER = "hub-verifier"
#: the auditor's replays (``hub audit``, ``hub proof``)
AUDITOR = "hub-auditor"
#: the local broker itself (its own connections between its listeners)
BROKER = "hub-broker"
#: the hub's own services, each with its certificate and its ACLs
SERVICES: tuple[str, ...] = (SEQUENCER, VERIFIER, AUDITOR)

#: how the local broker names a client from its certificate's subject DN (RFC 2253, most specific
#: RDN first, e.g. ``O=中国工商银行北京分行,CN=bank-icbc-bj``): the value of its CN
PRINCIPAL_MAPPING_RULES = r"RULE:^(?:.*,)?CN=([^,]+)(?:,.*)?$/$1/,DEFAULT"

_KEY = re.compile(r"[A-Za-z0-9._-]+")


@dataclass(frozen=True)
class ClientSecurity:
    """The librdkafka settings with which one principal's clients authenticate."""

    principal: str
    settings: Mapping[str, str] = field(default_factory=dict)
    #: where the settings came from, for messages (a file, or the PKI directory)
    source: str = ""

    @property
    def protocol(self) -> str:
        return self.settings.get("security.protocol", "plaintext").lower()


def mtls(pki_dir: Path, principal: str) -> ClientSecurity:
    """Mutual TLS as ``principal`` with its certificate from the PKI directory's layout
    (``<principal>/client.pem``, ``client-key.pem``, the CA's ``ca.pem``); a ConfigError naming
    what is missing and how to issue it."""
    ca = pki_dir / "ca.pem"
    cert = pki_dir / principal / "client.pem"
    key = pki_dir / principal / "client-key.pem"
    for path, what in ((ca, "the consortium CA certificate"), (cert, f"{principal}'s Kafka client certificate"),
                       (key, f"{principal}'s Kafka client key")):
        if not path.is_file():
            flag = "--principal" if principal in (OPERATOR, *SERVICES) else "--member"
            issue = "`hub pki init`" if path == ca else f"`hub pki issue {flag} {principal}`"
            raise ConfigError(f"{what} is not at {path}: create it with {issue}, or set HUB_KAFKA_CONFIG "
                              "to a librdkafka properties file for your cluster")
    return ClientSecurity(principal, MappingProxyType({
        "security.protocol": "ssl",
        "ssl.ca.location": str(ca),
        "ssl.certificate.location": str(cert),
        "ssl.key.location": str(key),
        # the broker's certificate must name the host dialled (librdkafka's default, said aloud)
        "ssl.endpoint.identification.algorithm": "https",
    }), f"{pki_dir} ({principal})")


def read_properties(path: Path) -> dict[str, str]:
    """A properties file as librdkafka and Java clients write them: ``key=value`` (or ``key: value``)
    per line, ``#`` and ``!`` comments. A ConfigError naming the file and line otherwise."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the Kafka client properties {path}: {exc.strerror or exc}") from None
    props: dict[str, str] = {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#!":
            continue
        m = re.match(r"([^=:\s]+)\s*[=:]\s*(.*)$", line)
        if m is None or not _KEY.fullmatch(m.group(1)):
            raise ConfigError(f"{path}:{n}: not a `key=value` line: {line[:60]!r}")
        props[m.group(1)] = m.group(2).strip()
    if "bootstrap.servers" in props:
        raise ConfigError(f"{path}: bootstrap.servers belongs in HUB_KAFKA_BOOTSTRAP (or --bootstrap), not here")
    return props


def from_file(path: Path, principal: str) -> ClientSecurity:
    """The settings of a properties file (``HUB_KAFKA_CONFIG``), used as written."""
    return ClientSecurity(principal, MappingProxyType(read_properties(path)), str(path))


def resolve(kafka_config: Path | None, pki_dir: Path, principal: str) -> ClientSecurity:
    """The process's client security: the properties file if one is named, else mutual TLS with the
    principal's certificate from ``pki_dir``."""
    if kafka_config is not None:
        return from_file(kafka_config, principal)
    return mtls(pki_dir, principal)


_current = ClientSecurity("", MappingProxyType({}), "nothing configured")


def use(security: ClientSecurity) -> None:
    """Make ``security`` the settings of every Kafka client this process opens from now on."""
    global _current  # one identity per process, set by the composition root
    _current = security


def current() -> ClientSecurity:
    """The settings :func:`use` installed (plaintext and no principal if none was)."""
    return _current
