"""A single-node KRaft Apache Kafka from Maven Central jars, for development and tests.

Secure by default: one client listener, SSL with client certificates required from the consortium
CA, the StandardAuthorizer with no access without an ACL, and the operator as the one super user
(:mod:`hub.kafka.local_tls`). ``secure=False`` (``hub kafka up --plaintext``, development only)
runs the plaintext broker instead, open to anyone who reaches its port.

``fetch`` copies the jars named by ``hub/kafka/pom.xml`` (a pinned Kafka 4.x and the
log4j binding its POM leaves out) into ``$HUB_HOME/kafka-<version>/libs`` once.
``start`` formats the storage if needed and runs ``kafka.Kafka`` with its output in
``<dir>/broker.log``; the PID is kept in ``<dir>/broker.pid`` and ``stop`` signals that
PID only (after checking it is still our broker), never a process found by name.

Fault tests use the same handle: :meth:`LocalBroker.kill` (SIGKILL), :meth:`LocalBroker.freeze`
and :meth:`LocalBroker.thaw` (SIGSTOP, SIGCONT) and :meth:`LocalBroker.restart`, which starts the
broker again on the port and data it had. A restart after SIGKILL takes a few seconds, not
fifteen: see :data:`LIVENESS`.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from hub.config import HubConfig
from hub.errors import BrokerUnavailableError, ConfigError, PortInUseError, ToolMissingError
from hub.kafka.security import OPERATOR, ClientSecurity, mtls

log = logging.getLogger(__name__)

POM = Path(__file__).with_name("pom.xml")
DEFAULT_PORT = 19092
#: the broker's heap and its JVM settings (see broker_command)
HEAP = "-Xms256m -Xmx1g"
#: The serial collector, not G1 (Kafka's start script's choice for servers): on a few cores shared
#: with the hub's processes, G1's pauses stretched far past its goal and set the sequencer's p99
#: (docs/design-notes.md, "Why the local broker runs the serial collector").
JVM_OPTS = "-XX:+UseSerialGC -Djava.awt.headless=true"
#: How soon the controller gives up on a silent broker. The broker is its own controller (KRaft
#: combined mode), so these settings decide one thing in practice: a restart after SIGKILL. The
#: restarted controller reads the killed broker's registration (unfenced: it never shut down) from
#: the metadata log and gives it a fresh session, and refuses the new incarnation's registration
#: (DuplicateBrokerRegistrationException, "Another broker is registered with that broker id") until
#: that session expires: ``broker.session.timeout.ms``, 9 s by default, retried every
#: ``broker.heartbeat.interval.ms``, 2 s. Measured on 2 cores (three kills each): SIGKILL ->
#: answering metadata again 13.4-15.2 s with the defaults, 6.1-6.8 s with these; a clean stop ->
#: start takes 4.9-5.9 s either way, the JVM starting. The session still outlasts the broker's
#: longest collection pauses (under 100 ms: docs/design-notes.md) twenty times over; the controller
#: counts a heartbeat that waited too long in its own queue as one received; and a SIGSTOP of 20 s
#: was measured to resume producing within 30 ms of SIGCONT with either setting.
LIVENESS = {"broker.heartbeat.interval.ms": "500", "broker.session.timeout.ms": "2000"}


def kafka_version() -> str:
    m = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", POM.read_text())
    assert m, "hub/kafka/pom.xml names no kafka.version"
    return m.group(1)


def jars_dir(home: Path) -> Path:
    return home / f"kafka-{kafka_version()}" / "libs"


def _need(tool: str, what: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise ToolMissingError(f"`{tool}` is not installed: {what}")
    return path


def check_java() -> str:
    java = _need("java", "install a Java 17+ runtime (e.g. apt-get install openjdk-17-jre-headless)")
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False).stderr
    m = re.search(r'version "(\d+)', out)
    if m and int(m.group(1)) < 17:
        raise ToolMissingError(f"Kafka 4 needs Java 17 or newer; `java -version` says {m.group(1)}")
    return java


def fetch(home: Path) -> Path:
    """Download the pinned Kafka jars once; the directory holding them."""
    libs = jars_dir(home)
    marker = libs / ".complete"
    if marker.exists():
        return libs
    mvn = _need("mvn", "install Apache Maven (e.g. apt-get install maven) to fetch Kafka from Maven Central")
    libs.mkdir(parents=True, exist_ok=True)
    log.info("fetching Apache Kafka %s jars from Maven Central into %s", kafka_version(), libs)
    proc = subprocess.run(
        [mvn, "-q", "-B", "-f", str(POM), "dependency:copy-dependencies",
         f"-DoutputDirectory={libs}", "-DincludeScope=runtime"],
        capture_output=True, text=True, check=False,
    )
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
        raise ToolMissingError(f"Maven could not fetch Kafka {kafka_version()}: {' | '.join(tail)}")
    marker.touch()
    return libs


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def broker_command(java: str, libs: Path, directory: Path, properties: Path, env: Mapping[str, str]) -> list[str]:
    """The broker's command line. Its heap and collector are :data:`HEAP` and :data:`JVM_OPTS`
    unless ``KAFKA_HEAP_OPTS`` or ``KAFKA_JVM_PERFORMANCE_OPTS`` (the variables Kafka's own start
    script reads) say otherwise; each collection's pause goes to ``<directory>/gc.log``, as that
    script logs them, for matching a slow request to the broker's pauses."""
    return [java, *env.get("KAFKA_HEAP_OPTS", HEAP).split(), *env.get("KAFKA_JVM_PERFORMANCE_OPTS", JVM_OPTS).split(),
            f'-Xlog:gc:file="{directory / "gc.log"}":time,uptime:filecount=2,filesize=10M',
            f"-Dlog4j2.configurationFile={directory / 'log4j2.properties'}",
            "-cp", f"{libs}/*", "kafka.Kafka", str(properties)]


