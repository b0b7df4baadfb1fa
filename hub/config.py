"""Where the hub finds its broker, its state and its consortium.

Precedence: command-line flags, then environment variables, then defaults.

========================  ===================================================
``HUB_KAFKA_BOOTSTRAP``   an external Kafka cluster (``host:port[,host:port]``)
``HUB_HOME``              state directory (default ``~/.cache/hub``): the Kafka
                          jars, the local broker's data, the dev consortium
``HUB_CONSORTIUM``        consortium directory (default ``$HUB_HOME/consortium``)
``HUB_NAMESPACE``         prefix of every topic name (default ``hub``)
``HUB_PARTITIONS``        ledger partitions P (default 1)
``HUB_REPLICATION``       replication factor of the hub's topics (default 1)
``HUB_MIN_ISR``           ``min.insync.replicas`` of the hub's topics (default 1)
========================  ===================================================
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from hub.errors import ConfigError


def _int_env(name: str, default: int, minimum: int = 1) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer") from None
    if value < minimum:
        raise ConfigError(f"{name}={value} must be at least {minimum}")
    return value


def default_home() -> Path:
    return Path(os.environ.get("HUB_HOME") or Path.home() / ".cache" / "hub")


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

    def __post_init__(self) -> None:
        if not self.namespace or any(c not in _TOPIC_CHARS for c in self.namespace):
            raise ConfigError(f"namespace {self.namespace!r} may hold only letters, digits, '.', '_' and '-'")
        if self.partitions < 1:
            raise ConfigError("partitions must be at least 1")
        if self.min_insync_replicas > self.replication:
            raise ConfigError(
                f"min.insync.replicas ({self.min_insync_replicas}) cannot exceed "
                f"the replication factor ({self.replication})"
            )

    @classmethod
    def from_env(cls, **overrides: object) -> HubConfig:
        cfg = cls(
            home=default_home(),
            bootstrap=os.environ.get("HUB_KAFKA_BOOTSTRAP") or None,
            namespace=os.environ.get("HUB_NAMESPACE") or "hub",
            partitions=_int_env("HUB_PARTITIONS", 1),
            replication=_int_env("HUB_REPLICATION", 1),
            min_insync_replicas=_int_env("HUB_MIN_ISR", 1),
            consortium=Path(os.environ["HUB_CONSORTIUM"]) if os.environ.get("HUB_CONSORTIUM") else None,
        )
        given = {k: v for k, v in overrides.items() if v is not None}
        return replace(cfg, **given) if given else cfg  # type: ignore[arg-type]

    @property
    def consortium_dir(self) -> Path:
        """The development consortium: genesis membership and the members' keys."""
        return self.consortium or self.home / "consortium"

    @property
    def pki_dir(self) -> Path:
        """The development CA and the members' TLS certificates (`hub pki`)."""
        return self.home / "pki"

    @property
    def broker_dir(self) -> Path:
        return self.home / "broker"

    def resolve_bootstrap(self) -> str:
        """The bootstrap servers to use: explicit, else the local broker's, else a clear error."""
        if self.bootstrap:
            return self.bootstrap
        from hub.kafka.local import LocalBroker  # the edge: reads the local broker's state file

        found = LocalBroker(self.broker_dir).running_bootstrap()
        if found is None:
            raise ConfigError(
                "no Kafka broker configured: run `hub kafka up` or set HUB_KAFKA_BOOTSTRAP=host:port"
            )
        return found


_TOPIC_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
