"""Every topic of the hub: names and configs in one place, created with the AdminClient.

The ledger, the rejections and the checkpoints never delete or compact: they are
evidence. Unclean leader election is off everywhere, and ``min.insync.replicas`` comes
from configuration (``HUB_MIN_ISR``), so with ``acks=all`` a write is on that many
replicas before anyone reads it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic  # type: ignore[attr-defined]  # re-exported at runtime

from hub.config import HubConfig
from hub.errors import ConfigError, KafkaOperationError
from hub.kafka.clients import admin_client, translate

log = logging.getLogger(__name__)

#: inbound and outbox records are operational copies: kept 30 days by default
OPERATIONAL_RETENTION_MS = 30 * 24 * 3600 * 1000

#: header naming what an outbox or ledger record holds: ``entry`` (a ledger entry) or ``receipt``
KIND_HEADER = "hub-kind"
#: header of the last ledger record of each transaction: the Merkle frontier after it
FRONTIER_HEADER = "hub-frontier"
#: on an inbound record: the latest time its sender's connector lets it be notarised, as decimal
#: microseconds since the epoch (ASCII). Publish sets it to just before its caller's deadline, so a
#: record Kafka delivers after the caller was answered DEADLINE_EXCEEDED or UNAVAILABLE is refused
#: as EXPIRED instead of reaching the ledger (docs/partners.md, "What a failed Publish means").
DELIVER_BY_HEADER = "hub-deliver-by"
#: on an inbound record of an envelope v2: its key capsule (hub.standard.sealing.KeyCapsule), which
#: the sequencer moves to the keys topic with the ledger entry and never copies to the ledger
KEYS_HEADER = "hub-keys"
#: the keys topic is compacted: an erasure's tombstone removes a capsule for good once the segment
#: holding it rolls (at most this long) and the cleaner runs; tombstones themselves go after a day
KEYS_SEGMENT_MS = 3600 * 1000
KEYS_TOMBSTONE_RETENTION_MS = 24 * 3600 * 1000


def deliver_by_value(raw: bytes | None) -> int | None:
    """A ``hub-deliver-by`` header's time (None when absent or not a decimal number)."""
    if raw is None or not raw.isdigit() or len(raw) > 19:
        return None
    return int(raw)


@dataclass(frozen=True)
class Topics:
    """Topic names of one hub namespace."""

    namespace: str = "hub"

    @property
    def inbound(self) -> str:
        return f"{self.namespace}.inbound"

    @property
    def ledger(self) -> str:
        return f"{self.namespace}.ledger"

    @property
    def rejected(self) -> str:
        return f"{self.namespace}.rejected"

    @property
    def checkpoints(self) -> str:
        return f"{self.namespace}.checkpoints"

    @property
    def membership(self) -> str:
        """The membership log: signed, quorum-approved updates after the genesis (one partition)."""
        return f"{self.namespace}.membership"

    @property
    def credentials(self) -> str:
        """The credential register: a copy of every ledger entry of a lawyer credential type, written
        in the sequencer's transaction (P partitions, kept as long as the ledger)."""
        return f"{self.namespace}.credentials"

    @property
    def keys(self) -> str:
        """The key capsules of envelope v2 payloads, keyed by message id, compacted: destroying one
        (a tombstone, by an approved erasure) makes that payload unreadable for good."""
        return f"{self.namespace}.keys"

    def outbox(self, member_id: str) -> str:
        return f"{self.namespace}.outbox.{member_id}"


@dataclass(frozen=True)
class TopicSpec:
    """A topic the hub needs: its name, partition count and configuration."""

    name: str
    partitions: int
    config: dict[str, str]


def _evidence(cfg: HubConfig) -> dict[str, str]:
    return {
        "retention.ms": "-1",
        "retention.bytes": "-1",
        "cleanup.policy": "delete",
        "unclean.leader.election.enable": "false",
        "min.insync.replicas": str(cfg.min_insync_replicas),
    }