@dataclass
class LocalBroker:
    """The local broker whose state lives in ``directory``."""

    directory: Path
    host: str = "127.0.0.1"
    #: the consortium PKI the broker trusts and the hub's principals' certificates (`hub pki`);
    #: None: a plaintext broker (development only)
    pki_dir: Path | None = None
    #: the broker this handle started (reaped on kill or stop; None when started elsewhere)
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def pid_file(self) -> Path:
        return self.directory / "broker.pid"

    @property
    def bootstrap_file(self) -> Path:
        return self.directory / "bootstrap"

    @property
    def log_file(self) -> Path:
        return self.directory / "broker.log"

    @property
    def properties_file(self) -> Path:
        return self.directory / "server.properties"

    def pid(self) -> int | None:
        """The broker's process id while this directory's broker runs, else None."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return None
        # the PID must still be *our* broker: kafka.Kafka with our properties file
        if b"kafka.Kafka" in cmdline and str(self.properties_file).encode() in cmdline:
            return pid
        return None

    def running_bootstrap(self) -> str | None:
        if self.pid() is None:
            return None
        try:
            return self.bootstrap_file.read_text().strip() or None
        except OSError:
            return None

    def start(self, home: Path, port: int | None = DEFAULT_PORT, timeout: float = 90.0) -> str:
        """Start (or find running) the broker; its bootstrap address. ``port=None`` picks free ports."""
        running = self.running_bootstrap()
        if running:
            secure = "ssl.client.auth=required" in self.properties_file.read_text()
            if secure != (self.pki_dir is not None):
                have, want = ("secure", "plaintext") if secure else ("plaintext", "secure")
                raise ConfigError(f"the local broker at {running} runs {have}, and a {want} one was asked for: "
                                  "stop it first with `hub kafka down`")
            return running
        java = check_java()
        libs = fetch(home)
        self.directory.mkdir(parents=True, exist_ok=True)
        data = self.directory / "data"
        if port is None:
            port = free_port(self.host)
        if not port_free(self.host, port):
            raise PortInUseError(
                f"port {port} on {self.host} is in use: stop what holds it or choose another with --port"
            )
        meta = data / "meta.properties"
        if meta.exists():
            # a KRaft voter's endpoint is part of its formatted state: keep the controller port
            controller = self._formatted_controller_port()
            if controller is None:
                raise ConfigError(f"{data} holds Kafka data but no controller port: `hub kafka down --purge`")
            if not port_free(self.host, controller):
                raise PortInUseError(f"the local broker's controller port {controller} is in use")
        else:
            controller = free_port(self.host)
        tls = None
        if self.pki_dir is not None:
            from hub.kafka.local_tls import prepare

            tls = prepare(self.pki_dir, self.directory / "tls", ("localhost", self.host)).properties()
        self._write_config(port, controller, data, tls)
        if not meta.exists():
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            proc = subprocess.run(
                [java, "-cp", f"{libs}/*", "kafka.tools.StorageTool", "format", "--standalone",
                 f"--cluster-id={cluster_id}", "-c", str(self.properties_file)],
                capture_output=True, text=True, check=False,
            )
            if proc.returncode != 0:
                raise ConfigError(f"formatting Kafka storage failed: {(proc.stdout + proc.stderr).strip()[-300:]}")
        with open(self.directory / "stdout.log", "ab") as out:
            proc2 = subprocess.Popen(
                broker_command(java, libs, self.directory, self.properties_file, os.environ),
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            )
        self._proc = proc2
        self.pid_file.write_text(f"{proc2.pid}\n")
        bootstrap = f"{self.host}:{port}"
        self._await_ready(bootstrap, proc2, timeout)
        self.bootstrap_file.write_text(bootstrap + "\n")
        return bootstrap

    def operator(self) -> ClientSecurity:
        """How the operator connects to this broker (mutual TLS as the super user, or plaintext)."""
        if self.pki_dir is None:
            return ClientSecurity(OPERATOR, {"security.protocol": "plaintext"}, "the plaintext development broker")
        return mtls(self.pki_dir, OPERATOR)

    def _await_ready(self, bootstrap: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
        from hub.kafka.clients import wait_ready

        deadline = time.monotonic() + timeout
        operator = self.operator()
        while True:
            if proc.poll() is not None:
                raise BrokerUnavailableError(
                    f"the local Kafka broker exited with code {proc.returncode}; see {self.log_file}"
                )
            try:
                wait_ready(bootstrap, timeout=2.0, as_=operator)
                return
            except BrokerUnavailableError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise BrokerUnavailableError(
                        f"the local Kafka broker did not answer within {timeout:.0f}s; see {self.log_file}"
                    ) from None
                time.sleep(0.2)

    def configured_port(self) -> int | None:
        """The client port the broker was last configured with (kept across restarts), else None."""
        try:
            props = self.properties_file.read_text()
        except OSError:
            return None
        m = re.search(r"^listeners=(?:SSL|PLAINTEXT)://[^,]*:(\d+)", props, re.MULTILINE)
        return int(m.group(1)) if m else None

    def restart(self, home: Path, timeout: float = 90.0) -> str:
        """Start the broker again on the port and data it had, stopping it first (cleanly, thawed
        if frozen) if it runs; its bootstrap address once it answers metadata requests."""
        port = self.configured_port()
        if port is None:
            raise ConfigError(f"no local broker was configured in {self.directory}: start one first")
        self.stop()
        return self.start(home, port=port, timeout=timeout)

    def kill(self, timeout: float = 10.0) -> bool:
        """SIGKILL our broker and wait until it is gone (its ports closed); False if none ran.
        Its data stays for :meth:`restart`."""
        pid = self.pid()
        if pid is None:
            return False
        os.kill(pid, signal.SIGKILL)
        if not self._wait_gone(pid, timeout):
            raise BrokerUnavailableError(f"the local broker (PID {pid}) did not die within {timeout:.0f}s of SIGKILL")
        self.bootstrap_file.unlink(missing_ok=True)
        return True

    def freeze(self, timeout: float = 10.0) -> int:
        """SIGSTOP our broker and wait until every one of its threads has stopped: it keeps its sockets
        open and answers nothing until :meth:`thaw`. Its PID; BrokerUnavailableError if it does not run."""
        pid = self._running()
        os.kill(pid, signal.SIGSTOP)
        self._await(lambda: _stopped(pid) is True, f"the local broker (PID {pid}) to stop on SIGSTOP", timeout)
        return pid

    def thaw(self, timeout: float = 10.0) -> int:
        """SIGCONT our broker after :meth:`freeze` and wait until its threads run again; its PID."""
        pid = self._running()
        os.kill(pid, signal.SIGCONT)
        self._await(lambda: _stopped(pid) is False, f"the local broker (PID {pid}) to run on SIGCONT", timeout)
        return pid

    def frozen(self) -> bool:
        """Whether our broker's threads are all stopped by a signal (after :meth:`freeze`, before :meth:`thaw`)."""
        pid = self.pid()
        return pid is not None and _stopped(pid) is True

    @staticmethod
    def _await(cond: Callable[[], bool], what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > deadline:
                raise BrokerUnavailableError(f"timed out waiting for {what}")
            time.sleep(0.01)

    def _running(self) -> int:
        pid = self.pid()
        if pid is None:
            raise BrokerUnavailableError(f"no local broker runs from {self.directory}")
        return pid

    def _wait_gone(self, pid: int, timeout: float) -> bool:
        """Wait up to ``timeout`` for every thread of ``pid`` to exit (its sockets closed with the last
        one), and reap it if it is our child. Whether it exited."""
        deadline = time.monotonic() + timeout
        while True:
            if self._proc is not None and self._proc.pid == pid:
                if self._proc.poll() is not None:
                    self._proc = None
                    return True
            elif _exited(pid):
                try:
                    os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    pass
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)

    def _formatted_controller_port(self) -> int | None:
        try:
            return int((self.directory / "controller").read_text().strip().rsplit(":", 1)[1])
        except (OSError, ValueError, IndexError):
            return None

    def _write_config(self, port: int, controller: int, data: Path, tls: dict[str, str] | None) -> None:
        (self.directory / "controller").write_text(f"{self.host}:{controller}\n")
        client = "SSL" if tls is not None else "PLAINTEXT"
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.bootstrap.servers": f"{self.host}:{controller}",
            "listeners": f"{client}://{self.host}:{port},CONTROLLER://{self.host}:{controller}",
            "advertised.listeners": f"{client}://{self.host}:{port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": client,
            # the controller listener speaks what the client listener does: no plaintext port at all
            "listener.security.protocol.map": f"{client}:{client},CONTROLLER:{client}",
            **(tls or {}),
            "log.dirs": str(data),
            "num.partitions": "1",
            "auto.create.topics.enable": "false",
            # one node: internal topics with one replica, or transactions never initialise
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "unclean.leader.election.enable": "false",
            "log.flush.interval.messages": str(2**63 - 1),
            # a development machine has few cores, shared with the hub's processes: fewer broker
            # threads switch less (measured on 2 cores: broker CPU per sequenced message 230 -> 170 us)
            "num.io.threads": "2",
            "num.network.threads": "2",
            # the log cleaner's dedupe buffer lives on the heap, 128 MiB by default: most of a
            # 256 MiB heap, which then collects its old generation over and over (8-25 G1 mixed
            # collections in four 20-second latency runs; 0-4 with 16 MiB). The cleaner only compacts
            # the internal offset and transaction topics here: 16 MiB holds ~700,000 keys a pass.
            "log.cleaner.dedupe.buffer.size": str(16 * 1024 * 1024),
            **LIVENESS,
        }
        self.properties_file.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        (self.directory / "log4j2.properties").write_text(
            "rootLogger.level=INFO\n"
            "rootLogger.appenderRef.f.ref=F\n"
            "appender.f.type=File\n"
            "appender.f.name=F\n"
            f"appender.f.fileName={self.log_file}\n"
            "appender.f.layout.type=PatternLayout\n"
            "appender.f.layout.pattern=[%d] %p %m (%c)%n\n"
            "logger.kafka.name=kafka\nlogger.kafka.level=INFO\n"
            "logger.state.name=state.change.logger\nlogger.state.level=WARN\n"
        )

    def stop(self, timeout: float = 30.0) -> bool:
        """SIGTERM our broker's PID (and SIGCONT, should it be frozen), SIGKILL after ``timeout``;
        False if none was running."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        os.kill(pid, signal.SIGCONT)  # a frozen JVM handles the SIGTERM once it runs again
        if not self._wait_gone(pid, timeout):
            os.kill(pid, signal.SIGKILL)
            self._wait_gone(pid, 10.0)
        self.pid_file.unlink(missing_ok=True)
        self.bootstrap_file.unlink(missing_ok=True)
        return True

    def purge(self) -> None:
        """Delete the broker's data (it must be stopped)."""
        shutil.rmtree(self.directory / "data", ignore_errors=True)


def _exited(pid: int) -> bool:
    """Every thread of ``pid`` has exited (the process is gone, or only its zombie is left)."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return True
    return all(_state(int(t)) in (None, "Z") for t in tasks)


def _stopped(pid: int) -> bool | None:
    """True when every thread of ``pid`` is stopped by a signal, False when none is, None in between
    (a signal on its way to each thread) or when the process is gone."""
    try:
        tasks = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        return None
    states = {_state(t) in ("T", "t") for t in tasks}
    return states.pop() if len(states) == 1 else None


def _state(pid: int) -> str | None:
    """The state letter of ``pid`` in /proc (R, S, D, T, Z, ...); None once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][:1] or None
    except (OSError, IndexError):
        return None


def resolve_bootstrap(cfg: HubConfig) -> str:
    """The bootstrap servers to use: the configured ones, else the running local broker's, else a
    ConfigError that says how to get one."""
    if cfg.bootstrap:
        return cfg.bootstrap
    found = LocalBroker(cfg.broker_dir).running_bootstrap()
    if found is None:
        raise ConfigError("no Kafka broker configured: run `hub kafka up` or set HUB_KAFKA_BOOTSTRAP=host:port")
    return found
