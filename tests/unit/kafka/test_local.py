"""The local broker's command line (heap and collector from Kafka's own variables, a GC log), its
configuration for quick restarts, and the signals its handle sends (to a stand-in process)."""

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.consortium.pki import load_certificate, verify_issued_by
from hub.errors import BrokerUnavailableError, ConfigError
from hub.kafka.local import HEAP, JVM_OPTS, LocalBroker, broker_command
from hub.kafka.local_tls import prepare

DIR = Path("/state/broker")


def command(env: dict[str, str]) -> list[str]:
    return broker_command("java", Path("/jars"), DIR, DIR / "server.properties", env)


def test_defaults_when_the_variables_are_unset() -> None:
    cmd = command({})
    assert cmd[0] == "java"
    assert cmd[1:1 + len(HEAP.split()) + len(JVM_OPTS.split())] == HEAP.split() + JVM_OPTS.split()
    assert cmd[-3:] == ["/jars/*", "kafka.Kafka", str(DIR / "server.properties")]


def test_kafka_heap_and_performance_opts_replace_the_defaults() -> None:
    cmd = command({"KAFKA_HEAP_OPTS": "-Xms2g  -Xmx2g", "KAFKA_JVM_PERFORMANCE_OPTS": "-XX:+UseZGC"})
    assert cmd[1:4] == ["-Xms2g", "-Xmx2g", "-XX:+UseZGC"]
    assert not set(HEAP.split() + JVM_OPTS.split()) & set(cmd)


def test_collections_are_logged_beside_the_broker_log_with_the_path_quoted() -> None:
    # -Xlog separates its fields with ':', so the file name is quoted
    [xlog] = [a for a in command({}) if a.startswith("-Xlog:")]
    assert xlog.startswith(f'-Xlog:gc:file="{DIR / "gc.log"}":')


# --- restarts and faults: the properties, and the signals on a stand-in process ------------------------

def properties(broker: LocalBroker) -> dict[str, str]:
    return dict(line.split("=", 1) for line in broker.properties_file.read_text().splitlines())


def test_a_killed_broker_is_not_waited_for_long_when_it_restarts(tmp_path: Path) -> None:
    # the restarted controller refuses the new incarnation until the killed one's session expires
    broker = LocalBroker(tmp_path)
    broker._write_config(19092, 19093, tmp_path / "data", None)
    props = properties(broker)
    session, heartbeat = int(props["broker.session.timeout.ms"]), int(props["broker.heartbeat.interval.ms"])
    assert session <= 3000
    assert heartbeat * 3 <= session  # a few heartbeats may be late before the broker is fenced
    assert broker.configured_port() == 19092


def test_the_secure_broker_has_no_plaintext_listener_and_refuses_what_no_acl_allows(tmp_path: Path) -> None:
    pki = tmp_path / "pki"
    tls = prepare(pki, tmp_path / "tls", ("localhost", "127.0.0.1"))
    broker = LocalBroker(tmp_path, pki_dir=pki)
    broker._write_config(19092, 19093, tmp_path / "data", tls.properties())
    props = properties(broker)
    assert "PLAINTEXT" not in props["listener.security.protocol.map"] + props["listeners"]
    assert props["listeners"].startswith("SSL://127.0.0.1:19092,CONTROLLER://")
    assert props["ssl.client.auth"] == "required"
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["super.users"] == "User:hub-operator;User:hub-broker"
    assert props["authorizer.class.name"].endswith("StandardAuthorizer")
    assert broker.configured_port() == 19092
    # the key store holds the broker's key then its certificate, issued by the PKI's CA for its hosts
    keystore = Path(props["ssl.keystore.location"]).read_bytes()
    assert keystore.index(b"PRIVATE KEY") < keystore.index(b"BEGIN CERTIFICATE")
    cert = load_certificate(keystore[keystore.index(b"-----BEGIN CERTIFICATE"):])
    verify_issued_by(cert, (pki / "ca.pem").read_bytes())
    assert cert.subject.rfc4514_string() == "CN=hub-broker"
    # and every hub principal got a client certificate from the same CA
    for principal in ("hub-operator", "hub-sequencer", "hub-verifier", "hub-auditor"):
        verify_issued_by((pki / principal / "client.pem").read_bytes(), (pki / "ca.pem").read_bytes())
    # a second preparation keeps what is current (the broker restarts with the same certificate)
    before = Path(props["ssl.keystore.location"]).read_bytes()
    prepare(pki, tmp_path / "tls", ("localhost", "127.0.0.1"))
    assert Path(props["ssl.keystore.location"]).read_bytes() == before