def _operational(cfg: HubConfig) -> dict[str, str]:
    return {**_evidence(cfg), "retention.ms": str(OPERATIONAL_RETENTION_MS)}


def _shreddable(cfg: HubConfig) -> dict[str, str]:
    return {
        "cleanup.policy": "compact",
        "retention.ms": "-1",
        "segment.ms": str(KEYS_SEGMENT_MS),
        "min.cleanable.dirty.ratio": "0.01",
        "delete.retention.ms": str(KEYS_TOMBSTONE_RETENTION_MS),
        "unclean.leader.election.enable": "false",
        "min.insync.replicas": str(cfg.min_insync_replicas),
    }


def topic_specs(cfg: HubConfig, member_ids: list[str]) -> list[TopicSpec]:
    """The hub's topics: inbound, ledger, rejections, checkpoints, the credential register and the
    keys with P partitions each, the membership log, one outbox per member."""
    t = Topics(cfg.namespace)
    p = cfg.partitions
    specs = [
        TopicSpec(t.inbound, p, _operational(cfg)),
        TopicSpec(t.ledger, p, _evidence(cfg)),
        TopicSpec(t.rejected, p, _evidence(cfg)),
        TopicSpec(t.checkpoints, p, _evidence(cfg)),
        TopicSpec(t.membership, 1, _evidence(cfg)),
        TopicSpec(t.credentials, p, _evidence(cfg)),
        TopicSpec(t.keys, p, _shreddable(cfg)),
    ]
    for member in sorted(member_ids):
        specs.append(TopicSpec(t.outbox(member), 1, _operational(cfg)))
    return specs


def ensure_topics(bootstrap: str, cfg: HubConfig, specs: list[TopicSpec], timeout: float = 30.0) -> list[str]:
    """Create the missing topics; check existing ones have the partitions expected. Returns created names."""
    admin = admin_client(bootstrap)
    try:
        existing = admin.list_topics(timeout=timeout).topics
    except KafkaException as exc:
        raise translate(exc, "listing topics", bootstrap) from exc
    missing = [s for s in specs if s.name not in existing]
    for s in specs:
        if s.name in existing and len(existing[s.name].partitions) != s.partitions:
            raise ConfigError(
                f"topic {s.name} has {len(existing[s.name].partitions)} partitions, "
                f"the configuration says {s.partitions}"
            )
    created = []
    if missing:
        futures = admin.create_topics(
            [NewTopic(s.name, s.partitions, cfg.replication, config=s.config) for s in missing],
            operation_timeout=timeout, request_timeout=timeout,
        )
        for name, fut in futures.items():
            try:
                fut.result()
                created.append(name)
            except KafkaException as exc:
                if exc.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS:
                    continue
                raise translate(exc, f"creating topic {name}", bootstrap) from exc
        _await_metadata(admin, [s.name for s in missing], timeout)
    return created


def _await_metadata(admin: AdminClient, names: list[str], timeout: float) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        md = admin.list_topics(timeout=timeout)
        ready = all(
            n in md.topics and md.topics[n].error is None
            and all(p.leader >= 0 for p in md.topics[n].partitions.values())
            for n in names
        )
        if ready:
            return
        time.sleep(0.1)
    raise KafkaOperationError(f"topics {', '.join(names)} were created but have no leader after {timeout:.0f}s")


def describe_configs(bootstrap: str, name: str, timeout: float = 10.0) -> dict[str, str]:
    """A topic's effective configuration (for operators and tests)."""
    admin = admin_client(bootstrap)
    res = ConfigResource(ConfigResource.Type.TOPIC, name)
    try:
        entries = admin.describe_configs([res], request_timeout=timeout)[res].result()
    except KafkaException as exc:
        raise translate(exc, f"describing topic {name}", bootstrap) from exc
    return {k: v.value for k, v in entries.items()}
