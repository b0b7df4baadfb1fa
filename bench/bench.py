"""`make bench`: the sequencer's speed and memory against baselines measured in the same run.

Figures (printed, and written to bench/out/latest.json under these keys):

verify_core_per_s       single-core Ed25519 verifications per second of real envelopes (every load is of
                        envelopes v2, as connectors send them: payloads encrypted, key capsules in headers)
baseline_per_s          a plain Python loop: consume inbound, verify each signature, produce; nothing else
sequencer_per_s         notarised ledger entries per second, sustained, one partition (`hub sequencer run`)
sequencer_p50_ms/p99_ms inbound produce (with the connectors' producer settings) -> committed ledger
                        entry visible to a read_committed reader, at half the sustained rate;
                        latency_p99_ms_to_ledger_write and _ledger_write_to_read: the p99 of its two legs
                        (split at the ledger record's Kafka timestamp); latency_cores_sequencer, _broker
                        and _loadgen: the cores each used meanwhile (the broker's for a local one only)
ratio_vs_verify         sequencer_per_s / verify_core_per_s
ratio_vs_baseline       sequencer_per_s / baseline_per_s
sequencer_plaintext_per_s  sequencer_per_s on a second local broker, a plaintext one, run right after it
sequencer_tls_ratio     sequencer_per_s / sequencer_plaintext_per_s: what mutual TLS costs the sequencer
                        (these seven: BENCH_ROUNDS rounds, default 3, of verify, baseline, sequencer and the
                        sequencer on plaintext one after another; each figure the median of its rounds, each
                        ratio the median of the rounds' ratios)
sequencer_rss_100k_mb   the sequencer process's RSS once the ledger holds 100,000 entries
sequencer_rss_1m_mb     ... and 1,000,000 entries (BENCH_RSS_ENTRIES changes the second mark), from a backlog
                        loaded before the sequencer starts, reaching past the second mark; sequencer_rss_low_mb
                        and _high_mb: the least and the most it read between the two marks
audit_per_s             ledger entries replayed and verified per second by the auditor's core (one auditor,
                        its signature checks in 2 worker processes as `hub audit` runs them; records already
                        read from Kafka, workers' start included); audit_ratio_vs_verify = audit_per_s /
                        verify_core_per_s; audit_reading_per_s: the same opening every payload with the audit
                        key and checking it (commitment, schema, rules, disclosure), and audit_reading_ratio =
                        audit_reading_per_s / audit_per_s
proof_p99_ms            an inclusion proof at 1,000,000 entries read from the verifier's on-disk tiles
                        (hub.verifier.store + hub.ledger.tiles, as `/proof/inclusion` serves it) and verified
publish_stream_per_s    one connector (`hub connector run`), PublishStream: requests acknowledged by Kafka per second
publish_batches_per_s   ... PublishBatches, frames of BATCH (100) requests, 2,000 distinct orders cycled: requests
                        acknowledged by Kafka per second (envelope v2: every payload encrypted for its readers);
                        publish_batches_clear_per_s: the
                        same right after on a connector sealing envelope v1 (payloads in clear), and
                        publish_encryption_ratio = publish_batches_per_s / publish_batches_clear_per_s
grpc_echo_stream_per_s  the baseline for both: a Python gRPC stream whose server only echoes each message (of a
                        PublishRequest's size) back, client and server as above; publish_stream_ratio_vs_echo =
                        publish_stream_per_s / grpc_echo_stream_per_s
publish_to_delivery_p99_ms  Publish at the court's connector -> delivered on the bank's Subscribe stream,
                        at half publish_stream_per_s (with a sequencer running); also _p50_ms
publish_stream_cpu_us_connector, _client, _broker
                        CPU microseconds per request spent during the PublishStream run by the connector
                        process, the client (this process) and the broker (a local one only); and
                        publish_stream_cores_at_5000: their sum at 5,000 requests/s, in cores.
                        publish_batches_cpu_us_* are the same for the PublishBatches run

Everything runs against a real broker started for the run, the local one of `hub kafka up`: secure, as
a deployment runs (mutual TLS with certificates from a consortium CA created in the work dir,
ACLs applied from each namespace's membership; this process speaks as the operator, each `hub`
process as its own principal: the sequencer as hub-sequencer, a connector as its agency). Only
sequencer_plaintext_per_s runs on a plaintext broker, started beside it for the throughput rounds.
Partial runs: BENCH_ONLY=throughput (the throughput rounds alone), BENCH_ONLY=publish (the connector's
figures), BENCH_ONLY=audit (the auditor's ratio five times), BENCH_ONLY=latency (the sequencer's latency
run five times at BENCH_RATE msgs/s, default 3000, after one it discards) and BENCH_ONLY=rss (the RSS
run three times) write bench/out/throughput.json, publish.json, audit.json, latency.json and rss.json.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from figures import write_figures  # bench/figures.py: this script's directory is on the path

from connectors import dev_members
from hub.config import HubConfig, default_home
from hub.consortium.files import load_signing_key
from hub.consortium.identity import VerifyingKey
from hub.consortium.membership import Membership
from hub.consortium.pki import DevCA, issue_member, pki_files
from hub.dev.consortium import init_dev
from hub.dev.loadgen import Item, freeze_orders, produce
from hub.kafka import security
from hub.kafka.acls import apply_acls
from hub.kafka.clients import consume_available, consumer_config, producer_config
from hub.kafka.provision import Broker, provision
from hub.kafka.reader import watermarks
from hub.kafka.topics import Topics, TopicSpec, ensure_topics, topic_specs
from hub.standard.envelope import DOMAIN, Envelope
from hub.standard.schemas import default_registry

COURT, BANK = "court-bj-chaoyang", "bank-icbc-bj"
OUT = Path(__file__).parent / "out"


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


#: the librdkafka properties of the plaintext broker's clients (its `hub` processes' HUB_KAFKA_CONFIG)
PLAINTEXT_PROPERTIES = "security.protocol=plaintext\n"


@dataclass(frozen=True)
class Cluster:
    """A broker of the run, and how the run's processes speak to it: mutual TLS with certificates
    from the consortium PKI ``pki`` (a secure broker: this process as the operator, each `hub`
    process as its own principal), or the librdkafka properties file ``properties`` (a plaintext one)."""

    bootstrap: str
    #: the local broker's process, whose CPU the runs report (None: not measured)
    pid: int | None
    pki: Path | None = None
    properties: Path | None = None

    def __post_init__(self) -> None:
        if (self.pki is None) == (self.properties is None):
            raise ValueError("a cluster is reached with a PKI (mutual TLS) or a properties file, one of them")

    @classmethod
    def of(cls, broker: Broker, properties: Path | None = None) -> Cluster:
        return cls(broker.bootstrap, broker.pid, broker.pki_dir, properties)

    def operator(self) -> security.ClientSecurity:
        if self.properties is not None:
            return security.from_file(self.properties, security.OPERATOR)
        assert self.pki is not None  # __post_init__
        return security.mtls(self.pki, security.OPERATOR)

    @contextlib.contextmanager
    def spoken_to(self) -> Iterator[None]:
        """This process's Kafka clients opened meanwhile speak to this broker, as the operator (the
        one principal that may create the run's topics and ACLs and read every group's offsets)."""
        before = security.current()
        security.use(self.operator())
        try:
            yield
        finally:
            security.use(before)

    def env(self) -> dict[str, str]:
        """What a `hub` process needs to pick its own principal's settings for this broker."""
        if self.properties is not None:
            return {"HUB_KAFKA_CONFIG": str(self.properties)}
        return {"HUB_PKI": str(self.pki)}

    def admit(self, namespace: str, membership: Membership) -> None:
        """What an operator does for a membership on a secure broker: a Kafka client certificate for
        each member that has none yet (`hub pki issue`), and the namespace's ACLs (`hub kafka acls
        apply`). Nothing on a plaintext broker, which has no authorizer."""
        if self.pki is None:
            return
        ca = DevCA.load(self.pki)
        for m in membership.members.values():
            if not pki_files(self.pki, m.id).client_cert.exists():
                issue_member(ca, self.pki, m.id, m.name)
        apply_acls(self.bootstrap, namespace, membership)