def test_restart_needs_a_broker_configured_before(tmp_path: Path) -> None:
    broker = LocalBroker(tmp_path)
    assert broker.configured_port() is None
    with pytest.raises(ConfigError):
        broker.restart(tmp_path / "home")


STAND_IN = """
import signal, sys, threading, time
if sys.argv[1] == "stubborn":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
for _ in range(3):
    threading.Thread(target=time.sleep, args=(120,), daemon=True).start()
print("ready", flush=True)
time.sleep(120)
"""


@pytest.fixture(params=["plain"])
def stand_in(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[LocalBroker, subprocess.Popen[bytes]]]:
    """A process the handle takes for its broker (kafka.Kafka and the properties file on its command
    line), with a few threads; "stubborn" ignores SIGTERM."""
    broker = LocalBroker(tmp_path)
    proc = subprocess.Popen([sys.executable, "-c", STAND_IN, request.param, "kafka.Kafka", str(broker.properties_file)],
                            stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    broker.pid_file.write_text(f"{proc.pid}\n")
    assert broker.pid() == proc.pid
    yield broker, proc
    proc.kill()
    proc.wait()


def ended(proc: subprocess.Popen[bytes]) -> bool:
    """The process exited (reaped by the handle, or by us now)."""
    return not Path(f"/proc/{proc.pid}").exists() or proc.poll() is not None


def test_freeze_stops_every_thread_and_thaw_starts_them_again(stand_in: tuple[LocalBroker, subprocess.Popen[bytes]]):
    broker, proc = stand_in
    assert not broker.frozen()
    assert broker.freeze() == proc.pid
    threads = list(Path(f"/proc/{proc.pid}/task").iterdir())
    assert len(threads) >= 4
    assert all((t / "stat").read_text().rsplit(") ", 1)[1][0] == "T" for t in threads)
    assert broker.frozen()
    broker.thaw()
    assert not broker.frozen()
    assert broker.pid() == proc.pid


def test_kill_ends_the_broker_and_says_whether_one_ran(stand_in: tuple[LocalBroker, subprocess.Popen[bytes]]):
    broker, proc = stand_in
    assert broker.kill()
    assert ended(proc)
    assert broker.pid() is None
    assert not broker.kill()
    with pytest.raises(BrokerUnavailableError):
        broker.freeze()


def test_stop_ends_a_frozen_broker_without_waiting_for_its_timeout(stand_in: tuple[LocalBroker,
                                                                                  subprocess.Popen[bytes]]):
    broker, proc = stand_in
    broker.freeze()
    t0 = time.monotonic()
    assert broker.stop(timeout=30)
    assert time.monotonic() - t0 < 10  # a frozen process only handles SIGTERM once it runs again
    assert ended(proc)
    assert broker.pid() is None and not broker.pid_file.exists()


@pytest.mark.parametrize("stand_in", ["stubborn"], indirect=True)
def test_stop_kills_a_broker_that_ignores_sigterm(stand_in: tuple[LocalBroker, subprocess.Popen[bytes]]):
    broker, proc = stand_in
    t0 = time.monotonic()
    assert broker.stop(timeout=0.5)
    assert 0.5 <= time.monotonic() - t0 < 10
    assert ended(proc)
