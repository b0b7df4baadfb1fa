"""Where the hub finds its broker, its state and its consortium, and how its services are tuned.

:class:`HubConfig` is the one reader of the environment. Precedence: command-line flags (handed
to :meth:`HubConfig.from_env` as overrides), then environment variables, then defaults.

========================  ===================================================
``HUB_KAFKA_BOOTSTRAP``   an external Kafka cluster (``host:port[,host:port]``)
``HUB_KAFKA_CONFIG``      a librdkafka properties file (``security.protocol``,
                          ``ssl.*``, ``sasl.*``) every Kafka client of the
                          process uses; default mutual TLS with the certificate
                          of the process's principal from ``HUB_PKI``
``HUB_PKI``               the consortium PKI directory (default ``$HUB_HOME/pki``)
``HUB_HOME``              state directory (default ``~/.cache/hub``): the Kafka
                          jars, the local broker's data, the dev consortium
``HUB_CONSORTIUM``        consortium directory (default ``$HUB_HOME/consortium``)
``HUB_NAMESPACE``         prefix of every topic name (default ``hub``)
``HUB_PARTITIONS``        ledger partitions P (default 1)
``HUB_REPLICATION``       replication factor of the hub's topics (default 1)
``HUB_MIN_ISR``           ``min.insync.replicas`` of the hub's topics (default 1)
========================  ===================================================

:class:`SequencerSettings` and :class:`ConnectorSettings` hold the services' tuning in one place,
with the defaults the ``hub sequencer run`` and ``hub connector run`` options show.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from hub.errors import ConfigError

#: the environment variables :meth:`HubConfig.from_env` reads, and the command-line flag of each
ENVIRONMENT = {
    "HUB_KAFKA_BOOTSTRAP": "--bootstrap",
    "HUB_KAFKA_CONFIG": None,
    "HUB_PKI": None,
    "HUB_HOME": "--home",
    "HUB_CONSORTIUM": "--consortium",
    "HUB_NAMESPACE": "--namespace",
    "HUB_PARTITIONS": "--partitions",
    "HUB_REPLICATION": None,
    "HUB_MIN_ISR": None,
}


def _int_env(environ: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    flag = ENVIRONMENT.get(name)
    also = f" (or {flag})" if flag else ""
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer: set {name}{also} to a whole number") from None
    if value < minimum:
        raise ConfigError(f"{name}={value} must be at least {minimum}")
    return value


def default_home(environ: Mapping[str, str] | None = None) -> Path:
    """``HUB_HOME``, else ``~/.cache/hub``."""
    env = os.environ if environ is None else environ
    return Path(env.get("HUB_HOME") or Path.home() / ".cache" / "hub")


@dataclass(frozen=True)
class HubConfig:
    """Settings shared by every hub process."""

    home: Path = field(default_factory=default_home)
    #: explicit bootstrap servers; ``None`` means "the local broker started by `hub kafka up`"
    bootstrap: str | None = None
    namespace: str = "hub"
    partitions: int = 1
    replication: int = 1
    min_insync_replicas: int = 1
    #: the consortium directory; ``None`` means ``home / "consortium"``
    consortium: Path | None = None
    #: a librdkafka properties file for every Kafka client (``HUB_KAFKA_CONFIG``); ``None`` means
    #: mutual TLS with the certificate of the process's principal from :attr:`pki_dir`
    kafka_config: Path | None = None
    #: the consortium PKI directory (``HUB_PKI``); ``None`` means ``home / "pki"``
    pki: Path | None = None

    def __post_init__(self) -> None:
        if not self.namespace or any(c not in _TOPIC_CHARS for c in self.namespace):
            raise ConfigError(f"namespace {self.namespace!r} may hold only letters, digits, '.', '_' and '-'")
        if self.partitions < 1:
            raise ConfigError(f"partitions ({self.partitions}) must be at least 1 (--partitions, HUB_PARTITIONS)")
        if self.replication < 1:
            raise ConfigError(f"the replication factor ({self.replication}) must be at least 1 (HUB_REPLICATION)")
        if self.min_insync_replicas > self.replication:
            raise ConfigError(
                f"min.insync.replicas ({self.min_insync_replicas}) cannot exceed "
                f"the replication factor ({self.replication})"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *, bootstrap: str | None = None,
                 namespace: str | None = None, home: Path | None = None, consortium: Path | None = None,
                 partitions: int | None = None) -> HubConfig:
        """The configuration from ``environ`` (default: this process's environment), each keyword
        given (a command-line flag) taking the place of its variable."""
        env = os.environ if environ is None else environ
        cfg = cls(
            home=home or default_home(env),
            bootstrap=bootstrap or env.get("HUB_KAFKA_BOOTSTRAP") or None,
            namespace=namespace if namespace is not None else (env.get("HUB_NAMESPACE") or "hub"),
            partitions=partitions if partitions is not None else _int_env(env, "HUB_PARTITIONS", 1),
            replication=_int_env(env, "HUB_REPLICATION", 1),
            min_insync_replicas=_int_env(env, "HUB_MIN_ISR", 1),
            consortium=consortium or (Path(env["HUB_CONSORTIUM"]) if env.get("HUB_CONSORTIUM") else None),
            kafka_config=Path(env["HUB_KAFKA_CONFIG"]) if env.get("HUB_KAFKA_CONFIG") else None,
            pki=Path(env["HUB_PKI"]) if env.get("HUB_PKI") else None,
        )
        return cfg

    def with_bootstrap(self, bootstrap: str) -> HubConfig:
        """The same configuration naming ``bootstrap`` explicitly (e.g. the broker just started)."""
        return replace(self, bootstrap=bootstrap)

    @property
    def consortium_dir(self) -> Path:
        """The development consortium: genesis membership and the members' keys."""
        return self.consortium or self.home / "consortium"

    @property
    def pki_dir(self) -> Path:
        """The consortium CA and the TLS certificates of the members and the hub's services (`hub pki`)."""
        return self.pki or self.home / "pki"

    @property
    def broker_dir(self) -> Path:
        """The local broker's data, log and state files (`hub kafka up`)."""
        return self.home / "broker"

    def connector_state_dir(self, member_id: str) -> Path:
        """Where the connector of ``member_id`` keeps its state across restarts (idempotency keys)."""
        return self.home / "connectors" / self.namespace / member_id


_TOPIC_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


@dataclass(frozen=True)
class SequencerSettings:
    """How a sequencer (``hub sequencer run``) batches, checkpoints and reads ahead.

    hub.sequencer.runner takes these instead of constructor defaults and module constants."""

    #: most inbound records per Kafka transaction
    batch_size: int = 500
    #: seconds between signed checkpoints (when the tree grew)
    checkpoint_period: float = 1.0
    #: sign a checkpoint after this many new entries even before the period ends
    checkpoint_entries: int = 10_000
    #: processes verifying the next batch's signatures while this one commits (0: in the main process)
    workers: int = 2
    #: seconds a poll of the inbound consumer waits for records
    poll_timeout: float = 0.05
    #: at most how often the consumed inbound position is committed for lag monitoring, seconds
    lag_commit_every: float = 1.0
    #: inbound the consumer reads ahead, KiB (docs/design-notes.md: why only 4 MiB)
    prefetch_kib: int = 4 * 1024
    #: inbound one fetch brings, at most, KiB
    fetch_kib: int = 128

    def __post_init__(self) -> None:
        _within("--batch-size", self.batch_size, 1, 10_000)
        if not self.checkpoint_period >= 0.01:
            raise ConfigError(f"--checkpoint-period {self.checkpoint_period} must be at least 0.01 seconds")
        _within("--checkpoint-entries", self.checkpoint_entries, 1, None)
        _within("--workers", self.workers, 0, 64)
        if not self.poll_timeout > 0:
            raise ConfigError(f"the sequencer's poll timeout ({self.poll_timeout}) must be positive")
        _within("the sequencer's prefetch (KiB)", self.prefetch_kib, 1, None)
        _within("the sequencer's fetch size (KiB)", self.fetch_kib, 1, None)

    @property
    def checkpoint_period_us(self) -> int:
        """:attr:`checkpoint_period` in microseconds (what CheckpointPolicy takes)."""
        return int(self.checkpoint_period * 1e6)


@dataclass(frozen=True)
class ConnectorSettings:
    """How an agency's connector (``hub connector run``) listens and bounds its work.

    hub.connector.service takes these instead of its module constants."""

    #: host:port to serve gRPC on (port 0: any free port)
    listen: str = "127.0.0.1:50051"
    #: verifiers (``hub verifier run``) GetReceipt fetches proofs from, one per ledger partition
    verifier_urls: tuple[str, ...] = ()
    #: serve without TLS (local development only); otherwise mTLS with the member's certificates
    plaintext: bool = False
    #: idempotency keys remembered (the oldest are forgotten first)
    idempotency_keys: int = 100_000
    #: results a PublishStream may hold before it stops reading requests (gRPC flow control)
    stream_inflight: int = 10_000
    #: how long the stream producer waits to fill a batch, ms (the unary Publish keeps 2 ms)
    stream_linger_ms: int = 20
    #: requests a PublishBatches frame may hold
    max_batch: int = 1_000

    def __post_init__(self) -> None:
        host, _, port = self.listen.rpartition(":")
        if not host or not port.isdigit():
            raise ConfigError(f"--listen {self.listen!r} is not host:port")
        for url in self.verifier_urls:
            if not url.startswith(("http://", "https://")):
                raise ConfigError(f"--verifier {url!r} is not an http(s) URL")
        _within("the connector's idempotency keys", self.idempotency_keys, 1, None)
        _within("the connector's stream in-flight limit", self.stream_inflight, 1, None)
        _within("the connector's stream linger (ms)", self.stream_linger_ms, 0, None)
        _within("the connector's batch limit", self.max_batch, 1, None)


def _within(name: str, value: int, low: int, high: int | None) -> None:
    if high is None and value < low:
        raise ConfigError(f"{name} {value} must be at least {low}")
    if high is not None and not low <= value <= high:
        raise ConfigError(f"{name} {value} is outside {low}..{high}")
