"""One real Kafka broker per test session, and helpers to run real `hub` processes.

The broker comes from hub.kafka.provision, the same code as `hub kafka up`: an external
cluster (HUB_KAFKA_BOOTSTRAP, with HUB_KAFKA_CONFIG for its security), else the secure local
KRaft broker from Maven Central jars on free ports in a temporary directory: mutual TLS with the
session's consortium CA, ACLs from each module's membership. The test process itself speaks as the
operator (the super user); every `hub` process it starts speaks as its own principal.
Each test module gets its own topic namespace and consortium, so tests never share data.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest

from connectors import dev_members
from hub.config import HubConfig
from hub.consortium.membership import Membership
from hub.consortium.pki import DevCA, issue_member, pki_files
from hub.dev.consortium import init_dev
from hub.kafka import security
from hub.kafka.acls import apply_acls
from hub.kafka.provision import Broker, provision
from hub.kafka.topics import ensure_topics, topic_specs
from hub.v1 import connector_pb2_grpc as pb_grpc


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    cfg = HubConfig.from_env()  # HUB_KAFKA_BOOTSTRAP names an external cluster, as for `hub kafka up`
    pki = cfg.pki if cfg.bootstrap else tmp_path_factory.mktemp("pki")
    b = provision(cfg.home, tmp_path_factory.mktemp("broker"), pki_dir=pki, bootstrap=cfg.bootstrap, port=None)
    security.use(security.resolve(cfg.kafka_config, b.pki_dir or cfg.pki_dir, security.OPERATOR))
    yield b
    b.stop()


@dataclass
class Hub:
    """A hub namespace on the session broker with its own consortium and child processes."""

    bootstrap: str
    namespace: str
    consortium: Path
    workdir: Path
    partitions: int = 1
    #: the consortium PKI of the session's broker (certificates of every principal)
    pki: Path | None = None
    procs: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    @property
    def cfg(self) -> HubConfig:
        return HubConfig(bootstrap=self.bootstrap, namespace=self.namespace, consortium=self.consortium,
                         partitions=self.partitions, pki=self.pki)

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "HUB_KAFKA_BOOTSTRAP": self.bootstrap, "HUB_NAMESPACE": self.namespace,
                "HUB_CONSORTIUM": str(self.consortium), "HUB_HOME": str(self.workdir / "home"),
                "HUB_PARTITIONS": str(self.partitions),
                **({"HUB_PKI": str(self.pki)} if self.pki else {}),
                "PYTHONUNBUFFERED": "1"}

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "hub.cli", *args], env=self.env, capture_output=True,
                              text=True, timeout=timeout, check=False)

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 (lives as long as the process)
        p = subprocess.Popen([sys.executable, "-m", "hub.cli", *args], env=self.env, stdout=log,
                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.procs.append((name, p))
        return p

    def log(self, name: str) -> str:
        return (self.workdir / f"{name}.log").read_text(errors="replace")

    def sequencer(self, partition: int = 0, name: str | None = None, *extra: str) -> subprocess.Popen[bytes]:
        name = name or f"sequencer-{partition}"
        p = self.start(name, "sequencer", "run", "--partition", str(partition), *extra)
        self.wait_for(lambda: "ready" in self.log(name), f"{name} ready", p)
        return p

    def serve(self, name: str, *args: str) -> tuple[subprocess.Popen[bytes], int]:
        """Start a `hub` server command on a free loopback port; (process, port) once it listens."""
        pf = self.workdir / f"{name}.port"
        pf.unlink(missing_ok=True)
        p = self.start(name, *args, "--listen", "127.0.0.1:0", "--port-file", str(pf))
        self.wait_for(lambda: pf.exists() and pf.read_text().strip() != "", f"{name} port", p)
        return p, int(pf.read_text())

    def connector(self, member: str, *extra: str, name: str | None = None) -> tuple[subprocess.Popen[bytes], int]:
        return self.serve(name or member, "connector", "run", "--agency", member, "--plaintext", *extra)

    def verifier(self, directory: Path, *extra: str, name: str = "verifier") -> tuple[subprocess.Popen[bytes], str]:
        """`hub verifier run` for partition 0 over ``directory``; (process, base URL)."""
        p, port = self.serve(name, "verifier", "run", "--partition", "0", "--dir", str(directory), *extra)
        return p, f"http://127.0.0.1:{port}"

    def wait_for(self, cond, what: str, proc: subprocess.Popen[bytes] | None = None, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if cond():
                return
            if proc is not None and proc.poll() is not None:
                raise AssertionError(f"process exited ({proc.returncode}) before {what}:\n"
                                     + "\n".join(self.log(n)[-2000:] for n, p in self.procs if p is proc))
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}")

    def stop_all(self) -> None:
        for _, p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for _, p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs.clear()


def make_hub(broker: Broker, tmp: Path, partitions: int = 1) -> Hub:
    hub = Hub(broker.bootstrap, f"t{uuid.uuid4().hex[:10]}", tmp / "consortium", tmp, partitions=partitions,
              pki=broker.pki_dir)
    membership, _ = init_dev(hub.consortium, dev_members())
    ensure_topics(hub.bootstrap, hub.cfg, topic_specs(hub.cfg, list(membership.members)))
    admit_to_kafka(hub, membership)
    return hub


def admit_to_kafka(hub: Hub, membership: Membership) -> None:
    """What an operator does for a membership on the secure broker: a Kafka client certificate for each
    member that has none yet (`hub pki issue`), and the membership's ACLs (`hub kafka acls apply`)."""
    if hub.pki is not None:
        ca = DevCA.load(hub.pki)
        for m in membership.members.values():
            if not pki_files(hub.pki, m.id).client_cert.exists():
                issue_member(ca, hub.pki, m.id, m.name)
    apply_acls(hub.bootstrap, hub.namespace, membership)


@pytest.fixture(scope="module")
def hub(broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    h = make_hub(broker, tmp_path_factory.mktemp("hub"))
    yield h
    h.stop_all()


def stub(port: int) -> pb_grpc.ConnectorStub:
    ch = grpc.insecure_channel(f"127.0.0.1:{port}")
    grpc.channel_ready_future(ch).result(timeout=30)
    return pb_grpc.ConnectorStub(ch)
