"""The Kafka client properties a principal's own tools need (``hub kafka client-config``).

A member's engineer inspects its own outbox with standard tools (kcat, confluent-kafka, the Java
client) as its own principal: the same certificate from the consortium PKI its connector presents.
Two formats, each with the resolved ``bootstrap.servers`` (kcat ``-F`` reads it):

* ``librdkafka`` (kcat ``-F``, confluent-kafka, librdkafka's other bindings): ``security.protocol=ssl``
  and the PEM files by path (``ssl.ca.location``, ``ssl.certificate.location``, ``ssl.key.location``);
* ``java`` (the Java client's ``--command-config`` / ``--consumer.config``): ``security.protocol=SSL``
  with PEM stores, the key store being one file holding the private key then the certificate, as
  Kafka's PEM key store expects (:func:`keystore_pem`, written by :func:`write_keystore` beside
  the client certificate, readable by its owner only).

When ``HUB_KAFKA_CONFIG`` names a properties file, the hub's clients use that file rather than the
PKI, and so do these: :func:`from_settings` gives its settings with the bootstrap (for ``java``,
translated key by key; a key with no Java counterpart here is a ConfigError naming it).

The functions building properties are pure (paths and strings in, a dict or text out); only
:func:`pki_client_files` (which files exist) and :func:`write_keystore` touch the file system.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from hub.consortium.pki import pki_files, read_pem, write_key
from hub.errors import ConfigError
from hub.kafka.security import OPERATOR, SERVICES

#: the file beside a principal's client certificate that holds its Java PEM key store
KEYSTORE_NAME = "client-keystore.pem"


class Format(StrEnum):
    LIBRDKAFKA = "librdkafka"
    JAVA = "java"


@dataclass(frozen=True)
class ClientFiles:
    """A principal's PEM files, by absolute path: the consortium CA, its certificate and its key."""

    ca: Path
    cert: Path
    key: Path

    @property
    def keystore(self) -> Path:
        """Where its Java PEM key store (key, then certificate) goes: beside the certificate."""
        return keystore_for(self.cert)


def pki_client_files(pki_dir: Path, principal: str) -> ClientFiles:
    """The principal's files in the PKI directory's layout, made absolute; a ConfigError naming the
    first that is missing and the command that issues it."""
    layout = pki_files(pki_dir.resolve(), principal)  # a ConfigError for a name that cannot be a directory
    files = ClientFiles(layout.ca_cert, layout.client_cert, layout.client_key)
    issue = (f"`hub pki issue --principal {principal}`" if principal == OPERATOR or principal in SERVICES
             else f"`hub pki issue --member {principal}`")
    for path, what in ((files.ca, "the consortium CA certificate"), (files.cert, f"{principal}'s Kafka client certificate"),
                       (files.key, f"{principal}'s Kafka client key")):
        if not path.is_file():
            how = "`hub pki init`" if path == files.ca else issue
            raise ConfigError(f"{what} is not at {path}: create it with {how}")
    return files


def has_certificate(pki_dir: Path, principal: str) -> bool:
    """Whether the PKI directory holds the principal's CA, certificate and key."""
    try:
        pki_client_files(pki_dir, principal)
    except ConfigError:
        return False
    return True


def librdkafka(files: ClientFiles, bootstrap: str) -> dict[str, str]:
    """librdkafka's settings for mutual TLS with ``files`` (kcat ``-F``, confluent-kafka)."""
    return {
        "bootstrap.servers": bootstrap,
        "security.protocol": "ssl",
        "ssl.ca.location": str(files.ca),
        "ssl.certificate.location": str(files.cert),
        "ssl.key.location": str(files.key),
        "ssl.endpoint.identification.algorithm": "https",
    }


def java(files: ClientFiles, bootstrap: str) -> dict[str, str]:
    """The Java client's settings for mutual TLS with ``files`` (its key store at ``files.keystore``)."""
    return {
        "bootstrap.servers": bootstrap,
        "security.protocol": "SSL",
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(files.keystore),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(files.ca),
        "ssl.endpoint.identification.algorithm": "https",
    }


def for_pki(fmt: Format, files: ClientFiles, bootstrap: str) -> dict[str, str]:
    """The settings of ``fmt`` for mutual TLS with a principal's PKI files."""
    return librdkafka(files, bootstrap) if fmt is Format.LIBRDKAFKA else java(files, bootstrap)