@contextlib.contextmanager
def plaintext_broker(workdir: Path) -> Iterator[Cluster]:
    """A second local broker, plaintext, for sequencer_plaintext_per_s: the same local broker as the
    secure one (not a testcontainer, even where Docker answers), so the two differ in TLS alone."""
    properties = workdir / "plaintext.properties"
    properties.write_text(PLAINTEXT_PROPERTIES)
    broker = provision(default_home(), workdir / "broker-plaintext", pki_dir=None, port=None, use_docker=False)
    try:
        log(f"plaintext Kafka ({broker.kind}) at {broker.bootstrap}: {broker.detail}")
        yield Cluster.of(broker, properties)
    finally:
        broker.stop()


class Bench:
    """A namespace of its own on ``cluster``, with a development consortium admitted to it. Its
    Kafka clients speak as whatever the caller made this process speak as (:meth:`Cluster.spoken_to`)."""

    def __init__(self, cluster: Cluster, workdir: Path):
        self.cluster = cluster
        self.bootstrap = bootstrap = cluster.bootstrap
        self.workdir = workdir
        self.namespace = f"bench{uuid.uuid4().hex[:8]}"
        self.consortium = workdir / "consortium"
        self.cfg = HubConfig(bootstrap=bootstrap, namespace=self.namespace, consortium=self.consortium)
        membership, _ = init_dev(self.consortium, dev_members())
        self.membership = membership
        ensure_topics(bootstrap, self.cfg, topic_specs(self.cfg, list(membership.members)))
        cluster.admit(self.namespace, membership)
        self.topics = Topics(self.namespace)
        self._offsets: Consumer | None = None  # asks committed_inbound's question (never joins the group)
        self.key = load_signing_key(self.consortium, COURT)
        self.registry = default_registry()

    def items(self, n: int, seed: int = 1) -> Iterator[Item]:
        """Freeze orders as connectors now send them: envelopes v2, encrypted for their readers."""
        return freeze_orders(self.registry, COURT, self.key, [BANK], n, seed=seed, encrypt_for=self.membership)

    def env(self) -> dict[str, str]:
        inherited = {k: v for k, v in os.environ.items() if k not in ("HUB_PKI", "HUB_KAFKA_CONFIG")}
        return {**inherited, "HUB_KAFKA_BOOTSTRAP": self.bootstrap, "HUB_NAMESPACE": self.namespace,
                "HUB_CONSORTIUM": str(self.consortium), **self.cluster.env(), "PYTHONUNBUFFERED": "1"}

    def start_sequencer(self, name: str) -> subprocess.Popen[bytes]:
        logf = open(self.workdir / f"{name}.log", "wb")  # noqa: SIM115 (lives as long as the process)
        workers = os.environ.get("BENCH_WORKERS", "2")
        proc = subprocess.Popen([sys.executable, "-m", "hub.cli", "sequencer", "run", "--partition", "0",
                                 "--workers", workers],
                                env=self.env(), stdout=logf, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while "ready" not in (self.workdir / f"{name}.log").read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"sequencer did not start: {(self.workdir / f'{name}.log').read_text()[-2000:]}")
            time.sleep(0.05)
        return proc

    def ledger_end(self) -> int:
        return watermarks(self.bootstrap, self.topics.ledger, 0)[1]

    def committed_inbound(self) -> int:
        """The sequencer group's committed inbound offset; -1 when the broker, busy with the run,
        did not answer in time (ask again). One client asks every time: the runs poll this while
        they are measured, on the cores they measure, and a new client per question connected,
        fetched metadata and found the coordinator each time."""
        if self._offsets is None:
            self._offsets = Consumer(consumer_config(self.bootstrap, f"{self.namespace}.sequencer"))
        try:
            [tp] = self._offsets.committed([TopicPartition(self.topics.inbound, 0)], timeout=10)
            return max(tp.offset, 0)
        except KafkaException as exc:
            log(f"(committed offsets not answered in time: {exc.args[0].str()}; asking again)")
            return -1

    def wait_consumed(self, target: int, proc: subprocess.Popen[bytes],
                      on_progress: Callable[[], None] | None = None, timeout: float = 3600) -> None:
        deadline = time.monotonic() + timeout
        while self.committed_inbound() < target:
            if proc.poll() is not None:
                raise SystemExit("the sequencer exited during the benchmark")
            if time.monotonic() > deadline:
                raise SystemExit("the sequencer did not keep up within the time limit")
            if on_progress:
                on_progress()
            time.sleep(0.2)


