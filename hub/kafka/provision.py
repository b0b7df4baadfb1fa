"""Find or start a real Apache Kafka, in this order:

1. an external cluster, named by the caller (``HubConfig.bootstrap``: ``HUB_KAFKA_BOOTSTRAP`` or
   ``--bootstrap``);
2. testcontainers' Kafka module, when a Docker engine answers and a plaintext broker was asked for
   (its module runs plaintext listeners only);
3. the local single-node KRaft broker from Maven Central jars (:mod:`hub.kafka.local`), secure
   (mutual TLS, ACLs) unless a plaintext development broker was asked for.

If none is possible, one line says what to install.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hub.errors import HubError, ToolMissingError
from hub.kafka.clients import wait_ready
from hub.kafka.local import LocalBroker

log = logging.getLogger(__name__)

KAFKA_IMAGE = "apache/kafka:4.1.1"


@dataclass
class Broker:
    """A running broker and how to undo what started it."""

    bootstrap: str
    kind: str  # "external", "container" or "local"
    stop: Callable[[], None]
    detail: str = ""
    pid: int | None = None  # the local broker's process (its CPU is what `make bench` reports)
    #: the consortium PKI a secure local broker trusts (None: external, or plaintext)
    pki_dir: Path | None = None


def docker_engine_answers() -> bool:
    """True when a Docker engine answers a ping (not merely a `docker` client on PATH)."""
    try:
        import docker  # installed with testcontainers
    except ImportError:
        return False
    try:
        client = docker.from_env(timeout=3)
        return bool(client.ping())
    except Exception:  # noqa: BLE001 - the docker SDK raises many kinds when no engine is there
        return False


def start_container() -> Broker:
    from testcontainers.kafka import KafkaContainer

    container = KafkaContainer(KAFKA_IMAGE).with_kraft()
    container.with_env("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1")
    container.with_env("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1")
    container.with_env("KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS", "0")
    container.start()
    bootstrap = container.get_bootstrap_server()
    wait_ready(bootstrap, timeout=60)
    return Broker(bootstrap, "container", container.stop, f"container {container.get_wrapped_container().id[:12]}")


def provision(home: Path, broker_dir: Path, *, pki_dir: Path | None, bootstrap: str | None = None,
              port: int | None = None, use_docker: bool = True) -> Broker:
    """A running broker, found or started; ``stop`` undoes only what this call started.

    ``bootstrap`` names an external cluster (used as it is, once it answers); without it, the local
    broker in ``broker_dir`` with the jars cached under ``home``, trusting the consortium CA of
    ``pki_dir``; ``pki_dir=None`` asks for a plaintext development broker: a testcontainer when
    ``use_docker`` and a Docker engine answers, else the local broker in plaintext."""
    if bootstrap:
        wait_ready(bootstrap, timeout=15)
        return Broker(bootstrap, "external", lambda: None, "configured (HUB_KAFKA_BOOTSTRAP or --bootstrap)")
    if pki_dir is None and use_docker and docker_engine_answers():
        log.info("a Docker engine answers: starting Kafka with testcontainers")
        return start_container()
    local = LocalBroker(broker_dir, pki_dir=pki_dir)
    already = local.running_bootstrap()
    try:
        bootstrap = local.start(home, port=port)
    except ToolMissingError as exc:
        raise ToolMissingError(
            f"no Kafka available: set HUB_KAFKA_BOOTSTRAP, start a Docker engine, or {exc.diagnostics()}"
        ) from exc
    if already:
        return Broker(bootstrap, "local", lambda: None, f"already running, {broker_dir}", local.pid(), pki_dir)
    kind = "mutual TLS" if pki_dir is not None else "PLAINTEXT, development only"
    return Broker(bootstrap, "local", lambda: _stop_quietly(local), f"{kind}, {broker_dir}, log {local.log_file}",
                  local.pid(), pki_dir)


def _stop_quietly(local: LocalBroker) -> None:
    try:
        local.stop()
    except (OSError, HubError) as exc:
        log.warning("stopping the local broker: %s", exc)