#: librdkafka keys whose value the Java client takes under the same name, unchanged
_SAME = ("ssl.key.password", "client.id")
#: librdkafka's SASL mechanisms the Java client logs in to with a user name and password
_LOGIN_MODULES = {
    "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
    "SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule",
}


def from_settings(fmt: Format, settings: Mapping[str, str], bootstrap: str, source: str) -> dict[str, str]:
    """A properties file's librdkafka settings (``HUB_KAFKA_CONFIG``) in ``fmt``, with the bootstrap.

    For ``java``, each key is translated (security.protocol, the PEM locations, SASL PLAIN and
    SCRAM with a user name and password); any other key is a ConfigError naming it and ``source``.
    The key store, if the file names a certificate, is :func:`keystore_for` of it."""
    if fmt is Format.LIBRDKAFKA:
        return {"bootstrap.servers": bootstrap, **settings}
    props = {"bootstrap.servers": bootstrap}
    rest = dict(settings)
    if "security.protocol" in rest:
        props["security.protocol"] = rest.pop("security.protocol").upper()
    if "ssl.ca.location" in rest:
        props |= {"ssl.truststore.type": "PEM", "ssl.truststore.location": rest.pop("ssl.ca.location")}
    if "ssl.certificate.location" in rest and "ssl.key.location" in rest:
        rest.pop("ssl.key.location")
        props |= {"ssl.keystore.type": "PEM",
                  "ssl.keystore.location": str(keystore_for(Path(rest.pop("ssl.certificate.location"))))}
    if "ssl.endpoint.identification.algorithm" in rest:
        value = rest.pop("ssl.endpoint.identification.algorithm")
        props["ssl.endpoint.identification.algorithm"] = "" if value.lower() == "none" else value
    mechanism = rest.pop("sasl.mechanisms", None) or rest.pop("sasl.mechanism", None)
    if mechanism is not None:
        props["sasl.mechanism"] = mechanism
        module = _LOGIN_MODULES.get(mechanism.upper())
        if module is not None and "sasl.username" in rest and "sasl.password" in rest:
            user, password = (_jaas_quote(rest.pop(k)) for k in ("sasl.username", "sasl.password"))
            props["sasl.jaas.config"] = f'{module} required username="{user}" password="{password}";'
    props |= {k: rest.pop(k) for k in _SAME if k in rest}
    if rest:
        raise ConfigError(f"{source}: no Java client translation for {', '.join(sorted(rest))}: write the Java "
                          "client's properties by hand, or use --format librdkafka")
    return props


def _jaas_quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def keystore_for(cert: Path) -> Path:
    """The Java PEM key store beside the certificate ``cert``."""
    return cert.parent / KEYSTORE_NAME


def keystore_pem(key_pem: bytes, cert_pem: bytes) -> bytes:
    """One PEM key store as Kafka's ``ssl.keystore.type=PEM`` reads it: the private key, then the
    certificate (chain); a ConfigError unless each holds what it should."""
    if b"PRIVATE KEY-----" not in key_pem:
        raise ConfigError("the client key file holds no PEM private key")
    if b"-----BEGIN CERTIFICATE-----" not in cert_pem:
        raise ConfigError("the client certificate file holds no PEM certificate")
    return key_pem.rstrip(b"\n") + b"\n" + cert_pem.rstrip(b"\n") + b"\n"


def write_keystore(cert: Path, key: Path) -> Path:
    """Write the Java PEM key store of ``cert`` and ``key`` beside ``cert`` (mode 0600); its path."""
    path = keystore_for(cert)
    write_key(path, keystore_pem(read_pem(key), read_pem(cert)))
    return path


def render(fmt: Format, props: Mapping[str, str], header: tuple[str, ...] = ()) -> str:
    """A properties file: ``#`` comment lines, then ``key=value`` lines in the order given. For
    ``java``, a backslash in a value is doubled (``java.util.Properties`` reads it as an escape);
    librdkafka's readers take values as written."""
    def value(v: str) -> str:
        return v.replace("\\", "\\\\") if fmt is Format.JAVA else v

    lines = [f"# {h}" for h in header] + [f"{k}={value(v)}" for k, v in props.items()]
    return "\n".join(lines) + "\n"


def write_properties(path: Path, text: str) -> None:
    """Write a properties file readable by its owner only (0600): it may hold a SASL password."""
    write_key(path, text.encode("utf-8"))