def bench_verify(b: Bench, n: int = 20_000) -> float:
    envs = [Envelope.from_bytes(i.value) for i in b.items(2000)]
    key = VerifyingKey(b.key.public.raw)
    pairs = [(e.signature, e.signing_input()) for e in envs]
    start = time.perf_counter()
    done = 0
    while done < n:
        for sig, msg in pairs:
            if not key.verify(sig, msg):
                raise SystemExit("a benchmark signature did not verify")
        done += len(pairs)
    return done / (time.perf_counter() - start)


def bench_baseline(b: Bench, n: int) -> float:
    """Consume, verify, produce: the least any sequencer must do per message."""
    src = f"{b.namespace}.baseline-in"
    dst = f"{b.namespace}.baseline-out"
    ensure_topics(b.bootstrap, b.cfg, [TopicSpec(src, 1, {}), TopicSpec(dst, 1, {})])
    produce(b.bootstrap, src, b.items(n, seed=3))
    key = VerifyingKey(b.key.public.raw)
    c = Consumer(consumer_config(b.bootstrap, f"{b.namespace}.baseline"))
    c.assign([TopicPartition(src, 0, 0)])
    p = Producer(producer_config(b.bootstrap))
    done = 0
    start: float | None = None
    while done < n:
        for m in c.consume(num_messages=500, timeout=1.0):
            raw = m.value()
            if m.error() or raw is None:
                continue
            if start is None:
                start = time.perf_counter()
            # the signature is the envelope's last 64 bytes, after its 2-byte Avro length
            if not key.verify(raw[-64:], DOMAIN + raw[:-66]):
                raise SystemExit("baseline: a signature did not verify")
            p.produce(dst, raw, key=m.key())
            p.poll(0)
            done += 1
    p.flush(60)
    c.close()
    assert start is not None  # n > 0 messages were consumed
    return done / (time.perf_counter() - start)


def bench_sequencer(b: Bench, n: int) -> float:
    inbound_before = watermarks(b.bootstrap, b.topics.inbound, 0)[1]
    produce(b.bootstrap, b.topics.inbound, b.items(n, seed=4))
    target = inbound_before + n
    proc = b.start_sequencer("seq-throughput")
    start_entries = b.ledger_end()
    t0 = time.perf_counter()
    b.wait_consumed(target, proc)
    elapsed = time.perf_counter() - t0
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    log(f"sequencer: {n} entries in {elapsed:.1f}s (ledger end offset {start_entries} -> {b.ledger_end()})")
    return n / elapsed


def bench_throughput(cluster: Cluster, plaintext: Cluster, workdir: Path, n: int,
                     rounds: int) -> tuple[dict[str, float], Bench]:
    """verify_core_per_s, baseline_per_s and sequencer_per_s on ``cluster``, then sequencer_per_s on
    the ``plaintext`` one, measured one after another, ``rounds`` times (each round in namespaces of
    its own): each figure is the median of its rounds, and each ratio the median of the rounds'
    ratios, so the sequencer is compared with baselines measured beside it, not seconds or minutes
    away on a shared host. Also the first round's bench, whose ledger the auditor's run replays.
    This process speaks to ``cluster`` when called, and does again on return."""
    verify, baseline, sequencer, plain = [], [], [], []
    benches = [Bench(cluster, workdir / f"round{i + 1}") for i in range(rounds)]
    with plaintext.spoken_to():
        plain_benches = [Bench(plaintext, workdir / f"plaintext{i + 1}") for i in range(rounds)]
    for i, (b, pb) in enumerate(zip(benches, plain_benches)):
        verify.append(bench_verify(b))
        baseline.append(bench_baseline(b, n))
        sequencer.append(bench_sequencer(b, n))
        with plaintext.spoken_to():
            plain.append(bench_sequencer(pb, n))
        log(f"round {i + 1}: verify_core_per_s {verify[-1]:.0f} baseline_per_s {baseline[-1]:.0f} "
            f"sequencer_per_s {sequencer[-1]:.0f}: ratio_vs_verify {sequencer[-1] / verify[-1]:.3f} "
            f"ratio_vs_baseline {sequencer[-1] / baseline[-1]:.3f}; sequencer_plaintext_per_s {plain[-1]:.0f}: "
            f"sequencer_tls_ratio {sequencer[-1] / plain[-1]:.3f}")
    return {"verify_core_per_s": statistics.median(verify), "baseline_per_s": statistics.median(baseline),
            "sequencer_per_s": statistics.median(sequencer),
            "ratio_vs_verify": statistics.median(s / v for s, v in zip(sequencer, verify)),
            "ratio_vs_baseline": statistics.median(s / b for s, b in zip(sequencer, baseline)),
            "sequencer_plaintext_per_s": statistics.median(plain),
            "sequencer_tls_ratio": statistics.median(s / p for s, p in zip(sequencer, plain))}, benches[0]


@contextlib.contextmanager
def no_gc_pauses() -> Iterator[None]:
    """The timestamps of a latency run are taken in this process: a collection of the earlier
    runs' objects (a million-entry tree in bench_proofs) must not pause its threads mid-run."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


#: seconds of load a latency run sends at its rate before the measured seconds, timed apart: a
#: sequencer just started, and a broker's code for small transactions not yet compiled, are slower
#: for their first seconds than a hub that has run for days (docs/design-notes.md, "What sets the
#: sequencer's p99")
LATENCY_WARM_UP_S = 5.0


#: the latency run's load sleeps only when it is this far ahead of its rate, so records go out in
#: bursts of at most a millisecond's worth (the producer's linger.ms of 2 batches them anyway):
#: a sleep per record, 4,000 a second, cost the load generator ~0.06 of its ~0.17 cores
PACING_S = 0.001


@dataclass
class LatencyRun:
    p50: float
    p99: float
    #: p99 of the two legs, each over all records (so they need not add up to p99): inbound produce ->
    #: the sequencer wrote the ledger record (its Kafka timestamp), and that write -> read committed
    p99_to_write: float
    p99_write_to_read: float
    #: cores used while the load was sent: the sequencer (with its signature workers), the broker
    #: (a local one only) and the load generator with the reader (this process)
    cores: dict[str, float]
    #: p99 of the records sent in the first LATENCY_WARM_UP_S seconds, timed apart from the rest
    p99_warm_up: float

    def figures(self) -> dict[str, float]:
        return {"sequencer_p50_ms": self.p50, "sequencer_p99_ms": self.p99,
                "latency_p99_ms_to_ledger_write": self.p99_to_write,
                "latency_p99_ms_ledger_write_to_read": self.p99_write_to_read,
                "latency_p99_ms_warm_up": self.p99_warm_up,
                **{f"latency_cores_{name}": v for name, v in self.cores.items()}}


def bench_latency(b: Bench, rate: float, broker_pid: int | None, seconds: float = 20.0) -> LatencyRun:
    with no_gc_pauses():
        return _latency(b, rate, broker_pid, seconds)


def _latency(b: Bench, rate: float, broker_pid: int | None, seconds: float) -> LatencyRun:
    proc = b.start_sequencer("seq-latency")
    # wall clock, ms (the clock Kafka's timestamps use): sent, read committed, and the ledger
    # record's timestamp (the sequencer's write), which splits the two legs
    sent: dict[bytes, float] = {}
    seen: dict[bytes, float] = {}
    written: dict[bytes, float] = {}
    stop = threading.Event()

    def tail() -> None:
        c = Consumer(consumer_config(b.bootstrap, f"{b.namespace}.latency"))
        _, high = watermarks(b.bootstrap, b.topics.ledger, 0)
        c.assign([TopicPartition(b.topics.ledger, 0, high)])
        while not stop.is_set():
            for m in consume_available(c, 500, 0.1):
                if not m.error() and (k := m.key()) is not None:
                    seen[k], written[k] = time.time() * 1000, m.timestamp()[1]
        c.close()

    t = threading.Thread(target=tail, daemon=True)
    t.start()
    time.sleep(1.0)
    warm_n, n = int(rate * LATENCY_WARM_UP_S), int(rate * seconds)
    items = list(b.items(warm_n + n, seed=5))
    # decoded before the clock starts: this process shares the 2 cores with what it measures
    mids = [Envelope.from_bytes(item.value).message_id.bytes for item in items]
    # the connectors' producer settings: what inbound traffic looks like (linger.ms=0 sends each
    # record in a request of its own, a load on the broker no connector puts on it)
    p = Producer(producer_config(b.bootstrap))
    warm = f"{b.namespace}.warm-up"
    ensure_topics(b.bootstrap, b.cfg, [TopicSpec(warm, 1, {})])
    p.produce(warm, b"warm-up")  # the producer id is acquired before the clock starts
    p.flush(30)

    meter = CpuMeter({"sequencer": proc.pid, "broker": broker_pid}, own="loadgen")
    warm_sent: dict[bytes, float] = {}  # the warm-up's send times: its records are timed apart
    start = time.perf_counter()
    for i, (item, mid) in enumerate(zip(items, mids)):
        ahead = i / rate - (time.perf_counter() - start)
        if ahead > PACING_S:
            time.sleep(ahead)
        if i == warm_n:
            meter.start()
        (sent if i >= warm_n else warm_sent)[mid] = time.time() * 1000
        p.produce(b.topics.inbound, item.value, key=item.key)
        p.poll(0)
    p.flush(60)
    cores = meter.cores()
    deadline = time.monotonic() + 60
    while len(seen.keys() & sent.keys()) < len(sent) and time.monotonic() < deadline:
        time.sleep(0.1)
    stop.set()
    t.join()
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    lat = sorted(seen[k] - sent[k] for k in sent if k in seen)
    if len(lat) < len(sent):
        raise SystemExit(f"latency run: only {len(lat)} of {len(sent)} entries arrived")
    to_write = sorted(written[k] - sent[k] for k in sent)
    to_read = sorted(seen[k] - written[k] for k in sent)
    warm_lat = sorted(seen[k] - warm_sent[k] for k in warm_sent if k in seen)
    run = LatencyRun(statistics.median(lat), p99(lat), p99(to_write), p99(to_read), cores, p99(warm_lat))
    log(f"latency legs: p99 {run.p99_to_write:.1f} ms to the ledger write, {run.p99_write_to_read:.1f} ms "
        f"from it to the reader; the warm-up's p99 {run.p99_warm_up:.1f} ms; cores used: "
        + ", ".join(f"{k} {v:.2f}" for k, v in cores.items()))
    return run


def p99(ordered: list[float]) -> float:
    """The 99th percentile of sorted values (the nearest rank below)."""
    return ordered[int(0.99 * (len(ordered) - 1))]


def start_connector(b: Bench, member: str, envelope_version: int = 2) -> tuple[subprocess.Popen[bytes], int]:
    name = f"{member}-v{envelope_version}"
    pf = b.workdir / f"{name}.port"
    logf = open(b.workdir / f"{name}.log", "wb")  # noqa: SIM115 (lives as long as the process)
    proc = subprocess.Popen([sys.executable, "-m", "hub.cli", "connector", "run", "--agency", member, "--listen",
                             "127.0.0.1:0", "--port-file", str(pf), "--plaintext",
                             "--envelope-version", str(envelope_version)], env=b.env(), stdout=logf,
                            stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while not (pf.exists() and pf.read_text().strip()):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"connector {member} did not start")
        time.sleep(0.05)
    return proc, int(pf.read_text())


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds that process ``pid`` has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """:func:`cpu_seconds` of ``pid`` and of its live children (the sequencer's signature workers)."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    total = cpu_seconds(pid)
    for kid in children.read_text().split() if children.exists() else []:
        with contextlib.suppress(OSError):  # a child that has just exited
            total += cpu_seconds(int(kid))
    return total


class CpuMeter:
    """CPU used between :meth:`start` and the reading by the named processes (each with its
    children; None: not measured, e.g. an external broker) and by this process, named ``own``;
    it shows what the work costs on the cores the run shares, whatever its rate."""

    def __init__(self, pids: dict[str, int | None], own: str):
        self.pids = {name: pid for name, pid in pids.items() if pid is not None}
        self.own = own
        self._start: dict[str, float] = {}
        self._started = 0.0

    def _now(self) -> dict[str, float]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        now = {name: tree_cpu_seconds(pid) for name, pid in self.pids.items()}
        now[self.own] = usage.ru_utime + usage.ru_stime
        return now

    def start(self) -> None:
        self._start, self._started = self._now(), time.perf_counter()

    def _used(self) -> dict[str, float]:
        now = self._now()
        return {name: now[name] - self._start[name] for name in now}

    def per_request(self, prefix: str, requests: int) -> dict[str, float]:
        return {f"{prefix}_cpu_us_{name}": used / requests * 1e6 for name, used in self._used().items()}

    def cores(self) -> dict[str, float]:
        elapsed = time.perf_counter() - self._started
        return {name: used / elapsed for name, used in self._used().items()}


def connector_stub(port: int) -> object:
    import grpc

    from hub.v1 import connector_pb2_grpc as pb_grpc

    ch = grpc.insecure_channel(f"127.0.0.1:{port}")
    grpc.channel_ready_future(ch).result(timeout=30)
    return pb_grpc.ConnectorStub(ch)


def order_json(i: int = 1) -> dict[str, object]:
    """Freeze order ``i`` in the connector's JSON form, from the load generator's payload (each ``i``
    its own case number, account and amount)."""
    from hub.dev.loadgen import FREEZE_ORDER, freeze_order
    from hub.standard.jsonform import to_json
    from hub.standard.schemas import default_registry
    from hub.timeutil import now_us

    schema = default_registry().latest(FREEZE_ORDER)
    assert schema is not None
    return dict(to_json(schema.schema, freeze_order(i, now_us())))


#: distinct orders the PublishBatches runs cycle through: one order repeated would let lz4 compress
#: a batch of payloads in clear to almost nothing, as no real traffic does (and ciphertext never does)
DISTINCT_ORDERS = 2_000


BATCH = 100


def bench_grpc_echo(b: Bench, size: int, n: int) -> float:
    """Messages per second through a Python gRPC stream that only echoes them: the transport's
    ceiling for one request per stream message, client and server as the connector's."""
    import grpc

    pf = b.workdir / "echo.port"
    proc = subprocess.Popen([sys.executable, str(Path(__file__).parent / "grpc_echo.py"), str(pf)])
    try:
        deadline = time.monotonic() + 60
        while not (pf.exists() and pf.read_text().strip()):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the gRPC echo server did not start")
            time.sleep(0.05)
        ch = grpc.insecure_channel(f"127.0.0.1:{int(pf.read_text())}")
        grpc.channel_ready_future(ch).result(timeout=30)
        echo: Any = ch.stream_stream("/bench.Echo/Stream")
        msg = b"x" * size
        sum(1 for _ in echo(iter([msg] * 200)))  # warm-up
        start = time.perf_counter()
        got = sum(1 for _ in echo(iter([msg] * n)))
        rate = got / (time.perf_counter() - start)
        ch.close()
        return rate
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def bench_connector(b: Bench, n: int, broker_pid: int | None, seconds: float = 15.0) -> dict[str, float]:
    """publish_stream_per_s, publish_batches_per_s, grpc_echo_stream_per_s, publish_to_delivery_p50/p99_ms,
    and the CPU per request of each process in the two throughput runs."""
    from hub.v1 import connector_pb2 as pb

    court_proc, court_port = start_connector(b, COURT)
    bank_proc, bank_port = start_connector(b, BANK)
    court, bank = connector_stub(court_port), connector_stub(bank_port)
    request = pb.PublishRequest(type="cn.judicial.hub.enforcement.FreezeOrder", recipients=[BANK],
                                payload_json=json.dumps(order_json(), ensure_ascii=False))
    out: dict[str, float] = {}
    out["grpc_echo_stream_per_s"] = bench_grpc_echo(b, request.ByteSize(), n)
    log(f"grpc_echo_stream_per_s {out['grpc_echo_stream_per_s']:.0f}")
    list(court.PublishStream(iter([request] * 200), timeout=120))  # type: ignore[attr-defined]  # warm-up
    meter = CpuMeter({"connector": court_proc.pid, "broker": broker_pid}, own="client")
    meter.start()
    start = time.perf_counter()
    results = list(court.PublishStream(iter([request] * n), timeout=600))  # type: ignore[attr-defined]
    published = sum(1 for r in results if r.WhichOneof("outcome") == "response")
    stream_rate = published / (time.perf_counter() - start)
    stream_cpu = meter.per_request("publish_stream", published)
    out.update(stream_cpu)
    out["publish_stream_cores_at_5000"] = sum(stream_cpu.values()) * 5000 / 1e6
    out["publish_stream_per_s"] = stream_rate
    out["publish_stream_ratio_vs_echo"] = stream_rate / out["grpc_echo_stream_per_s"]
    log(f"publish_stream_per_s {stream_rate:.0f}; CPU per request (us): "
        + ", ".join(f"{k.rsplit('_', 1)[1]} {v:.0f}" for k, v in stream_cpu.items()))
    orders = [pb.PublishRequest(type=request.type, recipients=[BANK],
                                payload_json=json.dumps(order_json(i), ensure_ascii=False)) for i in range(DISTINCT_ORDERS)]
    frames = [pb.PublishBatch(requests=orders[i:i + BATCH]) for i in range(0, DISTINCT_ORDERS, BATCH)]
    out["publish_batches_per_s"], cpu = publish_batches(court, frames, n, meter)
    out.update(cpu)
    log(f"publish_batches_per_s {out['publish_batches_per_s']:.0f} (frames of {BATCH}, envelope v2)")
    # the same with payloads in clear (envelope v1), on a second connector of the court's, right after
    clear_proc, clear_port = start_connector(b, COURT, envelope_version=1)
    try:
        clear, clear_cpu = publish_batches(connector_stub(clear_port), frames, n,
                                           CpuMeter({"connector": clear_proc.pid, "broker": broker_pid}, own="client"))
    finally:
        clear_proc.send_signal(signal.SIGTERM)
        clear_proc.wait(timeout=60)
    out["publish_batches_clear_per_s"] = clear
    out.update({k.replace("publish_batches_", "publish_batches_clear_"): v for k, v in clear_cpu.items()})
    out["publish_encryption_ratio"] = out["publish_batches_per_s"] / clear
    log(f"publish_batches_clear_per_s {clear:.0f} (envelope v1): publish_encryption_ratio "
        f"{out['publish_encryption_ratio']:.3f}; connector CPU per request (us): "
        f"{cpu['publish_batches_cpu_us_connector']:.0f} sealing v2, "
        f"{clear_cpu['publish_batches_cpu_us_connector']:.0f} v1")

    seq = b.start_sequencer("seq-connector")
    sent: dict[str, float] = {}
    seen: dict[str, float] = {}
    stop = threading.Event()
    stream = bank.Subscribe(pb.SubscribeRequest())  # type: ignore[attr-defined]
    ready = threading.Event()

    def subscriber() -> None:
        ready.set()
        try:
            for d in stream:
                if d.WhichOneof("item") == "message":
                    seen[d.message.message_id] = time.perf_counter()
        except Exception as exc:  # noqa: BLE001 (the stream is cancelled at the end)
            if not stop.is_set():
                log(f"subscriber stream ended: {exc}")

    threading.Thread(target=subscriber, daemon=True).start()
    ready.wait()
    # drain the backlog of the throughput run before measuring
    b.wait_consumed(watermarks(b.bootstrap, b.topics.inbound, 0)[1], seq)
    # and let the bank's stream deliver that backlog: measure only new messages
    settled, last = time.monotonic(), -1
    while time.monotonic() - settled < 2.0:
        if len(seen) != last:
            last, settled = len(seen), time.monotonic()
        time.sleep(0.1)
    rate = stream_rate / 2
    total = int(rate * seconds)
    with no_gc_pauses():  # the delivery timestamps are taken in this process
        t0 = time.perf_counter()
        for i in range(total):
            ahead = i / rate - (time.perf_counter() - t0)
            if ahead > 0:
                time.sleep(ahead)
            t = time.perf_counter()
            r = court.Publish(request, timeout=30)  # type: ignore[attr-defined]
            sent[r.message_id] = t
        deadline = time.monotonic() + 60
        while len(sent.keys() & seen.keys()) < len(sent) and time.monotonic() < deadline:
            time.sleep(0.1)
    stop.set()
    stream.cancel()
    for proc in (seq, court_proc, bank_proc):
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    lat = sorted((seen[k] - sent[k]) * 1000 for k in sent if k in seen)
    if len(lat) < len(sent):
        raise SystemExit(f"publish-to-delivery: only {len(lat)} of {len(sent)} delivered")
    out["publish_to_delivery_p50_ms"] = statistics.median(lat)
    out["publish_to_delivery_p99_ms"] = p99(lat)
    log(f"publish_to_delivery_p50_ms {out['publish_to_delivery_p50_ms']:.1f} "
        f"publish_to_delivery_p99_ms {out['publish_to_delivery_p99_ms']:.1f}")
    return out


def publish_batches(stub: Any, frames: list[Any], n: int, meter: CpuMeter) -> tuple[float, dict[str, float]]:
    """PublishBatches of ``n`` requests in ``frames`` (of BATCH requests, cycled), after a warm-up:
    (requests acknowledged per second, CPU per request)."""
    list(stub.PublishBatches(iter(frames[:5]), timeout=120))  # warm-up
    meter.start()
    start = time.perf_counter()
    answers = list(stub.PublishBatches((frames[i % len(frames)] for i in range(n // BATCH)), timeout=600))
    ok = sum(1 for a in answers for r in a.results if r.WhichOneof("outcome") == "response")
    if ok != n // BATCH * BATCH:
        raise SystemExit(f"PublishBatches: {ok} of {n // BATCH * BATCH} requests published")
    return ok / (time.perf_counter() - start), meter.per_request("publish_batches", ok)


def bench_audit(b: Bench, read_payloads: bool = False) -> float:
    """The auditor's core over the throughput run's ledger (records and key capsules read first), with
    every encrypted payload opened with the audit key and checked when ``read_payloads``."""
    from hub.audit.driver import read_capsules
    from hub.audit.loops import ClosedLoops
    from hub.audit.payloads import Observers, PayloadAudit
    from hub.audit.replay import PartitionAudit
    from hub.consortium.files import load_decryption_key, load_memberships
    from hub.dev.consortium import AUDITOR_MEMBER
    from hub.kafka.membership_log import read_updates
    from hub.kafka.reader import read_partition
    from hub.sequencer.gc_tuning import quiet_gc

    records = [(r.offset, r.value) for r in read_partition(b.bootstrap, b.topics.ledger, 0)]
    capsules = read_capsules(b.bootstrap, b.topics.keys, 1)
    memberships = load_memberships(b.consortium, read_updates(b.bootstrap, b.namespace))
    auditor = AUDITOR_MEMBER[0]
    key = load_decryption_key(b.consortium, auditor)
    payloads = PayloadAudit(capsules, lambda _: None, b.registry,
                            (auditor, {key.key_id: key.private_key}) if read_payloads else None)
    pa = PartitionAudit(0, memberships, b.registry, loops=Observers((ClosedLoops(), payloads)))
    quiet_gc()  # as `hub audit` does before it replays
    start = time.perf_counter()
    for offset, raw in records:
        pa.add(offset, raw)
    result = pa.finish()
    elapsed = time.perf_counter() - start
    problems = result.violations + payloads.violations
    if problems:
        raise SystemExit(f"the benchmark ledger does not verify: {problems[0].line()}")
    counts = payloads.counts.get(0)
    if counts is None or counts.encrypted == 0 or (read_payloads and counts.opened != counts.encrypted):
        raise SystemExit(f"the audit did not see the encrypted payloads it should have: {counts}")
    return len(records) / elapsed


def bench_proofs(workdir: Path, size: int = 1_000_000, samples: int = 2_000) -> float:
    """p99 ms of reading an inclusion proof from on-disk tiles of a `size`-entry tree and verifying it."""
    import hashlib
    import random

    from hub.ledger import merkle, tiles
    from hub.verifier.store import TileStore

    leaves = [merkle.leaf_hash(hashlib.sha256(i.to_bytes(8, "big")).digest()) for i in range(size)]
    store = TileStore(workdir / "proof-tiles")
    written: dict[str, bytes] = {}

    def read_tile(level: int, index: int, width: int) -> bytes:
        return written[tiles.tile_path(level, index, width)]

    for path, data in tiles.tiles_for_growth(0, size, leaves, read_tile).items():
        written[path] = data
        store.write(path, data)
    root = merkle.root_from_leaf_hashes(leaves)
    rng = random.Random(9)
    times = []
    for _ in range(samples):
        i = rng.randrange(size)
        t = time.perf_counter()
        proof = tiles.TileReader(size, store.read_tile).inclusion_proof(i)
        merkle.verify_inclusion(leaves[i], i, size, proof, root)
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return p99(times)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise SystemExit("no VmRSS")


#: inbound entries beyond the RSS run's second mark: many prefetches' worth
RSS_BACKLOG_PAST = 50_000


@dataclass(frozen=True)
class RssRun:
    #: the sequencer's RSS, MB, when the ledger passed the first and the second mark
    first: float
    second: float
    #: the least and the most it read between the two marks (a reading every 0.5 s)
    low: float
    high: float


def bench_rss(b: Bench, marks: tuple[int, int]) -> RssRun:
    """One sequencer works through a backlog of marks[1] entries, loaded before it starts; its RSS
    when the ledger passes each mark, and its range between them.

    The whole backlog is loaded first, and RSS_BACKLOG_PAST entries more, so that both marks are
    read in the same state, a full prefetch queue and full batches: with a load produced alongside,
    the first mark was read while the sequencer kept up or while it fell behind, depending on the
    load's pace that run; and with a backlog ending at the second mark, that mark was read as the
    prefetch ran dry and its memory was returned."""
    total = marks[1] + RSS_BACKLOG_PAST
    log(f"RSS run: loading {total:,} inbound records")
    t0 = time.perf_counter()
    produce(b.bootstrap, b.topics.inbound, b.items(total, seed=6))
    log(f"RSS run: loaded in {time.perf_counter() - t0:.0f} s; starting the sequencer")
    proc = b.start_sequencer("seq-rss")
    results: list[float] = []
    between: list[float] = []
    last_log = 0.0
    while len(results) < 2:
        if proc.poll() is not None:
            raise SystemExit("the sequencer exited during the RSS run")
        # ledger offsets count commit markers too: count committed inbound instead (the
        # namespace is new, so its inbound starts at offset 0)
        done = b.committed_inbound()
        rss = rss_mb(proc.pid)
        if results:
            between.append(rss)
        if done >= marks[len(results)]:
            results.append(rss)
            log(f"RSS at {marks[len(results) - 1]:,} entries: {rss:.1f} MB")
        if time.monotonic() - last_log > 30:
            log(f"RSS run: {done:,} of {total:,} sequenced, RSS {rss:.1f} MB")
            last_log = time.monotonic()
        time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=120)
    run = RssRun(results[0], results[1], min(between), max(between))
    log(f"RSS between the marks: {run.low:.1f}-{run.high:.1f} MB")
    return run


def main() -> None:
    n = int(os.environ.get("BENCH_MESSAGES", "50000"))
    rounds = int(os.environ.get("BENCH_ROUNDS", "3"))
    if rounds < 1:
        raise SystemExit(f"BENCH_ROUNDS={rounds}: at least one round")
    rss_total = int(os.environ.get("BENCH_RSS_ENTRIES", "1000000"))
    only = os.environ.get("BENCH_ONLY", "")
    if only not in ("", "throughput", "publish", "audit", "latency", "rss"):
        raise SystemExit(f"BENCH_ONLY={only!r}: the partial runs are BENCH_ONLY=throughput, publish, audit, "
                         "latency and rss")
    workdir = Path(tempfile.mkdtemp(prefix="hub-bench-"))
    broker = provision(default_home(), workdir / "broker", pki_dir=workdir / "pki", port=None)
    cluster = Cluster.of(broker)
    try:
        log(f"Kafka ({broker.kind}) at {broker.bootstrap}: {broker.detail}; work dir {workdir}")
        with cluster.spoken_to():
            run(cluster, workdir, only, n, rounds, rss_total)
    finally:
        broker.stop()


def run(cluster: Cluster, workdir: Path, only: str, n: int, rounds: int, rss_total: int) -> None:
    """The runs BENCH_ONLY asks for (all of them when empty), this process speaking to ``cluster``."""
    broker_pid = cluster.pid
    results: dict[str, float] = {}
    if only == "throughput":  # the throughput rounds alone, on both brokers
        with plaintext_broker(workdir) as plaintext:
            results, _ = bench_throughput(cluster, plaintext, workdir, n, rounds)
        write_results(results, n, None, "throughput.json")
        return
    if only == "publish":  # the connector's figures alone, written beside (not over) latest.json
        results = bench_connector(Bench(cluster, workdir / "conn"), n, broker_pid)
        write_results(results, n, None, "publish.json")
        return
    if only == "audit":  # the auditor's ratio five times over one ledger, each against its own verify run
        b = Bench(cluster, workdir / "audit")
        bench_sequencer(b, n)
        ratios = []
        reading = []
        for _ in range(5):
            verify = bench_verify(b)
            plain_audit = bench_audit(b)
            ratios.append(plain_audit / verify)
            reading.append(bench_audit(b, read_payloads=True) / plain_audit)
            log(f"audit_ratio_vs_verify {ratios[-1]:.2f} (verify_core_per_s {verify:.0f}); audit_reading_ratio "
                f"{reading[-1]:.3f}")
        results = {f"audit_ratio_vs_verify_run{i + 1}": r for i, r in enumerate(ratios)}
        results["audit_ratio_vs_verify_median"] = statistics.median(ratios)
        results["audit_reading_ratio_median"] = statistics.median(reading)
        write_results(results, n, None, "audit.json")
        return
    if only == "latency":  # the sequencer's latency run five times on one broker, at BENCH_RATE msgs/s
        rate = float(os.environ.get("BENCH_RATE", "3000"))
        # a fresh broker's first is slowest
        bench_latency(Bench(cluster, workdir / "lat-warm"), rate, broker_pid)
        runs = []
        for i in range(5):
            runs.append(bench_latency(Bench(cluster, workdir / f"lat{i}"), rate, broker_pid))
            log(f"at {rate:.0f} msgs/s: sequencer_p50_ms {runs[-1].p50:.1f} sequencer_p99_ms {runs[-1].p99:.1f}")
        results = {f"{k}_run{i + 1}": v for i, r in enumerate(runs) for k, v in r.figures().items()}
        results["sequencer_p50_ms_median"] = statistics.median(r.p50 for r in runs)
        results["sequencer_p99_ms_median"] = statistics.median(r.p99 for r in runs)
        results["rate"] = rate
        write_results(results, n, None, "latency.json")
        return
    if only == "rss":  # the RSS run three times on one broker, each with a sequencer of its own
        for i in range(3):
            rss = bench_rss(Bench(cluster, workdir / f"rss{i}"), (100_000, rss_total))
            results.update({f"sequencer_rss_100k_mb_run{i + 1}": rss.first, f"sequencer_rss_1m_mb_run{i + 1}": rss.second,
                            f"sequencer_rss_low_mb_run{i + 1}": rss.low, f"sequencer_rss_high_mb_run{i + 1}": rss.high})
        write_results(results, n, rss_total, "rss.json")
        return
    with plaintext_broker(workdir) as plaintext:
        throughput, b = bench_throughput(cluster, plaintext, workdir, n, rounds)
    results.update(throughput)
    results["audit_per_s"] = bench_audit(b)
    results["audit_ratio_vs_verify"] = results["audit_per_s"] / results["verify_core_per_s"]
    results["audit_reading_per_s"] = bench_audit(b, read_payloads=True)
    results["audit_reading_ratio"] = results["audit_reading_per_s"] / results["audit_per_s"]
    log(f"audit_per_s {results['audit_per_s']:.0f}; reading every payload with the audit key "
        f"{results['audit_reading_per_s']:.0f} (audit_reading_ratio {results['audit_reading_ratio']:.3f})")
    results["proof_p99_ms"] = bench_proofs(workdir)
    log(f"proof_p99_ms {results['proof_p99_ms']:.2f}")
    results.update(bench_connector(Bench(cluster, workdir / "conn"), n, broker_pid))
    rss = bench_rss(Bench(cluster, workdir / "rss"), (100_000, rss_total))
    results["sequencer_rss_100k_mb"], results["sequencer_rss_1m_mb"] = rss.first, rss.second
    results["sequencer_rss_low_mb"], results["sequencer_rss_high_mb"] = rss.low, rss.high
    # last: a broker's latency settles only after minutes of load (BENCH_ONLY=latency shows it run by
    # run), and the RSS run gives it those; a minute after the broker started, p99 was 2-3 times higher
    lat = bench_latency(Bench(cluster, workdir / "lat"), results["sequencer_per_s"] / 2, broker_pid)
    results.update(lat.figures())
    log(f"sequencer_p50_ms {lat.p50:.1f} sequencer_p99_ms {lat.p99:.1f}")
    write_results(results, n, rss_total, "latest.json")


def write_results(results: dict[str, float], n: int, rss_total: int | None, name: str) -> None:
    results = {k: round(v, 3) for k, v in results.items()}
    doc: dict[str, object] = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "messages": n}
    if rss_total is not None:
        doc["rss_entries"] = rss_total
    doc["cpus"] = os.cpu_count()
    write_figures(OUT / name, doc, results)

if __name__ == "__main__":
    main()
